import pytest

from loom_nb.models import OfflineModel, UnknownModel, get_model, parse_model_string
from tests.shell import loom_shell


@pytest.mark.parametrize(
    "text, provider, model",
    [
        ("anthropic:claude-haiku-4-5", "anthropic", "claude-haiku-4-5"),
        ("anthropic/claude-haiku-4-5", "anthropic", "claude-haiku-4-5"),
        ("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
        ("openai:gpt-4o", "openai", "gpt-4o"),
        ("openai/gpt-4o", "openai", "gpt-4o"),
        ("ollama/llama3:8b", "ollama", "llama3:8b"),
        ("ollama:llama3:8b", "ollama", "llama3:8b"),
        ("hosted_vllm/meta/llama-3", "hosted_vllm", "meta/llama-3"),
        ("offline", "offline", ""),
        ("Offline", None, None),
    ],
)
def test_both_forms_are_accepted(text, provider, model):
    if provider is None:
        with pytest.raises(UnknownModel, match="names no provider"):
            parse_model_string(text)
        return
    spec = parse_model_string(text)
    assert (spec.provider, spec.model) == (provider, model)


def test_errors_say_what_to_write():
    with pytest.raises(UnknownModel, match="empty model string"):
        parse_model_string("  ")
    with pytest.raises(UnknownModel, match="names no model"):
        parse_model_string("openai:")


def test_get_model_routes_by_provider():
    assert isinstance(get_model("offline"), OfflineModel)
    m = get_model("anthropic/claude-haiku-4-5", api_key="k", base_url="http://127.0.0.1:1")
    assert type(m).__name__ == "AnthropicModel" and m.name == "anthropic:claude-haiku-4-5"
    m = get_model("openai/gpt-4o", api_key="k", base_url="http://127.0.0.1:1/v1")
    assert type(m).__name__ == "LitellmModel" and m.name == "openai:gpt-4o"


def test_an_unknown_provider_or_a_malformed_string_is_refused_with_the_fix():
    with pytest.raises(UnknownModel, match=r"'foo:bar' names an unknown provider 'foo': use a provider litellm knows"):
        parse_model_string("foo:bar")
    with pytest.raises(UnknownModel, match=r"did you mean 'anthropic'"):
        parse_model_string("antropic:claude-haiku-4-5")
    with pytest.raises(UnknownModel, match="contains spaces or control characters"):
        parse_model_string("anthropic:claude haiku")
    with pytest.raises(UnknownModel, match="names an unknown provider 'scripted'"):
        get_model("scripted:test")  # ScriptedModel is built in code, not from a string


def test_the_cheap_provider_list_is_litellms_own():
    from loom_nb.models._litellm import import_litellm
    from loom_nb.models._providers import known_providers

    providers = {getattr(p, "value", p) for p in import_litellm().provider_list}
    assert known_providers() == providers | {"offline", "anthropic"}


def test_a_missing_key_names_the_variable_and_options_that_exist(monkeypatch):
    from loom_nb.models import MissingAPIKey

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingAPIKey) as info:
        get_model("anthropic:claude-haiku-4-5")
    message = str(info.value)
    assert "set ANTHROPIC_API_KEY" in message and "--model offline" in message and "model='offline'" in message
    assert "api_key=" not in message and "\n" not in message  # Swarm, %%loom and the CLI take no api_key
    with pytest.raises(MissingAPIKey, match="set OPENAI_API_KEY"):
        get_model("openai:gpt-4o")


def test_the_cli_refuses_a_bad_model_in_one_line(tmp_path, capsys):
    from loom_nb._cli import main

    assert main(["subagent", "where is x", "--project", str(tmp_path), "--model", "foo:bar"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("loom-nb: error: model string 'foo:bar' names an unknown provider")


@pytest.mark.parametrize("line", ["--model foo:bar", "--weak nope/x", "--model 'anthropic:claude haiku'"])
def test_the_magic_refuses_a_bad_model_before_anything_starts(tmp_path, monkeypatch, line):
    from IPython.core.error import UsageError

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with loom_shell(project=tmp_path) as (sh, runner):
        with pytest.raises(UsageError) as info:
            sh.run_cell_magic("loom", line, "where is x?")
        assert str(info.value).startswith("%loom: model string") and "\n" not in str(info.value)
        assert not runner.handles and not (tmp_path / ".loom").exists()  # nothing ran, nothing recorded
