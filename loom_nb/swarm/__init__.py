"""Swarms: a lead that plans, agents of registered roles that do the work, one session per run."""

from ._roles import ROLES, Role, Task
from ._swarm import BudgetExceeded, Swarm, SwarmResult, run_sync

__all__ = ["ROLES", "BudgetExceeded", "Role", "Swarm", "SwarmResult", "Task", "run_sync"]
