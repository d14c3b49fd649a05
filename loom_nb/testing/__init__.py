"""Test helpers shipped for users' tests too: a fake LLM server speaking the Anthropic and
OpenAI wire protocols, and the scripted model."""

from ..models._messages import tool_call
from ..models._scripted import ScriptedModel, ScriptExhausted
from ._server import FakeLLMServer, Fault, RecordedRequest, Reply

__all__ = ["FakeLLMServer", "Fault", "RecordedRequest", "Reply", "ScriptExhausted", "ScriptedModel", "tool_call"]
