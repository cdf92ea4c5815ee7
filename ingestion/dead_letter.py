"""Dead-lettering of rejected messages: to the dead-letter topic and to ``rejected_readings``.

A rejected message goes to both places. The topic keeps the original bytes for replay after a fix;
the table makes rejections queryable next to the readings. Delivery is at least once: if the
ingester stops between dead-lettering a batch and committing its offsets, the re-delivered
messages are dead-lettered again. The table absorbs that (its unique key on source, position and
reason makes the insert a no-op); the topic may then carry a message twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from kafka import KafkaProducer
from kafka.errors import KafkaError

from aquafs.db import connect
from aquafs.errors import TransientError
from aquafs.settings import PostgresSettings

logger = logging.getLogger(__name__)

HEADER_REASON = "dlq-reason"
HEADER_DETAIL = "dlq-detail"
HEADER_SOURCE_TOPIC = "dlq-source-topic"
HEADER_SOURCE_PARTITION = "dlq-source-partition"
HEADER_SOURCE_OFFSET = "dlq-source-offset"
HEADER_EXPECTATION = "dlq-expectation"
"""Set for ``quality_check`` rejections: the failed Great Expectations expectation type(s), comma-separated."""

# Kafka headers and the detail column stay readable; a detail longer than this is cut.
_MAX_DETAIL_CHARS = 2000
_SEND_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Rejection:
    """One message that failed decoding or validation, with where it came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    payload: bytes | None
    headers: Sequence[tuple[str, bytes | None]]
    reason: str
    detail: str
    received_at: datetime
    expectation: str | None = None
    """Failed expectation type(s) of a ``quality_check`` rejection, comma-separated; None otherwise."""

    @property
    def source_position(self) -> str:
        """Position in the source as ``topic/partition/offset``, the form of ``rejected_readings``."""
        return f"{self.topic}/{self.partition}/{self.offset}"


class DeadLetterSink:
    """Sends rejections to the dead-letter topic and inserts them into ``rejected_readings``."""

    def __init__(self, producer: KafkaProducer, topic: str, postgres: PostgresSettings) -> None:
        self._producer = producer
        self._topic = topic
        self._postgres = postgres

    def publish(self, rejections: Sequence[Rejection]) -> None:
        """Write every rejection to the topic (flushed) and to the table.

        Raises:
            TransientError: the broker or PostgreSQL failed; calling again with the same
                rejections is safe.
        """
        if not rejections:
            return
        self._send_to_topic(rejections)
        self._insert_rows(rejections)

    def _send_to_topic(self, rejections: Sequence[Rejection]) -> None:
        try:
            futures = [
                self._producer.send(
                    self._topic,
                    key=rejection.key,
                    value=rejection.payload,
                    headers=_dead_letter_headers(rejection),
                )
                for rejection in rejections
            ]
            self._producer.flush(timeout=_SEND_TIMEOUT_SECONDS)
            for future in futures:
                future.get(timeout=_SEND_TIMEOUT_SECONDS)
        except KafkaError as error:
            message = f"cannot send {len(rejections)} message(s) to dead-letter topic {self._topic!r}: {error!r}"
            raise TransientError(message) from error

    def _insert_rows(self, rejections: Sequence[Rejection]) -> None:
        rows = [
            (
                rejection.topic,
                rejection.source_position,
                rejection.reason,
                rejection.detail[:_MAX_DETAIL_CHARS],
                rejection.payload,
                rejection.received_at,
            )
            for rejection in rejections
        ]
        try:
            with connect(self._postgres) as conn, conn.cursor() as cur:
                cur.executemany(
                    """
                    INSERT INTO rejected_readings (source, source_position, reason, detail, payload, received_at)
                    VALUES (%s, %s, %s, %s, %s, %s)
                    ON CONFLICT DO NOTHING
                    """,
                    rows,
                )
        except psycopg.OperationalError as error:
            message = f"cannot insert {len(rows)} row(s) into rejected_readings: {error}"
            raise TransientError(message) from error


def _dead_letter_headers(rejection: Rejection) -> list[tuple[str, bytes]]:
    headers = [(name, value) for name, value in rejection.headers if value is not None]
    headers.extend(
        [
            (HEADER_REASON, rejection.reason.encode("utf-8")),
            (HEADER_DETAIL, rejection.detail[:_MAX_DETAIL_CHARS].encode("utf-8")),
            (HEADER_SOURCE_TOPIC, rejection.topic.encode("utf-8")),
            (HEADER_SOURCE_PARTITION, str(rejection.partition).encode("ascii")),
            (HEADER_SOURCE_OFFSET, str(rejection.offset).encode("ascii")),
        ]
    )
    if rejection.expectation is not None:
        headers.append((HEADER_EXPECTATION, rejection.expectation.encode("utf-8")))
    return headers

