"""Permissions: rules, presets and decisions for every tool call (no UI: the faces show the asks).

`Policy.load(project=".")` reads `.loom.toml [permissions]`; `policy.decide(tool, arguments)` says
allow, ask or deny, with the rule that decided.
"""

from ._approvals import Answer, ApprovalQueue, ApprovalRequest, NoSuchApproval
from ._command import SubCommand, UnclearCommand, split_command
from ._gate import GateResult, OnAsk, PermissionGate
from ._policy import CATEGORIES, PRESETS, Category, Decision, Hook, Policy
from ._rules import Action, PolicyError, Rule

__all__ = [
    "CATEGORIES",
    "PRESETS",
    "Action",
    "Answer",
    "ApprovalQueue",
    "ApprovalRequest",
    "Category",
    "Decision",
    "GateResult",
    "Hook",
    "NoSuchApproval",
    "OnAsk",
    "PermissionGate",
    "Policy",
    "PolicyError",
    "Rule",
    "SubCommand",
    "UnclearCommand",
    "split_command",
]
