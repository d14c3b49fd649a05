"""Where swarms run inside a kernel: a dedicated event loop on a daemon thread of the kernel process.

Why not the kernel's own loop (measured, see DESIGN.md): a synchronous magic cannot wait on the
loop that is running it without nesting it, and nest_asyncio inside ipykernel 7 broke queued
cells; an interrupt does not reach a top-level await until it yields. A blocking wait on the main
thread, by contrast, gets KeyboardInterrupt within a second. So the foreground waits on a
concurrent future in short slices (interruptible), the background just returns, `await handle`
wraps the same future on the kernel's loop, and stop() from any thread (a widget callback on a
subshell) goes through call_soon_threadsafe. The kernel's loop never runs swarm code.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..swarm._swarm import Swarm, SwarmResult
    from ._tracker import SessionTracker

__all__ = ["Interrupted", "SwarmHandle", "SwarmRunner", "default_runner"]


class SwarmRunner:
    """One loop thread for all the swarms of a process; started on first use."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.handles: dict[str, SwarmHandle] = {}
        """Every run of this process, by session id (newest last)."""
        self._watchers: set[concurrent.futures.Future[Any]] = set()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                ready = threading.Event()
                loop = asyncio.new_event_loop()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name="loom-swarms", daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def submit(self, swarm: Swarm) -> SwarmHandle:
        """Start the swarm on the loop thread; returns at once."""
        from ._tracker import SessionTracker

        tracker = SessionTracker(swarm.bus, swarm.session_id)  # subscribed before the first event
        future = asyncio.run_coroutine_threadsafe(swarm.run(), self.loop)
        handle = SwarmHandle(swarm, future, self, tracker)
        self.handles[swarm.session_id] = handle
        return handle

    def watch(self, coro: Any) -> concurrent.futures.Future[Any]:
        """Run a helper coroutine (a live view's refresher) on the loop thread; the runner owns it."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        self._watchers.add(future)
        future.add_done_callback(self._watchers.discard)
        return future

    def run_foreground(self, swarm: Swarm, *, poll: float = 0.1, on_submit: Any = None) -> SwarmHandle:
        """Run to the end, blocking this thread; an interrupt cancels the swarm, waits for it to
        record itself as cancelled, then raises KeyboardInterrupt. `on_submit(handle)` runs once the
        swarm has started (the magic shows the live view there)."""
        handle = self.submit(swarm)
        try:
            if on_submit is not None:  # inside the try: an interrupt while the view is built stops the run too
                on_submit(handle)
            while not handle.future.done():
                try:
                    handle.future.result(timeout=poll)
                except concurrent.futures.TimeoutError:
                    continue
                except KeyboardInterrupt:
                    raise
                except BaseException:  # the run's own failure: the handle reports it
                    break
        except KeyboardInterrupt:
            swarm.stop("cancelled by interrupt")
            handle.wait(timeout=10, raise_errors=False)
            raise Interrupted(f"loom session {swarm.session_id} cancelled by interrupt") from None
        return handle

    def running(self) -> list[SwarmHandle]:
        return [h for h in self.handles.values() if not h.done]

    def shutdown(self) -> None:
        """Stop every running swarm and the loop thread (extension unload, process exit)."""
        for handle in self.running():
            handle.stop("the kernel extension was unloaded")
        for handle in list(self.handles.values()):
            handle.wait(timeout=10, raise_errors=False)
        for future in list(self._watchers):
            future.cancel()
        with self._lock:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._loop = None
            self._thread = None


class SwarmHandle:
    """What a %%loom cell returns: the session id, status and answer, the graph and costs,
    stop(), wait(), and `await handle` from a cell."""

    def __init__(
        self, swarm: Swarm, future: concurrent.futures.Future[SwarmResult], runner: SwarmRunner, tracker: SessionTracker
    ) -> None:
        self.swarm = swarm
        self.future = future
        self.runner = runner
        self.tracker = tracker
        """Live per-agent state (what `%loom agents` and the live view show)."""
        self.view: Any = None
        """The live view showing this session, if one was shown."""
        self.session_id = swarm.session_id
        self.started = time.time()

    @property
    def done(self) -> bool:
        return self.future.done()

    @property
    def result(self) -> SwarmResult | None:
        """The SwarmResult once finished (None while running, or if the run was interrupted)."""
        if not self.future.done() or self.future.cancelled() or self.future.exception() is not None:
            return None
        return self.future.result()

    @property
    def status(self) -> str:
        if not self.future.done():
            return "running"
        result = self.result
        if result is not None:
            return result.status
        return "cancelled"

    @property
    def text(self) -> str:
        result = self.result
        return result.text if result is not None else ""

    @property
    def stop_reason(self) -> str | None:
        """Why the run stopped or is stopping (None while it runs unasked, and when it ended done)."""
        result = self.result
        if result is not None:
            return result.error
        return self.swarm.stop_reason

    def stop(self, reason: str = "stopped by the user") -> None:
        """End the run within a moment (safe from any thread)."""
        self.swarm.stop(reason)

    def wait(self, timeout: float | None = None, *, raise_errors: bool = True) -> SwarmResult | None:
        """Block until the run ends (interruptible); returns its result."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.future.done():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"session {self.session_id} still running after {timeout} s")
            try:
                self.future.result(timeout=0.1 if left is None else min(0.1, left))
            except concurrent.futures.TimeoutError:
                continue
            except KeyboardInterrupt:
                raise
            except BaseException:
                if raise_errors:
                    raise
                break
        return self.result

    def __await__(self) -> Any:
        return asyncio.wrap_future(self.future).__await__()

    def _ipython_display_(self) -> None:
        """Shown in a cell (Out of `%loom ... --background`, or `h` alone): a display that is
        updated when the run ends, so it never keeps saying "running" after the run is over."""
        from IPython.display import display

        shown = display(_HandleOutput(self), display_id=True)
        if shown is not None and not self.done:
            self.future.add_done_callback(lambda _: shown.update(_HandleOutput(self)))

    @property
    def graph(self) -> Any:
        from ..graph import open_graph

        return open_graph(self.swarm.db) if self.swarm.db is not None else open_graph(project=self.swarm.root)

    def agents(self) -> Any:
        """A DataFrame: name, role, model, status, current tool, iterations, tokens, cost, restarts."""
        return self.tracker.dataframe()

    # the plan -----------------------------------------------------------------------------------

    def tasks(self) -> Any:
        """The plan as recorded: each task's role, status, agent, summary, files, tests, cost."""
        return self.graph.tasks(session=self.session_id)

    def messages(self) -> Any:
        """Every message the run's agents sent each other (recorded as they went)."""
        return self.graph.messages(session=self.session_id)

    def tests(self) -> Any:
        """Every test run of the session: passed, failed, errors, the failing ids, per round."""
        return self.graph.tests(session=self.session_id)

    @property
    def estimate_usd(self) -> float | None:
        """What the plan was expected to cost before it started (None: a price was unknown)."""
        return self.swarm.estimate_usd

    # the workspace ------------------------------------------------------------------------------

    def workspace(self) -> Any:
        """The session's git worktree (WorkspaceError when its agents wrote nothing: no worktree)."""
        from ..workspace import Workspace

        return Workspace.open(self.swarm.root, self.session_id)

    def diff(self) -> Any:
        """The session's changes: coloured in a notebook, the unified diff as `str(...)`."""
        from ._diff import DiffView

        ws = self.workspace()
        return DiffView(ws.diff(), title=f"session {self.session_id} ({ws.branch})")

    def merge(self) -> str:
        """Merge into your branch (refused if touched files are dirty or it would conflict); the commit."""
        return self.workspace().merge()

    def undo(self, last: int | None = None) -> list[Any]:
        """Revert loom's own commits of the session (the newest `last`, or all)."""
        return self.workspace().undo(last=last)

    def discard(self) -> None:
        """Remove the session's worktree and branch."""
        self.workspace().discard()

    # approvals ---------------------------------------------------------------------------------

    def approvals(self) -> Any:
        """A DataFrame of the run's approval requests, pending first: id, agent, role, tool, arguments,
        the rule that asked, and the answer (decision, by whom, always, message, latency)."""
        import json

        import pandas as pd

        queue = self.swarm.gate.queue
        rows = []
        for request, answer in [*((r, None) for r in queue.pending()), *queue.decided]:
            rows.append(
                {
                    "id": request.id,
                    "status": "pending" if answer is None else answer.action,
                    "agent": request.agent,
                    "role": request.role,
                    "tool": request.tool,
                    "arguments": json.dumps(dict(request.arguments), default=str)[:500],
                    "rule": request.decision.explain if request.decision is not None else "",
                    "by": "" if answer is None else answer.by,
                    "always": False if answer is None else answer.always,
                    "message": "" if answer is None else answer.message,
                    "latency_s": None if answer is None else max(0.0, answer.decided_at - request.requested_at),
                }
            )
        columns = ["id", "status", "agent", "role", "tool", "arguments", "rule", "by", "always", "message", "latency_s"]
        return pd.DataFrame(rows, columns=columns)

    def wait_for_approvals(self, n: int = 1, timeout: float = 60.0) -> Any:
        """Block until at least `n` requests wait for a human (or the run ended); their DataFrame."""
        import threading

        queue = self.swarm.gate.queue
        enough = threading.Event()
        unsubscribe = queue.subscribe(lambda *_: (len(queue.pending()) >= n or self.done) and enough.set())
        self.future.add_done_callback(lambda _: enough.set())
        try:
            if len(queue.pending()) < n and not self.done and not enough.wait(timeout):
                raise TimeoutError(f"no {n} approval request(s) within {timeout} s; %loom status shows the run")
        finally:
            unsubscribe()
        table = self.approvals()
        return table[table["status"] == "pending"].reset_index(drop=True)

    def approve(
        self,
        request_id: str = "all",
        *,
        always: bool = False,
        arguments: dict[str, Any] | None = None,
        by: str = "python",
    ) -> list[Any]:
        """Allow a pending request (or "all"), once or always (a rule is added for this run), with
        edited arguments if given; safe from any thread. Returns the answers."""
        queue = self.swarm.gate.queue
        if request_id == "all":
            if arguments is not None:
                raise ValueError("edited arguments go with one request id, not all")
            return queue.answer_all("allow", always=always, by=by)
        return [queue.answer(request_id, "allow", always=always, arguments=arguments, by=by)]

    def deny(
        self, request_id: str = "all", *, message: str = "", always: bool = False, by: str = "python"
    ) -> list[Any]:
        """Deny a pending request (or "all"), with a message the agent reads."""
        queue = self.swarm.gate.queue
        if request_id == "all":
            return queue.answer_all("deny", message=message, always=always, by=by)
        return [queue.answer(request_id, "deny", message=message, always=always, by=by)]

    def costs(self, by: str = "agent") -> Any:
        return self.graph.costs(by=by, session=self.session_id)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        cost = self.swarm.meter.cost
        return (
            f"<loom session {self.session_id}: {self.status}, {self.swarm.meter.usage.total_tokens:,} tokens, "
            f"${cost:.4f}{' +unpriced' if self.swarm.meter.unpriced else ''}>"
        )

    def links(self) -> dict[str, str]:
        """`path:line` -> a link to the file, for each citation the researchers checked."""
        result = self.result
        links: dict[str, str] = {}
        for f in result.findings if result is not None else ():
            links.update(f.links())
        return links

    def _repr_html_(self) -> str:
        """The answer as text (a model wrote it: never markup), checked citations as file links."""
        from .._safe import CONTAINER_CLASS, escape, pre

        result = self.result
        head = f"<b>loom session {escape(self.session_id)}</b> · {escape(self.status)}"
        if result is not None and result.error:
            head += f" · {escape(result.error)}"
        if self.view is not None or not self.text:  # the live view above already shows the answer
            return f'<div class="{CONTAINER_CLASS}">{head}</div>'
        return f'<div class="{CONTAINER_CLASS}">{head}{pre(self.text, self.links())}</div>'

    def _repr_markdown_(self) -> str:
        """For Markdown-only front ends: every untrusted text in a code block, shown literally."""
        from .._safe import code_block

        result = self.result
        lines = [f"{self.session_id} · {self.status}"] + ([result.error] if result and result.error else [])
        if self.view is None and self.text:
            lines += ["", self.text]
        return "**loom session**\n\n" + code_block("\n".join(lines))


class _HandleOutput:
    """The handle's own repr, HTML (with citation links) and Markdown, as they are at the moment of drawing."""

    def __init__(self, handle: SwarmHandle) -> None:
        self.handle = handle

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {
            "text/plain": repr(self.handle),
            "text/html": self.handle._repr_html_(),
            "text/markdown": self.handle._repr_markdown_(),
        }


class Interrupted(KeyboardInterrupt):
    """Kernel > Interrupt during a foreground run: still a KeyboardInterrupt (so the kernel answers
    the cell with an error and skips the cells queued after it), shown as one line instead of a
    traceback through loom's code (IPython shows `_render_traceback_` when an exception has one)."""

    def _render_traceback_(self) -> list[str]:
        return [f"KeyboardInterrupt: {self}"]


_default: SwarmRunner | None = None


def default_runner() -> SwarmRunner:
    global _default
    if _default is None:
        _default = SwarmRunner()
    return _default
