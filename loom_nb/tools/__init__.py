"""Tools agents call. Each has a name, a JSON schema, an async function and a permission class;
every path resolves inside the tool's scope."""

from ._base import Permission, Tool, ToolContext, ToolError
from ._decisions import decision_log, decision_query
from ._files import directory_list, file_read, file_search
from ._scope import Scope, ScopeError
from ._search import Match, content_search, ripgrep_path, search

READ_ONLY_TOOLS: tuple[Tool, ...] = (file_read, file_search, content_search, directory_list)
"""The four tools a sub-agent gets."""

__all__ = [
    "READ_ONLY_TOOLS",
    "Match",
    "Permission",
    "Scope",
    "ScopeError",
    "Tool",
    "ToolContext",
    "ToolError",
    "content_search",
    "decision_log",
    "decision_query",
    "directory_list",
    "file_read",
    "file_search",
    "ripgrep_path",
    "search",
]
