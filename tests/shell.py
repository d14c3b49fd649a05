"""A real IPython shell with loom's magics registered (and its runner shut down afterwards)."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def loom_shell(project: Any = None, db: Any = None) -> Iterator[tuple[Any, Any]]:
    """`with loom_shell(project=path) as (sh, runner):` ... `sh.run_line_magic("loom", ...)`."""
    from IPython.core.interactiveshell import InteractiveShell

    from loom_nb.notebook import SwarmRunner
    from loom_nb.notebook._magics import LoomMagics

    sh = InteractiveShell.instance()
    runner = SwarmRunner()
    magics = LoomMagics(shell=sh, runner=runner)
    if project is not None:
        magics.project = str(project)
    if db is not None:
        magics.db = str(db)
    sh.register_magics(magics)
    try:
        yield sh, runner
    finally:
        runner.shutdown()
