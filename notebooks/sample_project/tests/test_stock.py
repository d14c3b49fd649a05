import pytest
from inventory import Stock


def quantity(stock, sku):
    row = stock.db.execute("SELECT quantity FROM stock WHERE sku = ?", (sku,)).fetchone()
    return None if row is None else row[0]


def test_cannot_remove_more_than_in_stock(tmp_path):
    stock = Stock(tmp_path / "s.sqlite")
    stock.add("apple", 2)
    with pytest.raises(ValueError):
        stock.remove("apple", 3)


def test_adding_twice_adds_up(tmp_path):
    stock = Stock(tmp_path / "s.sqlite")
    stock.add("apple", 2)
    stock.add("apple", 3)
    assert quantity(stock, "apple") == 5


def test_removing_lowers_the_quantity(tmp_path):
    stock = Stock(tmp_path / "s.sqlite")
    stock.add("pear", 4)
    stock.remove("pear", 1)
    assert quantity(stock, "pear") == 3


@pytest.mark.parametrize("amount", [0, -1])
def test_only_positive_quantities_are_added(tmp_path, amount):
    stock = Stock(tmp_path / "s.sqlite")
    with pytest.raises(ValueError, match="positive"):
        stock.add("apple", amount)
    assert quantity(stock, "apple") is None


def test_an_unknown_item_has_none_to_remove(tmp_path):
    stock = Stock(tmp_path / "s.sqlite")
    with pytest.raises(ValueError, match="only 0 of plum"):
        stock.remove("plum", 1)


def test_stock_is_kept_in_the_file(tmp_path):
    Stock(tmp_path / "s.sqlite").add("apple", 7)
    assert quantity(Stock(tmp_path / "s.sqlite"), "apple") == 7
