"""Tools agents call. Each has a name, a JSON schema, an async function and a permission class;
every path resolves inside the tool's scope."""

from ._base import Permission, Tool, ToolContext, ToolError
from ._decisions import decision_log, decision_query
from ._files import directory_list, file_read, file_search
from ._review import workspace_diff
from ._scope import Scope, ScopeError
from ._search import Match, content_search, ripgrep_path, search
from ._shell import SandboxStatus, clean_environment, sandbox_status, shell
from ._tests import TestResults, parse_junit, run_tests
from ._write import WRITE_TOOLS, file_delete, file_edit, file_move, file_write

READ_ONLY_TOOLS: tuple[Tool, ...] = (file_read, file_search, content_search, directory_list)
"""The four tools a sub-agent gets."""

HANDS_TOOLS: tuple[Tool, ...] = (*WRITE_TOOLS, shell)
"""What may change the workspace: every call is decided by the permission policy first."""

__all__ = [
    "HANDS_TOOLS",
    "READ_ONLY_TOOLS",
    "WRITE_TOOLS",
    "Match",
    "Permission",
    "SandboxStatus",
    "Scope",
    "ScopeError",
    "TestResults",
    "Tool",
    "ToolContext",
    "ToolError",
    "clean_environment",
    "content_search",
    "decision_log",
    "decision_query",
    "directory_list",
    "file_delete",
    "file_edit",
    "file_move",
    "file_read",
    "file_search",
    "file_write",
    "parse_junit",
    "ripgrep_path",
    "run_tests",
    "sandbox_status",
    "search",
    "shell",
    "workspace_diff",
]
