"""Kafka ingester: readings topic → validation → streamed features → Feast push → offset commit.

Run it as ``aqua-ingester`` (or ``python -m ingestion.ingester``); ``--help`` lists the options.

Delivery is at least once, and the stores make it effectively once. Per batch the ingester

1. decodes and validates every message, then checks the valid readings of the batch against the
   ``water_readings_raw`` suite (off with ``--no-quality-checks``); a rejected message goes to the
   dead-letter topic and to ``rejected_readings`` (:mod:`ingestion.dead_letter`), a failed
   batch-level expectation is logged and counted,
2. computes streamed features per reading, with one feature stream per partition,
3. pushes readings and features to the offline and online stores (:mod:`ingestion.store_writer`),
4. commits the offsets synchronously, and only then polls again.

A failure of the broker, Redis or PostgreSQL in steps 1-4 is retried with capped exponential
backoff and nothing is committed meanwhile, so a crash or kill at any point re-delivers the batch.
The offline store ignores rows it already contains and the Redis store ignores rows older than the
stored one, so re-delivery neither duplicates history nor moves the online value back in time.

SIGTERM and SIGINT end the loop after the current batch is committed; the exit status is 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import TypeVar

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from aquafs.errors import AquaError, TransientError
from aquafs.logs import configure_logging
from aquafs.settings import KafkaSettings, PostgresSettings, Settings, load_settings
from ingestion.audit import record_batch
from ingestion.batch import BatchResult, FeatureStream, PartitionState, process_records
from ingestion.cli_types import positive_int
from ingestion.dead_letter import DeadLetterSink
from ingestion.metrics import IngesterMetrics
from ingestion.rebalance import RebalanceTracker
from ingestion.retry import BackoffPolicy, RetryAborted, retry_transient
from ingestion.store_writer import FEATURES_PUSH_SOURCE, StoreWriter
from quality.runner import QualityRunner

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
T = TypeVar("T")
# How often the consumer refreshes topic metadata, in milliseconds (kafka-python default: 5 min).
METADATA_MAX_AGE_MS = 10_000


def utc_now() -> datetime:
    """Return the current time, UTC-aware."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class IngesterConfig:
    """Ingester settings: topics, group, batching and retries. Every field has a matching ``aqua-ingester`` option."""

    topic: str
    group_id: str
    dead_letter_topic: str
    batch_size: int = 500
    """Maximum messages per batch (``max_records`` of one poll)."""
    poll_timeout_ms: int = 1000
    """How long one poll waits for messages, in milliseconds."""
    max_batches: int | None = None
    """Stop after this many non-empty batches; None runs until stopped."""
    idle_exit_seconds: float | None = None
    """Stop after this many seconds without a message; None waits forever."""
    max_poll_interval_ms: int = 300_000
    """Kafka's limit on the time between polls. A batch that retries longer than this loses its
    partitions; they are re-delivered to the group, so nothing is lost, only repeated."""
    session_timeout_ms: int = 45_000
    """How long the group waits for a silent member (a crashed ingester) before reassigning its
    partitions, in milliseconds."""
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    quality_checks: bool = True
    """Check each batch's valid readings against the ``water_readings_raw`` suite."""


class Ingester:
    """Consumes the readings topic in a consumer group and writes each batch to both stores."""

    def __init__(
        self,
        config: IngesterConfig,
        *,
        kafka: KafkaSettings,
        postgres: PostgresSettings,
        writer: StoreWriter,
        feature_stream_factory: Callable[[], FeatureStream] | None = None,
        metrics: IngesterMetrics | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.config = config
        self.metrics = metrics or IngesterMetrics()
        self.stop_event = threading.Event()
        self._postgres = postgres
        self._writer = writer
        self._feature_stream_factory = feature_stream_factory
        self._clock = clock
        self._partitions: dict[TopicPartition, PartitionState] = {}
        # One runner per ingester: it registers the suite once and reuses it for every batch.
        self._quality_runner = QualityRunner() if config.quality_checks else None
        self._tracker = RebalanceTracker(on_drop=self._drop_partition_state)
        self._consumer = KafkaConsumer(
            group_id=config.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=config.batch_size,
            max_poll_interval_ms=config.max_poll_interval_ms,
            session_timeout_ms=config.session_timeout_ms,
            heartbeat_interval_ms=max(1000, config.session_timeout_ms // 3),
            client_id=f"aqua-ingester-{config.group_id}",
            # A group can form before the broker has metadata for a new topic, which leaves every
            # member without a partition. A short metadata age brings the rebalance that fixes it sooner.
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
            **kafka.client_options(),
        )
        self._producer = KafkaProducer(
            acks="all",
            retries=5,
            linger_ms=5,
            client_id=f"aqua-ingester-dlq-{config.group_id}",
            **kafka.client_options(),
        )
        self._dead_letters = DeadLetterSink(self._producer, config.dead_letter_topic, postgres)

    def request_stop(self) -> None:
        """Ask the loop to stop after the current batch; safe from signal handlers and threads."""
        self.stop_event.set()

    def run(self) -> int:
        """Consume until stopped, ``max_batches`` is reached or the topic is idle long enough.

        Returns:
            The process exit status: 0 after a clean stop, also when a stop request interrupted
            a batch that was still retrying (that batch stays uncommitted and is re-delivered).
        """
        self._consumer.subscribe([self.config.topic], listener=self._tracker)
        logger.info(
            "ingester started: topic %s, group %s, batch size %d",
            self.config.topic, self.config.group_id, self.config.batch_size,
        )
        batches = 0
        last_message_at = time.monotonic()
        try:
            while not self.stop_event.is_set():
                polled = self._consumer.poll(
                    timeout_ms=self.config.poll_timeout_ms, max_records=self.config.batch_size
                )
                if not polled:
                    if self._tracker.last_change is None or not self._consumer.assignment():
                        # Joining the group, waiting out a dead member's session, or holding no
                        # partition yet is not idleness.
                        continue
                    idle_seconds = time.monotonic() - max(last_message_at, self._tracker.last_change)
                    if self.config.idle_exit_seconds is not None and idle_seconds >= self.config.idle_exit_seconds:
                        logger.info("no message for %.1f s; stopping", idle_seconds)
                        break
                    continue
                last_message_at = time.monotonic()
                try:
                    self._handle_batch(polled)
                except RetryAborted as error:
                    logger.warning("stopping with an uncommitted batch, which will be re-delivered: %s", error)
                    break
                batches += 1
                if self.config.max_batches is not None and batches >= self.config.max_batches:
                    logger.info("processed %d batches; stopping", batches)
                    break
        finally:
            self._close()
        return 0

    def _handle_batch(self, polled: dict[TopicPartition, list]) -> None:
        started = time.monotonic()
        started_at = self._clock()
        self._tracker.begin_batch()
        for partition, records in polled.items():
            self.metrics.consumed.labels(partition.topic).inc(len(records))

        result = process_records(
            polled,
            partitions=self._partitions,
            feature_stream_factory=self._feature_stream_factory,
            received_at=started_at,
            quality_runner=self._quality_runner,
            quality_checks=self.config.quality_checks,
        )
        self._retry("dead_letter", lambda: self._dead_letters.publish(result.rejections))

        def write() -> tuple[int, datetime]:
            # available_at is the time the rows became readable, so it is taken per attempt.
            available_at = self._clock()
            new_rows = self._writer.write(result.readings_frame(available_at), result.features_frame(available_at))
            return new_rows, self._clock()

        new_rows, online_at = self._retry("store_write", write)
        committed = self._commit(result)
        self._observe(result, new_rows, committed, online_at, started, started_at)

    def _commit(self, result: BatchResult) -> dict[TopicPartition, int]:
        # NOTE: a revocation that lands between this check and the commit request is not caught
        # here; the broker then rejects the commit (CommitFailedError) if the generation changed.
        offsets = {
            partition: OffsetAndMetadata(next_offset, "", -1)
            for partition, next_offset in result.next_offsets.items()
            if not self._tracker.was_revoked(partition)
        }
        if not offsets:
            return {}

        def commit() -> None:
            try:
                self._consumer.commit(offsets)
            except KafkaError as error:
                if error.retriable:
                    raise TransientError(f"offset commit failed: {error}") from error
                raise

        try:
            self._retry("commit", commit)
        except CommitFailedError as error:
            # The group rebalanced while the batch was written. The new owner of each partition
            # starts from the last commit, and the idempotent stores absorb the repeat.
            logger.warning("offset commit rejected after a rebalance; the batch will be re-delivered: %s", error)
            for partition in offsets:
                self._drop_partition_state(partition)
            return {}
        return {partition: offset.offset for partition, offset in offsets.items()}

    def _observe(
        self,
        result: BatchResult,
        new_rows: int,
        committed: dict[TopicPartition, int],
        online_at: datetime,
        started: float,
        started_at: datetime,
    ) -> None:
        topic = self.config.topic
        self.metrics.written.labels(topic).inc(len(result.readings))
        self.metrics.duplicates.labels(topic).inc(result.duplicates)
        for rejection in result.rejections:
            self.metrics.dead_lettered.labels(topic, rejection.reason).inc()
        if self.config.quality_checks:
            self.metrics.quality_check_seconds.observe(result.quality_seconds)
        for failure in result.batch_failures:
            self.metrics.batch_expectation_failures.labels(topic, failure.expectation).inc()
        if result.batch_failures:
            logger.warning(
                "batch of %d messages on %s failed batch-level expectation(s) %s; its readings are written all the same",
                result.consumed,
                topic,
                "; ".join(failure.describe() for failure in result.batch_failures),
                extra={"topic": topic, "batch_size": result.consumed},
            )
        freshness = [(online_at - row["event_timestamp"]).total_seconds() for row in result.readings]
        for seconds in freshness:
            self.metrics.freshness_seconds.observe(max(0.0, seconds))
        lag = self._update_lag(committed)
        elapsed = time.monotonic() - started
        self.metrics.batch_seconds.observe(elapsed)

        record_batch(
            self._postgres,
            source=topic,
            rows_read=result.consumed,
            rows_written=new_rows,
            rows_rejected=len(result.rejections),
            rows_duplicate=result.duplicates + len(result.readings) - new_rows,
            started_at=started_at,
            finished_at=self._clock(),
            offsets={f"{partition.partition}": offset for partition, offset in committed.items()},
        )
        logger.info(
            "batch: %d consumed, %d written (%d new offline), %d dead-lettered, %d duplicate in batch, "
            "%d late; committed %s; lag %s; freshness p50 %s; %.3f s (quality check %.3f s)",
            result.consumed,
            len(result.readings),
            new_rows,
            len(result.rejections),
            result.duplicates,
            result.late,
            _format_offsets(committed),
            _format_offsets(lag),
            f"{statistics.median(freshness):.1f} s" if freshness else "n/a",
            elapsed,
            result.quality_seconds,
            extra={"topic": topic, "batch_size": result.consumed},
        )

    def _update_lag(self, committed: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        lag: dict[TopicPartition, int] = {}
        for partition, offset in committed.items():
            try:
                highwater = self._consumer.highwater(partition)
            except KafkaError:
                continue  # no longer assigned
            if highwater is None:
                continue
            lag[partition] = max(0, highwater - offset)
            self.metrics.lag.labels(partition.topic, str(partition.partition)).set(lag[partition])
        return lag

    def _retry(self, step: str, operation: Callable[[], T]) -> T:
        return retry_transient(
            step,
            operation,
            policy=self.config.backoff,
            stop_event=self.stop_event,
            on_retry=lambda name: self.metrics.retries.labels(name).inc(),
        )

    def _drop_partition_state(self, partition: TopicPartition) -> None:
        if self._partitions.pop(partition, None) is not None:
            logger.info("dropped in-memory state of %s[%d]", partition.topic, partition.partition)

    def _close(self) -> None:
        try:
            self._producer.flush(timeout=10)
            self._producer.close(timeout=10)
        finally:
            self._consumer.close(autocommit=False)
        logger.info("ingester stopped: topic %s, group %s", self.config.topic, self.config.group_id)


def _format_offsets(offsets: dict[TopicPartition, int]) -> str:
    if not offsets:
        return "{}"
    return "{" + ", ".join(f"{p.partition}: {o}" for p, o in sorted(offsets.items())) + "}"


# -------------------------------------------------------------------------------------------------
# Command line


def build_parser(settings: Settings | None = None) -> argparse.ArgumentParser:
    """Return the ``aqua-ingester`` argument parser; defaults come from ``settings`` when given."""
    kafka = settings.kafka if settings is not None else KafkaSettings()
    parser = argparse.ArgumentParser(
        prog="aqua-ingester",
        description=(
            "Consume sensor readings from Kafka, validate them, compute streamed features and push "
            "both to the Feast offline (PostgreSQL/TimescaleDB) and online (Redis) stores. Rejected "
            "messages go to the dead-letter topic and the rejected_readings table. Offsets are "
            "committed only after both stores hold a batch. Endpoints come from AQUA_* variables."
        ),
    )
    parser.add_argument("--topic", default=kafka.readings_topic,
                        help="readings topic to consume (default: %(default)s, AQUA_KAFKA__READINGS_TOPIC)")
    parser.add_argument("--group", default=kafka.consumer_group,
                        help="consumer group id; ingesters in one group share the partitions "
                             "(default: %(default)s, AQUA_KAFKA__CONSUMER_GROUP)")
    parser.add_argument("--dead-letter-topic", default=kafka.dead_letter_topic,
                        help="topic for rejected messages (default: %(default)s, AQUA_KAFKA__DEAD_LETTER_TOPIC)")
    parser.add_argument("--batch-size", type=positive_int, default=500,
                        help="maximum messages per batch, i.e. per write and commit (default: %(default)s)")
    parser.add_argument("--poll-timeout-ms", type=positive_int, default=1000,
                        help="how long one poll waits for messages, in milliseconds (default: %(default)s)")
    parser.add_argument("--max-batches", type=positive_int, default=None,
                        help="stop after this many non-empty batches (default: run until stopped)")
    parser.add_argument("--idle-exit-seconds", type=float, default=None,
                        help="stop after this many seconds without a message (default: wait forever)")
    parser.add_argument("--feast-project", default=None,
                        help="Feast project to write to instead of the one in feature_store.yaml")
    parser.add_argument("--metrics-port", type=int, default=0,
                        help="serve Prometheus metrics on this TCP port; 0 turns them off (default: 0)")
    parser.add_argument("--metrics-host", default="127.0.0.1",
                        help="address the metrics server binds to (default: %(default)s)")
    parser.add_argument("--session-timeout-ms", type=positive_int, default=45_000,
                        help="how long the group waits for a silent member before giving its partitions "
                             "to others, in milliseconds (default: %(default)s)")
    parser.add_argument("--max-retry-delay-seconds", type=float, default=30.0,
                        help="cap of the exponential backoff between retries of a failed write, in "
                             "seconds (default: %(default)s)")
    parser.add_argument("--no-features", action="store_true",
                        help="write readings only, without streamed features")
    parser.add_argument("--no-quality-checks", action="store_true",
                        help="skip the Great Expectations check of each batch (water_readings_raw suite); "
                             "validate_reading still rejects invalid messages")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ingester until SIGTERM/SIGINT, ``--max-batches`` or ``--idle-exit-seconds``."""
    settings = load_settings()
    args = build_parser(settings).parse_args(argv)
    configure_logging(settings)

    # Imported here so that --help works without touching Feast.
    from aquafs.feast_store import open_store

    store = open_store(settings, project=args.feast_project)
    stream_factory = None if args.no_features else default_feature_stream_factory()
    writer = StoreWriter(store, features_push_source=None if stream_factory is None else FEATURES_PUSH_SOURCE)
    if not writer.writes_features:
        stream_factory = None
    metrics = IngesterMetrics()
    config = IngesterConfig(
        topic=args.topic,
        group_id=args.group,
        dead_letter_topic=args.dead_letter_topic,
        batch_size=args.batch_size,
        poll_timeout_ms=args.poll_timeout_ms,
        max_batches=args.max_batches,
        idle_exit_seconds=args.idle_exit_seconds,
        session_timeout_ms=args.session_timeout_ms,
        backoff=BackoffPolicy(max_seconds=args.max_retry_delay_seconds),
        quality_checks=not args.no_quality_checks,
    )
    try:
        ingester = Ingester(
            config,
            kafka=settings.kafka,
            postgres=settings.postgres,
            writer=writer,
            feature_stream_factory=stream_factory,
            metrics=metrics,
        )
    except KafkaError as error:
        logger.error("cannot connect to Kafka at %s: %s", settings.kafka.bootstrap_servers, error)
        return 1

    def stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s; stopping after the current batch", signal.Signals(signum).name)
        ingester.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    metrics.serve(args.metrics_port, host=args.metrics_host)
    try:
        return ingester.run()
    except AquaError as error:
        logger.error("ingester stopped on an error it cannot retry: %s", error)
        return 1


def default_feature_stream_factory() -> Callable[[], FeatureStream] | None:
    """Return the constructor of the ``transforms`` streaming features, or None if it is missing."""
    try:
        from transforms.stream import StreamFeatureEngine
    except ImportError:
        logger.warning("transforms.stream is not available; writing readings without features")
        return None
    return StreamFeatureEngine


if __name__ == "__main__":
    # Run the imported module's main, so that loggers are named ingestion.ingester, not __main__.
    from ingestion.ingester import main as module_main

    sys.exit(module_main())
