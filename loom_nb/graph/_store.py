"""The DuckDB file: where it lives, connections, migrations, crash recovery.

DuckDB lets one process hold a file read-write and then refuses every other opener. So only the
recorder holds the file, and only while it is busy: graph calls and reads open, work and close.
A process that finds the file taken leaves a release request (`<file>.release`) and retries; the
recorder sees it after its current batch and steps aside until the request is gone (or 0.5 s).
Two kernels can then share a project's graph: the writer loses nothing (its batches wait), and
the reader gets current data or, after `lock_timeout`, a GraphBusy error that says to try again.

Within one process DuckDB shares one database per file between connections, and two of them creating
the schema at once meet "Catalog write-write conflict": schema work is serialised per file (a
process-wide lock) and transaction conflicts are retried. A file DuckDB cannot use (garbage, truncated,
not writable) raises GraphFileError naming the file and what to do; the file is never changed.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._pids import alive
from ._schema import MIGRATIONS, Migration

if TYPE_CHECKING:
    import duckdb

__all__ = ["GraphBusy", "GraphError", "GraphFileError", "GraphStore", "SchemaTooNew", "default_path", "utcnow"]

DEFAULT_DIR = ".loom"
DEFAULT_FILE = "loom.duckdb"


class GraphError(ValueError):
    """Bad input to the graph (unknown node type, confidence 140, a missing node...): nothing was written."""


class GraphBusy(RuntimeError):
    """Another process kept the file longer than lock_timeout."""


class SchemaTooNew(RuntimeError):
    """The file was written by a newer loom-nb."""


class GraphFileError(GraphError):
    """The graph file cannot be used (not a DuckDB database, damaged, or not writable); it was left as it was."""


# Schema work (migrations, recovery) on one file, one thread at a time in this process: DuckDB shares a
# database between a process's connections, and two creating the same tables conflict.
_schema_locks: dict[Path, threading.Lock] = {}
_schema_locks_guard = threading.Lock()


def _schema_lock(path: Path) -> threading.Lock:
    with _schema_locks_guard:
        return _schema_locks.setdefault(path, threading.Lock())


def transaction_conflict(exc: BaseException) -> bool:
    """Two transactions of this process touched the same rows or catalog entries: retrying succeeds."""
    text = str(exc)
    return type(exc).__name__ == "TransactionException" and "onflict" in text and "Failed to commit" not in text


def file_error(path: Path, exc: BaseException) -> GraphFileError | None:
    """A clear GraphFileError for a DuckDB error about the file itself, else None."""
    text = str(exc)
    low = text.lower()
    # Already explained, or about another file (a CSV a query reads, say): not ours to explain.
    if isinstance(exc, GraphFileError) or str(path) not in text:
        return None
    if "not a valid duckdb database" in low or "could not read enough bytes" in low or "corrupt" in low:
        return GraphFileError(
            f"the graph file {path} is not a DuckDB database (or is damaged): move it aside or pass --db "
            "(db=...) with another path; it was left untouched"
        )
    if any(w in low for w in ("read-only file system", "permission denied", "operation not permitted")):
        return GraphFileError(
            f"cannot write the graph file {path} ({text.split(': ', 1)[-1]}): make {path.parent} writable "
            "or pass --db (db=...) with a writable path"
        )
    return None


def default_path(project: str | os.PathLike[str] = ".") -> Path:
    """`<project>/.loom/loom.duckdb`: one file per project."""
    return Path(project).expanduser().resolve() / DEFAULT_DIR / DEFAULT_FILE


def utcnow() -> datetime:
    """Naive UTC, the form every TIMESTAMP column holds (reads hand them out as UTC-aware)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _lock_conflict(exc: Exception) -> bool:
    text = str(exc)
    return "lock" in text.lower() and ("Conflicting" in text or "Could not set lock" in text)


class GraphStore:
    """A project's graph file. Thread-safe: the recorder's thread and the kernel share one."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        project: str | os.PathLike[str] = ".",
        migrations: Sequence[Migration] = MIGRATIONS,
        lock_timeout: float = 10.0,
        create: bool = True,
    ) -> None:
        self.path = Path(path).expanduser().resolve() if path is not None else default_path(project)
        if not create and not self.path.exists():
            raise FileNotFoundError(f"no loom graph at {self.path}; run a session first, or pass create=True")
        self.migrations = tuple(sorted(migrations, key=lambda m: m.version))
        self.lock_timeout = lock_timeout
        self._ready = False
        self._init_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GraphStore({str(self.path)!r})"

    @property
    def release_file(self) -> Path:
        """Exists while another process waits for the file (see the module doc)."""
        return self.path.with_name(self.path.name + ".release")

    def release_requested(self) -> bool:
        try:
            age = time.time() - self.release_file.stat().st_mtime
        except FileNotFoundError:
            return False
        if age > 5.0:  # left by a reader that died while waiting
            self.release_file.unlink(missing_ok=True)
            return False
        return True

    @property
    def schema_version(self) -> int:
        return self.migrations[-1].version if self.migrations else 0

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """An open connection for the block; waits (with backoff) while another process has the file."""
        con = self.open()
        try:
            yield con
        except Exception as exc:  # a file that opened but is damaged further in fails on read
            error = file_error(self.path, exc)
            if error is not None:
                raise error from exc
            raise
        finally:
            con.close()

    def open(self) -> duckdb.DuckDBPyConnection:
        """A connection the caller closes (the recorder keeps one while it is busy)."""
        con = self._open()
        try:
            # Casts between TIMESTAMP (naive UTC) and TIMESTAMPTZ then mean UTC, whatever the machine's zone.
            con.execute("SET TimeZone = 'UTC'")
            if not self._ready:
                with self._init_lock, _schema_lock(self.path):
                    if not self._ready:
                        self._retry_conflicts(self._migrate, con)
                        try:
                            self._retry_conflicts(self._recover, con)
                        except Exception as exc:  # a read-only file can still be read; recovery waits
                            if file_error(self.path, exc) is None:
                                raise
                        self._ready = True
        except BaseException as exc:
            con.close()
            error = file_error(self.path, exc)
            if error is not None:
                raise error from None
            raise
        return con

    @staticmethod
    def _retry_conflicts(step: Any, con: duckdb.DuckDBPyConnection, attempts: int = 50) -> None:
        """Another connection of this process (another GraphStore on the same file) may be mid-way."""
        for attempt in range(attempts):
            try:
                return step(con)
            except Exception as exc:
                if not transaction_conflict(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.002 * (attempt + 1))  # backoff: the other transaction is committing

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All or nothing: an error inside the block rolls every statement back."""
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")  # writes the WAL: an unwritable directory shows here (connect() says so)

    def _open(self) -> duckdb.DuckDBPyConnection:
        import duckdb

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise file_error(self.path, exc) or GraphFileError(
                f"cannot create {self.path.parent} ({exc.strerror}): pass --db (db=...) with a writable path"
            ) from None
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.005
        asked = False
        try:
            while True:
                try:
                    return duckdb.connect(str(self.path))
                except duckdb.IOException as exc:
                    if not _lock_conflict(exc):
                        raise file_error(self.path, exc) or exc from None
                    self.release_file.touch()  # ask the holder (a recorder) to step aside
                    asked = True
                    if time.monotonic() >= deadline:
                        holder = str(exc).split("Conflicting lock is held in", 1)[-1].split(". See", 1)[0].strip()
                        raise GraphBusy(
                            f"{self.path} is busy: another process ({holder}) kept it for {self.lock_timeout:g} s; "
                            "try again in a moment"
                        ) from None
                    time.sleep(delay)  # backoff while the other process finishes or steps aside
                    delay = min(delay * 2, 0.05)
        finally:
            if asked:
                self.release_file.unlink(missing_ok=True)

    def _migrate(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, description VARCHAR, "
            "applied_at TIMESTAMP NOT NULL)"
        )
        row = con.execute("SELECT max(version) FROM schema_version").fetchone()
        current = (row[0] if row else None) or 0
        if current > self.schema_version:
            raise SchemaTooNew(
                f"{self.path} has schema version {current}, newer than this loom-nb understands "
                f"({self.schema_version}); upgrade loom-nb (pip install -U loom-nb)"
            )
        for migration in self.migrations:
            if migration.version <= current:
                continue
            con.execute("BEGIN TRANSACTION")
            try:
                migration.apply(con)
                con.execute(
                    "INSERT INTO schema_version VALUES (?, ?, ?)", [migration.version, migration.description, utcnow()]
                )
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def _recover(self, con: duckdb.DuckDBPyConnection) -> None:
        """Sessions still 'running' whose writer process is gone were interrupted (a killed kernel)."""
        host = socket.gethostname()
        rows = con.execute(
            "SELECT id, writer_pid FROM sessions WHERE status = 'running' AND writer_host = ?", [host]
        ).fetchall()
        dead = [(sid, pid) for sid, pid in rows if pid is not None and not alive(pid)]
        for sid, pid in dead:
            con.execute(
                """UPDATE sessions SET status = 'interrupted',
                   ended_at = coalesce((SELECT max(ts) FROM events WHERE session_id = ?), started_at),
                   error = ? WHERE id = ?""",
                [sid, f"the process that recorded it (pid {pid} on {host}) ended before the session did", sid],
            )


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, ensure_ascii=False)
