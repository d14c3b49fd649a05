"""Agents: the agent loop and Loom's read-only sub-agent."""

from ._loop import Agent, AgentResult
from ._sub_agent import Evidence, Findings, asub_agent, asub_agents, sub_agent, sub_agent_tool, sub_agents

__all__ = [
    "Agent",
    "AgentResult",
    "Evidence",
    "Findings",
    "asub_agent",
    "asub_agents",
    "sub_agent",
    "sub_agent_tool",
    "sub_agents",
]
