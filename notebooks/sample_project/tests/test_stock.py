import pytest
from inventory import Stock


def test_cannot_remove_more_than_in_stock(tmp_path):
    stock = Stock(tmp_path / "s.sqlite")
    stock.add("apple", 2)
    with pytest.raises(ValueError):
        stock.remove("apple", 3)
