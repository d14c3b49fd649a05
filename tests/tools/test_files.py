import pytest

from loom_nb.tools import ToolError, directory_list, file_read, file_search


async def test_file_read_numbers_lines_and_reads_ranges(ctx):
    out = await file_read({"path": "src/pkg/core.py", "offset": 2, "limit": 2}, ctx)
    lines = out.splitlines()
    assert lines[0] == "src/pkg/core.py (lines 2-3 of 5)"
    assert lines[1] == "     2\t    return load(path)"
    assert lines[2] == "     3\t"
    assert "[truncated: 2 more lines; read on with offset=4]" in out


async def test_file_read_caps_large_files_with_a_marker(ctx):
    out = await file_read({"path": "long.txt"}, ctx)
    assert "(lines 1-400 of 3000)" in out and out.rstrip().endswith("read on with offset=401]")
    with pytest.raises(ToolError, match="limit must be <= 2000"):
        await file_read({"path": "long.txt", "limit": 5000}, ctx)


async def test_file_read_errors_are_clear(ctx):
    with pytest.raises(ToolError, match="binary"):
        await file_read({"path": "blob.bin"}, ctx)
    with pytest.raises(ToolError, match="is a directory; use directory_list"):
        await file_read({"path": "src"}, ctx)
    with pytest.raises(ToolError, match=r"past the end .* 5 lines"):
        await file_read({"path": "src/pkg/core.py", "offset": 50}, ctx)
    with pytest.raises(ToolError, match="does not exist"):
        await file_read({"path": "nope.py"}, ctx)
    with pytest.raises(ToolError, match="needs path"):
        await file_read({}, ctx)
    with pytest.raises(ToolError, match="has no argument bogus"):
        await file_read({"path": "x", "bogus": 1}, ctx)
    with pytest.raises(ToolError, match="offset must be integer"):
        await file_read({"path": "src/pkg/core.py", "offset": "2"}, ctx)


async def test_file_search_honours_gitignore_and_hidden(ctx):
    out = (await file_search({"pattern": "*.py"}, ctx)).splitlines()
    assert out == ["src/pkg/core.py", "src/pkg/util.py"]  # symlinks are not followed, as with rg
    assert "build/out.py" not in out and "src/generated.py" not in out and ".hidden/secret.py" not in out
    logs = (await file_search({"pattern": "*.log"}, ctx)).splitlines()
    assert logs == ["keep.log"]  # *.log ignored, !keep.log re-included


async def test_file_search_anchored_patterns_and_path(ctx):
    assert (await file_search({"pattern": "pkg/*.py", "path": "src"}, ctx)).splitlines() == [
        "src/pkg/core.py",
        "src/pkg/util.py",
    ]
    assert (await file_search({"pattern": "core.py", "path": "src/pkg"}, ctx)) == "src/pkg/core.py"
    assert (await file_search({"pattern": "*.rs"}, ctx)).startswith("No files match")


async def test_file_search_truncates_with_a_marker(ctx):
    out = await file_search({"pattern": "*", "max_results": 2}, ctx)
    assert out.splitlines()[-1].startswith("[truncated:") and "more files not shown" in out


async def test_directory_list_shows_a_tree(ctx):
    out = await directory_list({"depth": 3}, ctx)
    lines = out.splitlines()
    assert lines[0] == "./"
    assert "src/" in lines and "  pkg/" in lines and "    core.py (70 B)" in lines, lines
    assert not any("build" in line or "hidden" in line or "debug.log" in line for line in lines)
    shallow = await directory_list({"depth": 1}, ctx)
    assert "pkg/" not in shallow
