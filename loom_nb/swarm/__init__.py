"""Swarms: a lead that plans, specialists of defined roles that do the work, one session per run."""

from ._crew import TaskResult
from ._plan import Dep, PlanError, Scheduler, Task, check_plan, parse_plan
from ._roles import BUILTIN_ROLES, ROLES, Role, RoleBook, RoleError, define_role, roles, tool_catalog
from ._swarm import Swarm, SwarmResult, run_sync
from ._team import Completion

__all__ = [
    "BUILTIN_ROLES",
    "ROLES",
    "Completion",
    "Dep",
    "PlanError",
    "Role",
    "RoleBook",
    "RoleError",
    "Scheduler",
    "Swarm",
    "SwarmResult",
    "Task",
    "TaskResult",
    "check_plan",
    "define_role",
    "parse_plan",
    "roles",
    "run_sync",
    "tool_catalog",
]
