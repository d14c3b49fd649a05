import pytest

from loom_nb.config import ConfigError, load_config


def test_defaults_without_a_file_depend_on_the_key(tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    cfg = load_config(tmp_path)
    assert (cfg.default_model, cfg.weak_model, cfg.source) == ("offline", "offline", None)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    cfg = load_config(tmp_path)
    assert cfg.weak_model == "anthropic:claude-haiku-4-5" and cfg.default_model.startswith("anthropic:")


def test_loom_toml_sets_the_models(tmp_path):
    (tmp_path / ".loom.toml").write_text('[model]\ndefault = "openai:gpt-4o"\nweak = "ollama:llama3"\n')
    cfg = load_config(tmp_path)
    assert (cfg.default_model, cfg.weak_model) == ("openai:gpt-4o", "ollama:llama3")
    assert cfg.source == tmp_path / ".loom.toml"


def test_bad_files_get_clear_errors(tmp_path):
    (tmp_path / ".loom.toml").write_text("[model\n")
    with pytest.raises(ConfigError, match=r"\.loom\.toml: not valid TOML .* fix or remove the file"):
        load_config(tmp_path)
    (tmp_path / ".loom.toml").write_text("[model]\nweak = 3\n")
    with pytest.raises(ConfigError, match="weak must be a model string"):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match="not a directory"):
        load_config(tmp_path / "nope")


def test_prices_in_loom_toml(tmp_path):
    (tmp_path / ".loom.toml").write_text(
        '[prices."anthropic:claude-opus-4-1"]\ninput_per_mtok = 15.0\noutput_per_mtok = 75\ncache_read_per_mtok = 1.5\n'
    )
    entry = load_config(tmp_path).prices["anthropic:claude-opus-4-1"]
    assert (entry.input_per_mtok, entry.output_per_mtok, entry.cache_read_per_mtok) == (15.0, 75.0, 1.5)
    assert entry.cache_write_per_mtok is None
    from loom_nb.models import Price, configured_price, parse_model_string

    price = configured_price(parse_model_string("anthropic/claude-opus-4-1"), load_config(tmp_path).prices)
    assert price == Price(input=15e-6, output=75e-6, cache_read=1.5e-6, cache_write=None)


@pytest.mark.parametrize(
    "toml, error",
    [
        ("prices = 3\n", r"\[prices\] must hold one table per model"),
        ('[prices."openai:gpt-4o"]\ninput_per_mtok = 2.5\n', "needs output_per_mtok"),
        ('[prices."openai:gpt-4o"]\ninput_per_mtok = 2.5\noutput_per_mtok = "ten"\n', "must be a number of USD"),
        ('[prices."openai:gpt-4o"]\ninput_per_mtok = 2.5\noutput_per_mtok = -1\n', "must be a number of USD"),
        ('[prices."openai:gpt-4o"]\ninput = 2.5\noutput_per_mtok = 1\n', "unknown key 'input'; the keys are"),
    ],
)
def test_bad_price_entries_name_the_file_and_the_fix(tmp_path, toml, error):
    (tmp_path / ".loom.toml").write_text(toml)
    with pytest.raises(ConfigError, match=error) as info:
        load_config(tmp_path)
    assert str(tmp_path / ".loom.toml") in str(info.value) and "\n" not in str(info.value)
