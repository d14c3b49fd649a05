"""Path-escape attempts are refused before anything is opened."""

import pytest

from loom_nb.tools import ScopeError, ToolError, content_search, directory_list, file_read, file_search

ESCAPES = [
    "../outside/passwords.txt",
    "src/../../outside/passwords.txt",
    "/etc/passwd",
    "link_out.txt",
    "dir_out/passwords.txt",
    "src/pkg/core.py\x00.txt",
    "~/.bashrc",
]


@pytest.mark.parametrize("path", ESCAPES)
async def test_file_read_refuses_escapes(ctx, path):
    with pytest.raises(ToolError) as info:
        await file_read({"path": path}, ctx)
    assert "hunter2" not in str(info.value)
    assert isinstance(info.value, ScopeError) or "does not exist" in str(info.value)


@pytest.mark.parametrize("path", ["../outside", "/etc", "dir_out"])
async def test_listing_and_search_refuse_escapes(ctx, path):
    with pytest.raises(ScopeError, match="outside the scope"):
        await directory_list({"path": path}, ctx)
    with pytest.raises(ScopeError, match="outside the scope"):
        await content_search({"pattern": "hunter2", "path": path}, ctx)
    with pytest.raises(ScopeError, match="outside the scope"):
        await file_search({"pattern": "*", "path": path}, ctx)


@pytest.mark.parametrize("glob", ["../*", "../outside/*.txt", "/etc/*", "src/../../*", "~/x"])
async def test_globs_that_climb_out_are_refused(ctx, glob):
    with pytest.raises(ScopeError):
        await file_search({"pattern": glob}, ctx)
    with pytest.raises(ScopeError):
        await content_search({"pattern": "x", "glob": glob}, ctx)


async def test_nul_in_glob_is_refused(ctx):
    with pytest.raises(ScopeError, match="NUL"):
        await file_search({"pattern": "*.py\x00"}, ctx)


async def test_symlinks_out_are_never_followed_by_searches(ctx):
    out = await content_search({"pattern": "hunter2"}, ctx)
    assert out.startswith("No matches")
    names = await file_search({"pattern": "*"}, ctx)
    assert "passwords" not in names and "link_out" not in names and "dir_out" not in names


async def test_absolute_path_inside_the_scope_is_fine(ctx, tree):
    out = await file_read({"path": str(tree / "src" / "pkg" / "util.py")}, ctx)
    assert "value = 42" in out


async def test_symlink_inside_the_scope_is_fine(ctx):
    out = await file_read({"path": "link_in.py"}, ctx)
    assert "def parse_config" in out
