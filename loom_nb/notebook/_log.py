"""loom_nb's log records, kept in the kernel instead of printed.

A record logged on the swarm thread (a recorder retry, a crashed child) would otherwise go to
stderr through Python's last-resort handler and land in whatever cell happens to be running.
In a kernel they are kept here; `%loom log` shows them.
"""

from __future__ import annotations

import collections
import logging

__all__ = ["LOG", "capture_logs"]


class _Ring(logging.Handler):
    def __init__(self, size: int = 500) -> None:
        super().__init__(level=logging.INFO)
        self.records: collections.deque[logging.LogRecord] = collections.deque(maxlen=size)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [self.format(r) for r in self.records]


LOG = _Ring()


def capture_logs() -> None:
    logger = logging.getLogger("loom_nb")
    if LOG not in logger.handlers:
        logger.addHandler(LOG)
    logger.propagate = False  # nothing reaches stderr, so nothing lands in the running cell
