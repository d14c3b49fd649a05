"""Swarms: a lead that plans, agents of registered roles that do the work, one session per run."""

from ._roles import ROLES, Role, Task
from ._swarm import Swarm, SwarmResult, run_sync

__all__ = ["ROLES", "Role", "Swarm", "SwarmResult", "Task", "run_sync"]
