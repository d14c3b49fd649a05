"""loom-nb: LLM agent swarms inside a Jupyter kernel.

Importing this package is light on purpose (no litellm, anthropic, pandas or duckdb): public
names load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Findings": "loom_nb.agents._sub_agent",
    "Evidence": "loom_nb.agents._sub_agent",
    "sub_agent": "loom_nb.agents._sub_agent",
    "asub_agent": "loom_nb.agents._sub_agent",
    "sub_agents": "loom_nb.agents._sub_agent",
    "asub_agents": "loom_nb.agents._sub_agent",
    "Agent": "loom_nb.agents._loop",
    "AgentResult": "loom_nb.agents._loop",
    "EventBus": "loom_nb.events",
    "load_config": "loom_nb.config",
    "Config": "loom_nb.config",
    "get_model": "loom_nb.models",
    "open_graph": "loom_nb.graph._read",
    "Graph": "loom_nb.graph._read",
    "GraphStore": "loom_nb.graph._store",
    "Recorder": "loom_nb.graph._recorder",
    "Policy": "loom_nb.permissions._policy",
    "Rule": "loom_nb.permissions._rules",
    "Swarm": "loom_nb.swarm._swarm",
    "Role": "loom_nb.swarm._roles",
    "RoleBook": "loom_nb.swarm._roles",
    "roles": "loom_nb.swarm._roles",
    "define_role": "loom_nb.swarm._roles",
    "Task": "loom_nb.swarm._plan",
    "Dep": "loom_nb.swarm._plan",
    "PlanError": "loom_nb.swarm._plan",
    "SwarmResult": "loom_nb.swarm._swarm",
}

__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension", *sorted(_EXPORTS)]


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext loom_nb`: registers %loom and %%loom (nothing heavy is imported yet)."""
    from .notebook._log import capture_logs
    from .notebook._magics import LoomMagics

    capture_logs()
    ipython.register_magics(LoomMagics(shell=ipython))


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext loom_nb`: stops running sessions and the swarm thread."""
    from .notebook import _runner

    if _runner._default is not None:
        _runner._default.shutdown()
        _runner._default = None


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'loom_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ loads them
    from .agents._loop import Agent as Agent
    from .agents._loop import AgentResult as AgentResult
    from .agents._sub_agent import Evidence as Evidence
    from .agents._sub_agent import Findings as Findings
    from .agents._sub_agent import asub_agent as asub_agent
    from .agents._sub_agent import asub_agents as asub_agents
    from .agents._sub_agent import sub_agent as sub_agent
    from .agents._sub_agent import sub_agents as sub_agents
    from .config import Config as Config
    from .config import load_config as load_config
    from .events import EventBus as EventBus
    from .graph._read import Graph as Graph
    from .graph._read import open_graph as open_graph
    from .graph._recorder import Recorder as Recorder
    from .graph._store import GraphStore as GraphStore
    from .models import get_model as get_model
    from .permissions._policy import Policy as Policy
    from .permissions._rules import Rule as Rule
    from .swarm._swarm import Swarm as Swarm
    from .swarm._swarm import SwarmResult as SwarmResult
