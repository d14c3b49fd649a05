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
