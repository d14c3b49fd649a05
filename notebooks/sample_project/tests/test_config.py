from pathlib import Path

from inventory import config

SETTINGS = '[store]\npath = "data/stock.sqlite"\n\n[sessions]\nlifetime_minutes = 45\n'


def write_settings(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text(SETTINGS)
    return path


def test_settings_come_from_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("INVENTORY_STORE", raising=False)
    settings = config.load_settings(write_settings(tmp_path))
    assert settings.store_path == Path("data/stock.sqlite")
    assert settings.session_lifetime_minutes == 45


def test_the_environment_overrides_the_store_path(tmp_path, monkeypatch):
    monkeypatch.setenv("INVENTORY_STORE", str(tmp_path / "elsewhere.sqlite"))
    settings = config.load_settings(write_settings(tmp_path))
    assert settings.store_path == tmp_path / "elsewhere.sqlite"
    assert settings.session_lifetime_minutes == 45


def test_the_sample_settings_file_loads(monkeypatch):
    monkeypatch.delenv("INVENTORY_STORE", raising=False)
    settings = config.load_settings(Path(__file__).parents[1] / "settings.toml")
    assert settings.session_lifetime_minutes == 30
