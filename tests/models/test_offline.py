import re
import shutil
import sysconfig
from pathlib import Path

import pytest

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


SAMPLE = Path(__file__).resolve().parents[2] / "notebooks" / "sample_project"
STDLIB = Path(sysconfig.get_paths()["stdlib"])


def line_of(path: Path, needle: str) -> int:
    """The 1-based number of the one line of `path` that contains `needle` (computed, not assumed)."""
    hits = [n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    assert len(hits) == 1, f"{needle!r} is on lines {hits} of {path}"
    return hits[0]


def lines_with(path: Path, needle: str) -> set[int]:
    """The 1-based numbers of the lines of `path` that contain `needle`."""
    return {n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text}


async def ask(root: Path, question: str) -> tuple[list[str], str]:
    """The answer sentences and the whole text of the offline model's reply."""
    agent = Agent(
        name="r", model="offline", tools=READ_ONLY_TOOLS, context=ToolContext(scope=Scope(root), project=root)
    )
    text = (await agent.run(question)).text
    assert text.startswith("[offline model")  # it always says what it is
    return [line.removeprefix("Answer: ") for line in text.splitlines() if line.startswith("Answer: ")], text


async def test_which_environment_variable_names_the_variable_and_cites_its_lookup():
    (answer,), text = await ask(SAMPLE, "Which environment variable sets the store path?")
    config = SAMPLE / "inventory" / "config.py"
    assert "INVENTORY_STORE" in answer
    assert f"inventory/config.py:{line_of(config, 'os.environ.get(')}" in answer
    assert "class Stock" not in text and "stock.py" not in answer


async def test_when_do_sessions_expire_gives_the_duration_and_where_it_is_applied():
    (answer,), _ = await ask(SAMPLE, "When do user sessions expire?")
    assert f"settings.toml:{line_of(SAMPLE / 'settings.toml', 'lifetime_minutes = 30')}" in answer
    assert "30 minutes" in answer
    sessions = SAMPLE / "inventory" / "sessions.py"
    assert f"inventory/sessions.py:{line_of(sessions, 'lifetime_minutes * 60')}" in answer


async def test_a_question_with_two_asks_gets_two_sentences_in_its_order():
    (stored, expiry), _ = await ask(SAMPLE, "Where are user sessions saved, and when do they expire?")
    sessions = SAMPLE / "inventory" / "sessions.py"
    assert f"inventory/sessions.py:{line_of(sessions, 'self._sessions[token] =')}" in stored
    assert "in memory" in stored
    assert "settings.toml:" in expiry and "30 minutes" in expiry


async def test_a_how_question_cites_the_definition_and_its_docstring():
    (answer,), _ = await ask(SAMPLE, "How does the inventory service load its settings?")
    config = SAMPLE / "inventory" / "config.py"
    assert (
        answer.startswith("Best match: `def load_settings(")
        and f"config.py:{line_of(config, 'def load_settings')}" in answer
    )
    assert "Read the TOML file" in answer


async def test_nothing_found_is_said_plainly(tmp_path):
    (answer,), _ = await ask(SAMPLE, "Who calls load_settings?")  # imported, never called
    assert answer == "No call of load_settings(...) was found."
    (tmp_path / "limits.py").write_text('"""Limits: the environment cannot change them."""\nMAX_ITEMS = 10\n')
    (answer,), _ = await ask(tmp_path, "Which environment variable changes the limits?")
    assert answer.startswith("No environment variable is read") and "limits.py:" not in answer


@pytest.fixture(scope="module")
def stdlib_copy(tmp_path_factory):
    """Code nobody here wrote: parts of the standard library, copied so the answers cannot be tuned."""
    root = tmp_path_factory.mktemp("stdlib")
    for package in ("json", "logging"):
        shutil.copytree(STDLIB / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "tmp").mkdir()
    shutil.copy(STDLIB / "tempfile.py", root / "tmp")
    (root / "cookies").mkdir()
    shutil.copy(STDLIB / "http" / "cookies.py", root / "cookies")
    return root


@pytest.mark.parametrize(
    ("scope", "question", "file", "needle", "said"),
    [
        (
            "json",
            "Where is JSONDecodeError defined?",
            "decoder.py",
            "class JSONDecodeError(",
            "JSONDecodeError is defined",
        ),
        ("cookies", "Where is the Morsel class defined?", "cookies.py", "class Morsel(", "Morsel is defined"),
        ("cookies", "Who calls _getdate?", "cookies.py", "_getdate(value)", "_getdate is called at"),
        ("logging", "What is the default timeout of SMTPHandler?", "handlers.py", "timeout=5.0", "Time limits"),
        (
            "logging",
            "How long does SocketHandler wait before it retries?",
            "handlers.py",
            "retryStart = 1.0",
            "retryMax = 30.0",
        ),
        ("logging", "Where are handlers stored?", "__init__.py", "_handlers[name] = self", "Stored in memory"),
        (
            "logging",
            "Which port does the logging config listener use by default?",
            "config.py",
            "DEFAULT_LOGGING_CONFIG_PORT = ",
            "Set in the code",
        ),
        (
            "json",
            "How does the decoder report errors?",
            "decoder.py",
            "raise JSONDecodeError(",
            "It raises JSONDecodeError",
        ),
        ("tmp", "Which environment variable sets the temporary directory?", "tempfile.py", "getenv(envname)", "TMPDIR"),
    ],
)
async def test_answers_on_the_standard_library_cite_the_right_line(stdlib_copy, scope, question, file, needle, said):
    (answer,), _ = await ask(stdlib_copy / scope, question)
    assert said in answer
    first = re.search(r"(?<![\w/.-])([\w/.-]+\.\w+):(\d+)", answer)
    assert first is not None, answer
    assert first.group(1) == file
    assert int(first.group(2)) in lines_with(stdlib_copy / scope / file, needle)


async def test_defined_and_used_are_two_answers_in_the_questions_order():
    (defined, used), _ = await ask(SAMPLE, "Where is SessionStore defined, and where is it used?")
    sessions, init = SAMPLE / "inventory" / "sessions.py", SAMPLE / "inventory" / "__init__.py"
    assert defined.startswith(
        f"SessionStore is defined at inventory/sessions.py:{line_of(sessions, 'class SessionStore')}"
    )
    assert f"inventory/__init__.py:{line_of(init, 'import SessionStore')}" in used and "sessions.py:" not in used


async def test_a_list_of_callers_says_how_many_it_left_out(stdlib_copy):
    (answer,), _ = await ask(stdlib_copy / "logging", "Who calls _acquireLock?")
    calls = [
        (path.name, n)
        for path in sorted((stdlib_copy / "logging").glob("*.py"))
        for n, text in enumerate(path.read_text().splitlines(), 1)
        if "_acquireLock(" in text and not text.lstrip().startswith(("def ", "#"))
    ]
    cited = [(p, int(n)) for p, n in re.findall(r"([\w.]+\.py):(\d+)", answer)]
    assert cited and set(cited) <= set(calls)
    assert f"({len(cited)} of the {len(calls)} found)" in answer
