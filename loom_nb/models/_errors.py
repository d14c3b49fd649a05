"""Errors a model call can end with. Messages say what to do; none ever contains a key."""

from __future__ import annotations

__all__ = ["MissingAPIKey", "ModelError", "ModelRequestBlocked", "UnknownModel"]


class ModelError(RuntimeError):
    """A model call failed for good (after its retries, or on a non-retryable error)."""

    def __init__(self, message: str, *, status_code: int | None = None, retries: int = 0) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retries = retries


class MissingAPIKey(ModelError):
    """The provider needs a key and none is configured; the message names the variable."""

    def __init__(self, model: str, env_vars: list[str]) -> None:
        names = " or ".join(env_vars)
        super().__init__(
            f"{model} needs an API key: set {names} in the environment, or run without one on the "
            "offline model (--model offline, or model='offline' in Python)"
        )
        self.env_vars = env_vars


class ModelRequestBlocked(ModelError):
    """LOOM_NB_ONLY_LOCAL_MODELS is set (test suites) and the request would leave 127.0.0.1."""


class UnknownModel(ValueError):
    """The model string has no recognisable form."""
