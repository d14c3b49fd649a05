import sysconfig
from pathlib import Path

from loom_nb.agents import Agent
from loom_nb.models import Message, ModelSettings, OfflineModel
from loom_nb.models._offline import choose_terms
from loom_nb.tools import READ_ONLY_TOOLS, Scope, ToolContext


def test_terms_prefer_quotes_and_identifiers_over_plain_words():
    terms = [t.text for t in choose_terms('Where is "retry_after" parsed and how does HTTPClient.send handle it?')]
    assert terms[0] == "retry_after"
    assert "HTTPClient.send" in terms and "send" in terms
    assert "where" not in [t.lower() for t in terms] and "handle" not in terms


def test_plain_words_are_stemmed():
    (term,) = [t for t in choose_terms("caching") if t.text == "caching"]
    assert term.pattern == r"\bcach"


async def test_deterministic_runs_on_a_real_tree():
    root = Path(sysconfig.get_paths()["stdlib"]) / "json"
    ctx = ToolContext(scope=Scope(root), project=root)

    async def run():
        agent = Agent(name="r", model="offline", tools=READ_ONLY_TOOLS, context=ctx)
        return await agent.run("How does the decoder report errors with JSONDecodeError?")

    a, b = await run(), await run()
    assert a.text == b.text and a.iterations == b.iterations
    assert "decoder.py:" in a.text and a.cost_usd == 0.0


async def test_without_tools_it_says_so():
    r = await OfflineModel().request([Message.user("anything")], tools=(), settings=ModelSettings())
    assert "offline model" in r.text and "No tools were offered" in r.text


async def test_forced_last_turn_answers_with_what_it_has():
    tools = [t.definition() for t in READ_ONLY_TOOLS]
    r = await OfflineModel().request(
        [Message.user("find parse_config")], tools=tools, settings=ModelSettings(tool_choice="none")
    )
    assert not r.tool_calls and "Stopped before finishing" in r.text
