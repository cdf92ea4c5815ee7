"""Rebalance listener of the ingester: forget uncommitted work of partitions the group takes away."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kafka import ConsumerRebalanceListener
from kafka.structs import TopicPartition

logger = logging.getLogger(__name__)


class RebalanceTracker(ConsumerRebalanceListener):
    """Records revoked or lost partitions and drops their in-memory state.

    kafka-python calls the listener on its IO thread, so the set of revoked partitions is guarded
    by a lock. The ingester resets it at the start of each batch and skips the commit of every
    partition revoked since then: the new owner re-reads those messages from the last commit.
    """

    def __init__(self, on_drop: Callable[[TopicPartition], None]) -> None:
        self._on_drop = on_drop
        self._lock = threading.Lock()
        self._revoked: set[TopicPartition] = set()
        self.last_change: float | None = None
        """Monotonic time of the last assignment or revocation; None before the first join."""
        self.assigned: frozenset[TopicPartition] = frozenset()
        """Partitions this consumer owns now, as the group last assigned them."""

    def begin_batch(self) -> None:
        """Forget revocations of earlier batches."""
        with self._lock:
            self._revoked.clear()

    def was_revoked(self, partition: TopicPartition) -> bool:
        """Return whether ``partition`` was revoked or lost since the current batch began."""
        with self._lock:
            return partition in self._revoked

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._forget(revoked, "revoked")

    def on_partitions_lost(self, lost: list[TopicPartition]) -> None:
        self._forget(lost, "lost")

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.last_change = time.monotonic()
        self.assigned = self.assigned | frozenset(assigned)
        logger.info("partitions assigned: %s", _describe(assigned))

    def _forget(self, partitions: list[TopicPartition], how: str) -> None:
        if not partitions:
            return
        logger.info("partitions %s: %s", how, _describe(partitions))
        self.last_change = time.monotonic()
        self.assigned = self.assigned - frozenset(partitions)
        with self._lock:
            self._revoked.update(partitions)
        for partition in partitions:
            self._on_drop(partition)


def _describe(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{p.topic}[{p.partition}]" for p in sorted(partitions)) or "none"
