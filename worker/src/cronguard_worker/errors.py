"""Typed failures of task scale-in protection."""

from __future__ import annotations


class ProtectionError(Exception):
    """Base class: protection could not be put in the state the work needs."""


class ProtectionAccessDenied(ProtectionError):
    """The task role may not change (or read) its own protection.

    Never retried: it is a deployment mistake, and work must not start
    silently unprotected because of it.
    """


class ProtectionUnavailable(ProtectionError):
    """The ECS agent did not give a usable answer (after retries where they help)."""

    def __init__(self, reason: str, *, attempts: int) -> None:
        super().__init__(f"task protection unavailable after {attempts} attempt(s): {reason}")
        self.reason = reason
        self.attempts = attempts
