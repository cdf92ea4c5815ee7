"""Project exceptions.

Every error derives from :class:`AquaError`. :class:`TransientError` marks failures that a retry
can cure (a store or the broker is down); :class:`TerminalError` marks those it cannot (bad
configuration, invalid data), so callers know whether to retry, dead-letter or stop.
"""

from __future__ import annotations


class AquaError(Exception):
    """Base class of the project's errors."""


class TransientError(AquaError):
    """A failure that may succeed on retry: a connection refused or timed out, a server restarting."""


class TerminalError(AquaError):
    """A failure that a retry cannot fix."""


class ConfigError(TerminalError):
    """Missing or invalid configuration; the message lists every problem found."""


class MigrationError(TerminalError):
    """A schema migration failed or the applied history does not match the files."""


class InvalidReadingError(TerminalError):
    """A sensor reading failed validation; ``reason`` is a stable, machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
