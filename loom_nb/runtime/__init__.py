"""OTP on asyncio: processes, supervisors, a registry and async_stream. Knows nothing of LLMs."""

from ._dynamic import DynamicSupervisor, MaxChildrenReached
from ._map import supervised_map
from ._process import (
    Call,
    CallError,
    CallTimeout,
    Down,
    ExitReason,
    MailboxFull,
    Process,
    ProcessExit,
    is_abnormal,
    spawn,
)
from ._registry import ANY, AlreadyRegistered, Registry
from ._stream import StreamResult, StreamTimeout, async_stream
from ._supervisor import ChildInfo, ChildSpec, ChildSpecError, RestartIntensityExceeded, Supervisor

__all__ = [
    "ANY",
    "AlreadyRegistered",
    "Call",
    "CallError",
    "CallTimeout",
    "ChildInfo",
    "ChildSpec",
    "ChildSpecError",
    "Down",
    "DynamicSupervisor",
    "ExitReason",
    "MailboxFull",
    "MaxChildrenReached",
    "Process",
    "ProcessExit",
    "Registry",
    "RestartIntensityExceeded",
    "StreamResult",
    "StreamTimeout",
    "Supervisor",
    "async_stream",
    "is_abnormal",
    "spawn",
    "supervised_map",
]
