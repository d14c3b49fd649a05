"""Error messages name only options, arguments and commands that exist where the user meets them."""

import asyncio

import pytest
from IPython.core.error import UsageError

from loom_nb.notebook._magics import LoomMagics
from loom_nb.swarm import Swarm, run_sync
from tests.shell import loom_shell


def test_the_magic_says_how_to_get_a_graph_with_settings_it_has(tmp_path):
    with loom_shell(project=tmp_path) as (sh, _runner):
        with pytest.raises(UsageError) as info:
            sh.run_line_magic("loom", "sessions")
    message = str(info.value)
    assert "create=True" not in message and "%%loom <intent>" in message
    assert "%config LoomMagics.project" in message and hasattr(LoomMagics, "project") and hasattr(LoomMagics, "db")


async def test_run_sync_inside_a_loop_names_the_function_as_it_exists(tmp_path):
    swarm = Swarm("research x", project=tmp_path, record=False)
    with pytest.raises(RuntimeError, match=r"run_sync\(swarm\) cannot block .* use `await swarm.run\(\)`"):
        run_sync(swarm)
    assert not hasattr(swarm, "run_sync") and asyncio.iscoroutinefunction(swarm.run)
