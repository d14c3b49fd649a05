import shutil
import sysconfig
from pathlib import Path

import pytest

from loom_nb.tools import Scope, ToolError, content_search, search


async def test_content_mode_lists_path_line_text(ctx):
    out = await content_search({"pattern": r"parse_config"}, ctx)
    assert out.splitlines() == [  # not build/ or generated.py (ignored), .hidden/, blob.bin, or symlinks
        "docs/guide.md:2:Call parse_config() first.",
        "keep.log:1:parse_config kept",
        "src/pkg/core.py:1:def parse_config(path):",
    ]


async def test_modes_glob_path_and_case(ctx):
    assert (
        await content_search({"pattern": "PARSE", "ignore_case": True, "output_mode": "count", "glob": "*.py"}, ctx)
        == "src/pkg/core.py:1\nsrc/pkg/util.py:1"
    )
    assert (
        await content_search({"pattern": "parse", "path": "src", "output_mode": "files_with_matches"}, ctx)
        == "src/pkg/core.py\nsrc/pkg/util.py"
    )
    assert (await content_search({"pattern": "PARSE"}, ctx)).startswith("No matches for /PARSE/")


async def test_bad_regex_is_a_clear_error(ctx):
    with pytest.raises(ToolError, match="invalid regex"):
        await content_search({"pattern": "(unclosed"}, ctx)


async def test_output_is_truncated_with_a_marker(ctx):
    out = await content_search({"pattern": "line", "max_results": 10}, ctx)
    assert len(out.splitlines()) == 11
    assert out.splitlines()[-1] == ("[truncated: 2990 more matching lines not shown; narrow the pattern, path or glob]")


def test_ripgrep_is_installed():
    """make installs ripgrep; without it the rg path below would go untested."""
    assert shutil.which("rg"), "rg is not on PATH: run `make test`, which installs ripgrep"


@pytest.mark.parametrize(
    "pattern, ignore_case, glob",
    [
        ("parse_config", False, None),
        ("PARSE", True, "*.py"),
        (r"^\s*def \w+", False, None),
        (r"\d+", False, "src/**"),
        ("", False, None),
    ],
)
async def test_both_engines_agree_on_the_fixture_tree(tree, pattern, ignore_case, glob):
    scope = Scope(tree)
    rg = await search(scope, pattern, ignore_case=ignore_case, glob=glob, engine="rg")
    py = await search(scope, pattern, ignore_case=ignore_case, glob=glob, engine="python")
    assert rg == py and (pattern == "PARSE" or rg)


@pytest.mark.parametrize(
    "pattern, ignore_case",
    [
        (r"def \w+_nan", False),
        ("allow_nan", False),
        (r"\bcolou?r\b", True),
        (r"^\s*class \w+Error\(", False),
        (r"TODO|FIXME|XXX", False),
    ],
)
async def test_both_engines_agree_on_the_standard_library(pattern, ignore_case):
    """A real tree the project did not write: identical matches from rg and the Python fallback."""
    scope = Scope(Path(sysconfig.get_paths()["stdlib"]))
    rg = await search(scope, pattern, ignore_case=ignore_case, engine="rg")
    py = await search(scope, pattern, ignore_case=ignore_case, engine="python")
    assert len(rg) > 10
    assert rg == py
