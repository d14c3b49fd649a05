import pytest

from loom_nb.models import OfflineModel, UnknownModel, get_model, parse_model_string


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
