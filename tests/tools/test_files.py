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


async def test_file_read_reads_small_files_inline_and_large_ones_on_a_thread(ctx):
    """A small file is read on the loop (no thread hop); one past INLINE_READ_BYTES, or one that grew past it
    after its stat, on a thread: the same lines either way."""
    import threading

    from loom_nb.tools import _files

    big = ctx.scope.root / "big.txt"
    big.write_text("".join(f"line {i} " + "x" * 60 + "\n" for i in range(1, 2001)))
    assert big.stat().st_size > _files.INLINE_READ_BYTES
    threads: list[str] = []
    original = _files._read_lines

    def spy(*args: object) -> object:
        threads.append(threading.current_thread().name)
        return original(*args)  # type: ignore[arg-type]

    _files._read_lines = spy  # type: ignore[assignment]
    try:
        small = await file_read({"path": "src/pkg/core.py", "limit": 1}, ctx)
        large = await file_read({"path": "big.txt", "offset": 1999, "limit": 2}, ctx)
    finally:
        _files._read_lines = original
    assert threads[0] == threading.current_thread().name  # inline, on the loop's thread
    assert threads[1] != threading.current_thread().name  # too big: a worker thread
    assert small.splitlines()[0] == "src/pkg/core.py (lines 1-1 of 5)"
    assert large.splitlines()[1:] == ["  1999\tline 1999 " + "x" * 60, "  2000\tline 2000 " + "x" * 60]
    with pytest.raises(_files._TooBig):  # grown past the limit between the stat and the open
        original(str(big), 1, 1, _files.INLINE_READ_BYTES)


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
