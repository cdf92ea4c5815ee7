"""Retry with capped exponential backoff for the ingester's writes to the broker and the stores."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from aquafs.errors import AquaError, TransientError

logger = logging.getLogger(__name__)

T = TypeVar("T")
"""Return type of the retried operation."""


class RetryAborted(AquaError):
    """A stop was requested while an operation was still failing; nothing was committed."""


@dataclass(frozen=True)
class BackoffPolicy:
    """Delays between attempts: ``initial_seconds`` doubling up to ``max_seconds``, with jitter."""

    initial_seconds: float = 0.5
    max_seconds: float = 30.0
    jitter_fraction: float = 0.2
    """Each delay is multiplied by a random factor in [1 - jitter, 1 + jitter] so that several
    ingesters do not hammer a recovering store in step."""

    def delay_seconds(self, attempt: int) -> float:
        """Return the delay after failed attempt number ``attempt`` (1-based)."""
        base = min(self.max_seconds, self.initial_seconds * (2 ** (attempt - 1)))
        factor = 1 + random.uniform(-self.jitter_fraction, self.jitter_fraction)
        return max(0.0, base * factor)


def retry_transient(
    step: str,
    operation: Callable[[], T],
    *,
    policy: BackoffPolicy,
    stop_event: threading.Event,
    on_retry: Callable[[str], None] | None = None,
) -> T:
    """Run ``operation`` until it succeeds, retrying every :class:`TransientError`.

    There is no attempt limit: the ingester must not lose or skip data while a store is down, so it
    waits and keeps its offsets uncommitted. Other exceptions propagate at once.

    Args:
        step: name of the operation for logs and the retry metric, e.g. ``store_write``.
        stop_event: when set, the wait ends early and :class:`RetryAborted` is raised.
        on_retry: called with ``step`` before each wait.

    Raises:
        RetryAborted: a stop was requested while the operation kept failing.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            result = operation()
        except TransientError as error:
            if stop_event.is_set():
                raise RetryAborted(f"{step} still failing after {attempt} attempts at stop: {error}") from error
            delay = policy.delay_seconds(attempt)
            logger.warning(
                "%s failed (attempt %d), retrying in %.1f s: %s",
                step,
                attempt,
                delay,
                error,
                extra={"step": step, "attempt": attempt},
            )
            if on_retry is not None:
                on_retry(step)
            if stop_event.wait(delay):
                raise RetryAborted(f"{step} still failing after {attempt} attempts at stop: {error}") from error
            continue
        if attempt > 1:
            logger.info("%s succeeded after %d attempts", step, attempt, extra={"step": step, "attempt": attempt})
        return result
