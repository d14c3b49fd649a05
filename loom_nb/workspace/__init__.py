"""Workspaces: a git worktree per run that may write, commits per edit, diff, merge, undo, discard."""

from ._git import GitError
from ._workspace import Commit, Workspace, WorkspaceError, WorkspaceInfo

__all__ = ["Commit", "GitError", "Workspace", "WorkspaceError", "WorkspaceInfo"]
