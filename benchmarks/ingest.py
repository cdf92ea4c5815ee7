"""End-to-end ingest: Kafka topic → in-process ``Ingester`` → both stores → committed offsets.

Three cases on topics of 3 partitions that exist only for the run:

- throughput with streamed features off and on, timed from ``Ingester.run()`` until every offset is
  committed, with the wall time split into stages by timers around the ingester's steps,
- the raw floor: a plain ``KafkaConsumer`` reading the same topic, without decoding,
- freshness: a producer subprocess (a separate interpreter, so it does not share the ingester's
  GIL) sends at a fixed rate with event time = send time, and each reading's delay from event time
  to the end of its online write is recorded.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic
from kafka.structs import TopicPartition

import aquafs.feast_store
import aquafs.redis_online
import ingestion.batch
import ingestion.ingester
from aquafs.settings import Settings
from benchmarks.environment import BenchEnvironment
from benchmarks.processes import REPO_ROOT
from benchmarks.timing import percentile
from ingestion.batch import BatchResult
from ingestion.ingester import Ingester, IngesterConfig, default_feature_stream_factory
from ingestion.producer import ReadingProducer, pace
from ingestion.store_writer import FEATURES_PUSH_SOURCE, StoreWriter
from ingestion.synthetic import SyntheticConfig, synthetic_messages

logger = logging.getLogger(__name__)

PARTITIONS = 3
PONDS = 25
SENSORS_PER_POND = 4
BATCH_SIZE = 500
# Freshness target: p99 from event time to online availability, in seconds.
FRESHNESS_P99_TARGET_S = 1.0
# An offered rate well below the measured throughput with features on, in readings/s.
LOW_RATE = 200.0
KEPT_UP_SHARE = 0.95


def run_ingest(
    environment: BenchEnvironment, readings: int, freshness_rate: float, freshness_seconds: float
) -> dict[str, Any]:
    """Measure ingest throughput (features off and on), the raw consume floor and freshness.

    Freshness runs three times for ``freshness_seconds``: at ``freshness_rate`` as deployed
    (features and quality checks on), then at ``LOW_RATE``, which the ingester sustains, with the
    quality checks on and off, to show the delay that each batch's fixed costs add.
    """
    settings = environment.settings
    entry: dict[str, Any] = {
        "case": f"{readings:,} readings, {PARTITIONS} partitions, {PONDS * SENSORS_PER_POND} sensors, "
                f"batch size {BATCH_SIZE}",
        "readings": readings,
        "batch_size": BATCH_SIZE,
    }
    run_id = uuid.uuid4().hex[:8]
    for label, features in (("features_off", False), ("features_on", True)):
        # Each case gets its own site, so its rows are new to both stores and none is skipped.
        site = f"bench-{label.replace('_', '-')}-{run_id}"
        with _topic(settings, f"bench-ingest-{label}-{run_id}") as topic:
            entry[f"produce_{label}"] = _produce(settings, topic, site, readings)
            if not features:
                entry["raw_consume"] = _raw_consume(settings, topic, readings)
            entry[label] = _timed_ingest(environment, topic, readings, features=features)
    floor = entry["raw_consume"]["readings_per_s"]
    for label in ("features_off", "features_on"):
        entry[label]["share_of_raw_consume"] = entry[label]["readings_per_s"] / floor
    entry["freshness"] = []
    for index, (rate, quality_checks) in enumerate(
        ((freshness_rate, True), (LOW_RATE, True), (LOW_RATE, False))
    ):
        name = f"bench-fresh-{index}-{run_id}"
        with _topic(settings, name) as topic:
            entry["freshness"].append(
                _freshness(environment, topic, name, rate, freshness_seconds, quality_checks=quality_checks)
            )
    return entry


# -------------------------------------------------------------------------------------------------
# Topics and producing


@contextlib.contextmanager
def _topic(settings: Settings, name: str) -> Iterator[str]:
    """Create ``name`` and its dead-letter topic with ``PARTITIONS`` partitions, then delete both."""
    admin = KafkaAdminClient(**settings.kafka.client_options())
    topics = [name, f"{name}.dlq"]
    try:
        admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1) for topic in topics])
        yield name
    finally:
        try:
            admin.delete_topics(topics)
        finally:
            admin.close()


def _produce(settings: Settings, topic: str, site: str, count: int) -> dict[str, Any]:
    """Send ``count`` synthetic readings as fast as possible, with event times up to now."""
    sensors = PONDS * SENSORS_PER_POND
    # Each sensor's readings are one second apart and the last one is a second old, so none is
    # in the future and none repeats a (sensor, event time) pair.
    interval = 1.0 / sensors
    start = datetime.now(UTC) - timedelta(seconds=count * interval + 1)
    config = SyntheticConfig(
        site_id=site, ponds=PONDS, sensors_per_pond=SENSORS_PER_POND, count=count, seed=3,
        start=start, interval_seconds=interval,
    )
    producer = ReadingProducer(settings.kafka, topic)
    started = time.perf_counter()
    pace(producer, synthetic_messages(config), rate_per_second=0)
    stats = producer.close()
    seconds = time.perf_counter() - started
    if stats.sent != count:
        raise RuntimeError(f"producer acknowledged {stats.sent} of {count} messages to {topic} ({stats.failed} failed)")
    return {"messages": count, "seconds": seconds, "messages_per_s": count / seconds}


def _raw_consume(settings: Settings, topic: str, count: int) -> dict[str, Any]:
    """Read ``count`` messages of ``topic`` with a plain consumer (no group, no decoding)."""
    consumer = KafkaConsumer(
        auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=BATCH_SIZE,
        **settings.kafka.client_options(),
    )
    try:
        consumer.assign([TopicPartition(topic, partition) for partition in range(PARTITIONS)])
        consumer.seek_to_beginning()
        started = time.perf_counter()
        received = 0
        deadline = time.monotonic() + 120
        while received < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500, max_records=BATCH_SIZE).values():
                received += len(records)
        seconds = time.perf_counter() - started
    finally:
        consumer.close(autocommit=False)
    return {"messages": received, "seconds": seconds, "readings_per_s": received / seconds}


# -------------------------------------------------------------------------------------------------
# The timed ingester


class _StageClock:
    """Accumulated wall time per stage, filled by wrappers around the ingester's steps."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - started

        return timed


@contextlib.contextmanager
def _stage_timers(clock: _StageClock) -> Iterator[None]:
    """Wrap the module-level steps that the ingester calls by name; restore them on exit.

    The ingester's modules look these names up on every call, so replacing
    the module attribute times every use without changing the code under test.
    """
    targets = [
        (ingestion.ingester, "process_records", "decode_validate"),
        (ingestion.batch, "_check_quality", "quality_check"),
        (ingestion.batch, "_add_features", "features"),
        (aquafs.feast_store, "connect", "offline_write"),
        (aquafs.feast_store, "write_arrow_table", "offline_write"),
        (aquafs.redis_online.OnlineWriter, "write", "online_write"),
        (ingestion.ingester, "record_batch", "audit_row"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]
    try:
        for owner, name, stage in targets:
            setattr(owner, name, clock.wrap(stage, getattr(owner, name)))
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


class _TimedIngester(Ingester):
    """An ``Ingester`` that times its commits and stops once every offset up to ``end_offsets`` is committed."""

    def __init__(self, *args: Any, end_offsets: dict[TopicPartition, int], clock: _StageClock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.end_offsets = end_offsets
        self._reached: dict[TopicPartition, int] = {}
        self._stage_clock = clock
        self.first_batch_at: float | None = None
        self.batches = 0
        self.all_committed_at: float | None = None
        self._consumer.poll = clock.wrap("kafka_poll", self._consumer.poll)  # type: ignore[method-assign]

    def _handle_batch(self, polled: dict[TopicPartition, list]) -> None:
        if self.first_batch_at is None:
            self.first_batch_at = time.perf_counter()
        self.batches += 1
        super()._handle_batch(polled)

    def _commit(self, result: BatchResult) -> dict[TopicPartition, int]:
        started = time.perf_counter()
        committed = super()._commit(result)
        self._stage_clock.seconds["commit"] += time.perf_counter() - started
        self._reached.update(committed)
        self.stop_when_all_committed()
        return committed

    def stop_when_all_committed(self) -> None:
        """Stop the loop once the committed offsets reach ``end_offsets`` (empty: not known yet)."""
        if self.all_committed_at is not None or not self.end_offsets:
            return
        if all(self._reached.get(tp, -1) >= end for tp, end in self.end_offsets.items()):
            self.all_committed_at = time.perf_counter()
            self.request_stop()


class _RecordingWriter(StoreWriter):
    """A ``StoreWriter`` that records each written reading's event time and when its write ended."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.freshness_seconds: list[float] = []

    def write(self, readings: pd.DataFrame, features: pd.DataFrame | None) -> int:
        new_rows = super().write(readings, features)
        online_at = pd.Timestamp.now(tz="UTC")
        self.freshness_seconds.extend((online_at - readings["event_timestamp"]).dt.total_seconds().tolist())
        return new_rows


def _end_offsets(settings: Settings, topic: str) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(**settings.kafka.client_options())
    try:
        return dict(consumer.end_offsets([TopicPartition(topic, partition) for partition in range(PARTITIONS)]))
    finally:
        consumer.close(autocommit=False)


def _build_ingester(
    environment: BenchEnvironment, topic: str, *, features: bool, end_offsets: dict[TopicPartition, int],
    clock: _StageClock, idle_exit_seconds: float | None, quality_checks: bool = True,
) -> tuple[_TimedIngester, _RecordingWriter]:
    settings = environment.settings
    writer = _RecordingWriter(environment.store, features_push_source=FEATURES_PUSH_SOURCE if features else None)
    config = IngesterConfig(
        topic=topic,
        group_id=f"{topic}-group",
        dead_letter_topic=f"{topic}.dlq",
        batch_size=BATCH_SIZE,
        poll_timeout_ms=200,
        idle_exit_seconds=idle_exit_seconds,
        quality_checks=quality_checks,
    )
    ingester = _TimedIngester(
        config,
        kafka=settings.kafka,
        postgres=settings.postgres,
        writer=writer,
        feature_stream_factory=default_feature_stream_factory() if features else None,
        end_offsets=end_offsets,
        clock=clock,
    )
    return ingester, writer


def _timed_ingest(environment: BenchEnvironment, topic: str, readings: int, *, features: bool) -> dict[str, Any]:
    """Run an ingester on the filled ``topic`` until every offset is committed."""
    end_offsets = _end_offsets(environment.settings, topic)
    clock = _StageClock()
    ingester, writer = _build_ingester(
        environment, topic, features=features, end_offsets=end_offsets, clock=clock, idle_exit_seconds=30.0
    )
    with _stage_timers(clock):
        started = time.perf_counter()
        ingester.run()
        stopped = time.perf_counter()
    if ingester.all_committed_at is None or ingester.first_batch_at is None:
        raise RuntimeError(f"the ingester stopped before committing every offset of {topic}")
    total = ingester.all_committed_at - started
    processing = ingester.all_committed_at - ingester.first_batch_at
    written = len(writer.freshness_seconds)
    return {
        "readings_written": written,
        "seconds_from_start": total,
        "seconds_from_first_batch": processing,
        "group_join_seconds": ingester.first_batch_at - started,
        "shutdown_seconds": stopped - ingester.all_committed_at,
        "readings_per_s": written / processing,
        "readings_per_s_from_start": written / total,
        "batches": ingester.batches,
        "stages": _stage_shares(clock.seconds, processing),
    }


def _stage_shares(seconds: dict[str, float], processing: float) -> dict[str, dict[str, float]]:
    """Turn accumulated stage times into seconds and shares of the processing wall time.

    ``decode_validate`` is timed around the whole of ``process_records``, so the quality check and
    the features inside it are subtracted. Kafka polls before the first batch (the group join) are
    not part of ``processing``, so the poll stage may slightly exceed its share.
    """
    stages = dict(seconds)
    stages["decode_validate"] = stages.get("decode_validate", 0.0) - stages.get("quality_check", 0.0) - stages.get(
        "features", 0.0
    )
    stages["other"] = max(0.0, processing - sum(stages.values()))
    return {name: {"seconds": value, "share": value / processing} for name, value in sorted(stages.items())}


# -------------------------------------------------------------------------------------------------
# Freshness at a fixed offered rate


def _freshness(
    environment: BenchEnvironment, topic: str, site: str, rate: float, duration: float, *, quality_checks: bool
) -> dict[str, Any]:
    """Offer ``rate`` readings/s for ``duration`` s and record event time → online write delay.

    The ingester (features on, as deployed) joins its group first, then the producer starts. It
    stops once it has committed everything the producer sent, or 30 s after the producer ended,
    whichever comes first. The sustained rate is the readings written divided by the time from
    the first batch to the stop; below 95 % of the sending rate the ingester did not keep up.
    """
    clock = _StageClock()
    ingester, writer = _build_ingester(
        environment, topic, features=True, end_offsets={}, clock=clock, idle_exit_seconds=None,
        quality_checks=quality_checks,
    )
    grace = 30.0
    command = [
        sys.executable, "-m", "ingestion.producer", "--topic", topic, "synthetic", "--site", site,
        "--ponds", str(PONDS), "--sensors-per-pond", str(SENSORS_PER_POND), "--rate", str(rate),
        "--duration", str(duration), "--seed", "5",
    ]
    producer: subprocess.Popen[bytes] | None = None
    producer_started = 0.0

    with _stage_timers(clock):
        original_poll = ingester._consumer.poll

        def poll(*args: Any, **kwargs: Any) -> Any:
            # Start sending once the group has assigned the partitions, so the join delay does not
            # count as freshness.
            nonlocal producer, producer_started
            if producer is None and ingester._consumer.assignment():
                producer = subprocess.Popen(command, cwd=REPO_ROOT, stderr=subprocess.DEVNULL)
                producer_started = time.perf_counter()
            elif producer is not None and producer.poll() is not None:
                if not ingester.end_offsets:
                    ingester.end_offsets = _end_offsets(environment.settings, topic)
                ingester.stop_when_all_committed()
                if time.perf_counter() - producer_started > duration + grace:
                    ingester.request_stop()
            return original_poll(*args, **kwargs)

        ingester._consumer.poll = poll  # type: ignore[method-assign]
        try:
            ingester.run()
        finally:
            if producer is not None and producer.poll() is None:
                producer.kill()
                producer.wait()
    stopped = ingester.all_committed_at or time.perf_counter()
    # The producer's interpreter start is not the ingester's time, so the rate counts from the
    # first batch.
    first_batch_at = ingester.first_batch_at or stopped
    sent = sum(_end_offsets(environment.settings, topic).values())
    written = len(writer.freshness_seconds)
    values = writer.freshness_seconds
    drained = ingester.all_committed_at is not None
    sustained = written / (stopped - first_batch_at)
    # Kept up: wrote at 95 % of the sending rate or more, so no backlog grew during the run.
    kept_up = drained and sustained >= KEPT_UP_SHARE * sent / duration
    entry: dict[str, Any] = {
        "case": f"{rate:,.0f} readings/s offered for {duration:.0f} s, features on, "
                f"quality checks {'on' if quality_checks else 'off'}",
        "quality_checks": quality_checks,
        "offered_rate": rate,
        "duration_s": duration,
        "sent": sent,
        "sent_per_s": sent / duration,
        "written": written,
        "drained": drained,
        "kept_up": kept_up,
        "sustained_readings_per_s": sustained,
        "batches": ingester.batches,
        "stages": _stage_shares(clock.seconds, stopped - first_batch_at),
    }
    if values:
        entry |= {
            "p50_s": statistics.median(values),
            "p99_s": percentile(values, 0.99),
            "max_s": max(values),
            "share_within_target": sum(value <= FRESHNESS_P99_TARGET_S for value in values) / len(values),
        }
    # The ingester's own histogram, to compare with the exact delays above.
    samples = ingester.metrics.freshness_seconds.collect()[0].samples
    for sample in samples:
        if sample.name.endswith("_count"):
            entry["metrics_histogram_count"] = sample.value
        elif sample.name.endswith("_bucket") and sample.labels["le"] == "1.0":
            entry["metrics_histogram_le_1s"] = sample.value
    return entry
