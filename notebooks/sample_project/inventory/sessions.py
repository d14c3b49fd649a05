"""Logged-in users: sessions are saved in memory and expire after the configured lifetime."""

import secrets
import time


class SessionStore:
    def __init__(self, lifetime_minutes: int) -> None:
        self.lifetime = lifetime_minutes * 60
        self._sessions: dict[str, tuple[str, float]] = {}

    def create(self, user: str) -> str:
        """Save a new session for the user and return its token."""
        token = secrets.token_urlsafe(16)
        self._sessions[token] = (user, time.time() + self.lifetime)
        return token

    def user(self, token: str) -> str | None:
        entry = self._sessions.get(token)
        if entry is None or entry[1] < time.time():
            self._sessions.pop(token, None)
            return None
        return entry[0]
