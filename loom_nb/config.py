"""Configuration from the project's `.loom.toml` (Loom's file), then the environment."""

from __future__ import annotations

import os
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_ANTHROPIC",
    "OFFLINE",
    "PYTEST_COMMAND",
    "WEAK_ANTHROPIC",
    "Config",
    "ConfigError",
    "PriceEntry",
    "TestConfig",
    "command_for_tests",
    "detect_test_command",
    "is_pytest",
    "load_config",
    "parse_test_table",
    "read_toml",
]

CONFIG_FILE = ".loom.toml"
DEFAULT_ANTHROPIC = "anthropic:claude-sonnet-4-5"
WEAK_ANTHROPIC = "anthropic:claude-haiku-4-5"
OFFLINE = "offline"


class ConfigError(ValueError):
    """The project's .loom.toml cannot be used; the message names the file and the fix."""


@dataclass(frozen=True, kw_only=True)
class PriceEntry:
    """A model's price from `[prices."provider:model"]` in .loom.toml, in USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float
    cache_read_per_mtok: float | None = None
    """Default: the input price."""
    cache_write_per_mtok: float | None = None
    """Default: the input price."""


_PRICE_KEYS = ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok")
_PRICE_EXAMPLE = '[prices."anthropic:claude-opus-4-1"] with input_per_mtok = 15.0 and output_per_mtok = 75.0'


PYTEST_COMMAND = "python -m pytest -q"
"""The detected test command, as the policy decides it (run with the interpreter that runs loom)."""
_MAX_TEST_TIMEOUT_S = 600
_TEST_KEYS = ("command", "timeout", "fix_rounds")
_TEST_EXAMPLE = '[test] command = "python -m pytest -q", timeout = 300, fix_rounds = 2'


@dataclass(frozen=True, kw_only=True)
class TestConfig:
    """The project's tests, from `.loom.toml [test]`."""

    __test__ = False  # not a pytest test class
    command: str | None = None
    """The command line as the user wrote it; None: detected (pytest, when the project has tests)."""
    timeout: int = 300
    """Seconds before a test run's whole process group is killed (at most 600)."""
    fix_rounds: int = 2
    """How many times the tester sends failures back to the implementer before the run gives up."""


@dataclass(frozen=True, kw_only=True)
class Config:
    """Settings for a project."""

    project: Path
    """The project root (resolved)."""
    default_model: str
    """Model for the lead and the specialists."""
    weak_model: str
    """Model for sub-agents (cheap and fast)."""
    strong_model: str | None = None
    """Model for the strong tier (architects); None: the default model."""
    source: Path | None = None
    """The .loom.toml these came from, if any."""
    prices: Mapping[str, PriceEntry] = field(default_factory=dict)
    """Prices the project sets (over litellm's map), keyed by model string as written."""
    test: TestConfig = field(default_factory=TestConfig)
    """The project's test command and how long and how often it may run."""


def read_toml(path: Path, error: type[ValueError] = ConfigError) -> dict[str, Any]:
    """The tables of a .loom.toml ({} without the file); `error` with the fix when it is not TOML."""
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid TOML ({exc}); fix or remove the file") from None


def load_config(project: str | os.PathLike[str] = ".") -> Config:
    """Read `<project>/.loom.toml` ([model] default = ..., weak = ...).

    Without a file (or a key): Anthropic models when ANTHROPIC_API_KEY is set, else the offline
    model, so everything runs on a machine with no key and no network.
    """
    root = Path(project).expanduser().resolve()
    if not root.is_dir():
        raise ConfigError(f"project {os.fspath(project)!r} is not a directory")
    has_key = bool(os.environ.get("ANTHROPIC_API_KEY"))
    default = DEFAULT_ANTHROPIC if has_key else OFFLINE
    weak = WEAK_ANTHROPIC if has_key else OFFLINE
    path = root / CONFIG_FILE
    if not path.is_file():
        return Config(project=root, default_model=default, weak_model=weak)
    data = read_toml(path)
    model = data.get("model", {})
    if not isinstance(model, dict):
        raise ConfigError(f'{path}: [model] must be a table, like\n[model]\ndefault = "{DEFAULT_ANTHROPIC}"')
    for key in ("default", "weak", "strong"):
        if key in model and (not isinstance(model[key], str) or not model[key].strip()):
            raise ConfigError(f'{path}: [model] {key} must be a model string such as "{WEAK_ANTHROPIC}"')
    return Config(
        project=root,
        default_model=model.get("default", default),
        weak_model=model.get("weak", model.get("default", weak)),
        strong_model=model.get("strong"),
        source=path,
        prices=_prices(path, data.get("prices", {})),
        test=parse_test_table(path, data.get("test", {})),
    )


def _prices(path: Path, table: Any) -> dict[str, PriceEntry]:
    """`[prices."provider:model"]` tables: input_per_mtok and output_per_mtok, cache prices optional."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [prices] must hold one table per model, like {_PRICE_EXAMPLE}")
    prices = {}
    for name, entry in table.items():
        where = f'{path}: [prices."{name}"]'
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a table, like {_PRICE_EXAMPLE}")
        unknown = sorted(set(entry) - set(_PRICE_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r}; the keys are {', '.join(_PRICE_KEYS)}")
        for key in _PRICE_KEYS[:2]:
            if key not in entry:
                raise ConfigError(f"{where} needs {key} (USD per million tokens), like {_PRICE_EXAMPLE}")
        for key, value in entry.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < float("inf"):
                raise ConfigError(f"{where}: {key} must be a number of USD per million tokens >= 0; got {value!r}")
        prices[name] = PriceEntry(**{k: float(v) for k, v in entry.items()})
    return prices


def parse_test_table(path: Path, table: Any) -> TestConfig:
    """`[test]`: command (a string), timeout (seconds, 1..600), fix_rounds (0..20); one-line errors."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [test] must be a table, like {_TEST_EXAMPLE}")
    unknown = sorted(set(table) - set(_TEST_KEYS))
    if unknown:
        raise ConfigError(f"{path}: [test] has unknown key {unknown[0]!r}; it takes {', '.join(_TEST_KEYS)}")
    command = table.get("command")
    if command is not None:
        if not isinstance(command, str) or not command.strip() or "\n" in command or "\x00" in command:
            raise ConfigError(f'{path}: [test] command must be one command line, like command = "make test"')
        try:
            shlex.split(command)
        except ValueError as exc:
            raise ConfigError(f"{path}: [test] command {command!r} does not split into words ({exc})") from None
    limits = {"timeout": (1, _MAX_TEST_TIMEOUT_S, "seconds"), "fix_rounds": (0, 20, "rounds")}
    for key, (low, high, unit) in limits.items():
        value = table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            raise ConfigError(
                f"{path}: [test] {key} must be a whole number of {unit} from {low} to {high}; got {value!r}"
            )
    return TestConfig(
        command=command.strip() if command else None,
        timeout=table.get("timeout", TestConfig.timeout),
        fix_rounds=table.get("fix_rounds", TestConfig.fix_rounds),
    )


_PYTEST_PROGRAMS = frozenset({"pytest", "py.test"})
_SHELL_SYNTAX = frozenset(";&|<>`$(){}\n")


def is_pytest(command: str) -> bool:
    """Whether a command line is one pytest run that takes more arguments at its end (`pytest -x`,
    `python -m pytest`, `uv run pytest`), not a pipeline or a list of commands."""
    if any(c in _SHELL_SYNTAX for c in command):
        return False
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    return any(
        w.rsplit("/", 1)[-1] in _PYTEST_PROGRAMS
        and (i == 0 or words[i - 1] == "-m" or not words[i - 1].startswith("-"))
        for i, w in enumerate(words)
    )


def command_for_tests(named: str | None, paths: list[str] | tuple[str, ...] = ()) -> str:
    """The test command as it is decided and shown: the named one (else pytest) with the paths given,
    when it is a pytest that takes them."""
    command = named or PYTEST_COMMAND
    if paths and is_pytest(command):
        return f"{command} {shlex.join(paths)}"
    return command


_PYTEST_SECTIONS = {"pyproject.toml": "[tool.pytest", "setup.cfg": "[tool:pytest]", "tox.ini": "[pytest]"}


def detect_test_command(root: str | os.PathLike[str]) -> str | None:
    """`python -m pytest -q` when the project has pytest configuration (pytest.ini, pyproject.toml's
    [tool.pytest...], setup.cfg's [tool:pytest], tox.ini's [pytest], conftest.py), a tests/ or test/
    folder, or test_*.py / *_test.py files at the top or one folder down; else None."""
    base = Path(root)
    if (base / "pytest.ini").is_file() or (base / "conftest.py").is_file():
        return PYTEST_COMMAND
    for name, header in _PYTEST_SECTIONS.items():
        try:
            if header in (base / name).read_text(encoding="utf-8", errors="replace"):
                return PYTEST_COMMAND
        except OSError:
            continue
    if (base / "tests").is_dir() or (base / "test").is_dir():
        return PYTEST_COMMAND
    for pattern in ("test_*.py", "*_test.py", "*/test_*.py", "*/*_test.py"):
        if any(p.is_file() for p in base.glob(pattern)):
            return PYTEST_COMMAND
    return None
