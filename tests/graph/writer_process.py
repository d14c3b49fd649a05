"""A separate process that records events, for the crash and two-process tests.

python -m tests.graph.writer_process DB SESSION COUNT   (COUNT 0: until killed)
Prints "flushed N" after every committed batch and "done N" at the end.
"""

import sys
import time

from loom_nb.events import EventBus, LLMCall, SessionEnded, SessionStarted, ToolCallEvent
from loom_nb.graph import GraphStore, Recorder


def main() -> None:
    db, session, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    bus = EventBus()
    recorder = Recorder(
        GraphStore(db), flush_interval=0.05, on_flush=lambda n: print(f"flushed {n}", flush=True)
    ).attach(bus)
    bus.emit(SessionStarted(session_id=session, agent="", intent="write a lot", models=("offline",)))
    emitted = 1
    i = 0
    while count == 0 or emitted < count:
        if i % 2:
            bus.emit(
                LLMCall(
                    session_id=session,
                    agent=f"a{i % 7}",
                    model="offline",
                    input_tokens=10,
                    output_tokens=2,
                    cost_usd=0.0,
                    latency_s=0.01,
                )
            )
        else:
            bus.emit(
                ToolCallEvent(
                    session_id=session,
                    agent=f"a{i % 7}",
                    tool="file_read",
                    call_id=str(i),
                    args_summary="path='x'",
                    duration_s=0.001,
                    outcome="ok",
                )
            )
        emitted += 1
        i += 1
        if i % 500 == 0:
            time.sleep(0.002)  # pace the producer like a swarm would; not synchronisation
    if count:
        bus.emit(SessionEnded(session_id=session, agent="", status="done"))
        emitted += 1
        recorder.close()
        print(f"done {emitted}", flush=True)


if __name__ == "__main__":
    main()
