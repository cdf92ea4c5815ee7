"""The Kafka ingester against the real broker, PostgreSQL and Redis.

Each test gets its own topic, consumer group, throwaway database and Feast project (the
``feast_store`` fixture), so tests never see each other's messages, rows or Redis keys.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from feast import FeatureStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic

from aquafs.errors import InvalidReadingError
from aquafs.feast_store import apply_repo, open_store
from aquafs.migrations import apply_migrations
from aquafs.settings import PostgresSettings, Settings
from ingestion.dead_letter import HEADER_REASON, HEADER_SOURCE_OFFSET
from ingestion.history import history_messages
from ingestion.ingester import Ingester, IngesterConfig, default_feature_stream_factory
from ingestion.producer import ReadingProducer, to_outgoing
from ingestion.retry import BackoffPolicy
from ingestion.schema import (
    HEADER_SCHEMA_VERSION,
    MAX_MESSAGE_BYTES,
    ReadingMessage,
    decode_message,
    encode_message,
    message_headers,
)
from ingestion.store_writer import StoreWriter
from ingestion.synthetic import OutgoingMessage, SyntheticConfig, synthetic_messages
from ingestion.validation import validate_reading

pytestmark = pytest.mark.services

REPO_ROOT = Path(__file__).resolve().parents[2]
FAST_BACKOFF = BackoffPolicy(initial_seconds=0.1, max_seconds=0.5)
WAIT_SECONDS = 60.0


# -------------------------------------------------------------------------------------------------
# Helpers


def _produce(settings: Settings, topic: str, messages: Iterable[OutgoingMessage]) -> int:
    producer = ReadingProducer(settings.kafka, topic)
    count = 0
    for message in messages:
        producer.send(message)
        count += 1
    stats = producer.close()
    assert stats.failed == 0
    assert stats.sent == count
    return count


def _ingester(
    settings: Settings, store: FeatureStore, topic: str, group: str, **config: object
) -> Ingester:
    options: dict[str, object] = {"batch_size": 200, "poll_timeout_ms": 200, "idle_exit_seconds": 3.0,
                                  "backoff": FAST_BACKOFF}
    options.update(config)
    return Ingester(
        IngesterConfig(topic=topic, group_id=group, dead_letter_topic=f"{topic}.dlq", **options),  # type: ignore[arg-type]
        kafka=settings.kafka,
        postgres=settings.postgres,
        writer=StoreWriter(store),
        feature_stream_factory=default_feature_stream_factory(),
    )


def _read_topic(settings: Settings, topic: str, expected: int, timeout_seconds: float = 20.0) -> list:
    consumer = KafkaConsumer(auto_offset_reset="earliest", enable_auto_commit=False, **settings.kafka.client_options())
    try:
        deadline = time.monotonic() + timeout_seconds
        partitions = None
        while not partitions and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                time.sleep(0.2)
        if not partitions:
            return []
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        consumer.seek_to_beginning()
        records: list = []
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        # One more short poll, so that extra messages beyond the expected count show up too.
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
        return records
    finally:
        consumer.close(autocommit=False)


def _wait_for(condition: Callable[[], bool], *, timeout_seconds: float, state: Callable[[], object]) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_seconds:.0f} s; state: {state()}")
        time.sleep(0.5)


def _committed(settings: Settings, group: str) -> dict[int, int]:
    admin = KafkaAdminClient(**settings.kafka.client_options())
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return {partition.partition: meta.offset for partition, meta in offsets.items() if meta.offset >= 0}


def _offline_rows(postgres: PostgresSettings) -> list[tuple]:
    with psycopg.connect(postgres.conninfo()) as conn:
        return conn.execute(
            "SELECT sensor_id, event_timestamp, water_temp_c FROM water_readings ORDER BY sensor_id, event_timestamp"
        ).fetchall()


def _rejections(postgres: PostgresSettings) -> list[tuple[str, str, bytes | None]]:
    with psycopg.connect(postgres.conninfo()) as conn:
        rows = conn.execute("SELECT source_position, reason, payload FROM rejected_readings").fetchall()
    return [(position, reason, bytes(payload) if payload is not None else None) for position, reason, payload in rows]


def _online(store: FeatureStore, sensor_ids: Iterable[str]) -> dict[str, tuple[datetime, float | None]]:
    """Read the sensor_readings view straight from the online store, with its event time.

    The view's TTL would hide replayed 2020 readings from get_online_features; the stored values
    are what this test checks.
    """
    view = store.get_feature_view("sensor_readings")
    sensor_ids = list(sensor_ids)
    keys = [EntityKey(join_keys=["sensor_id"], entity_values=[Value(string_val=s)]) for s in sensor_ids]
    rows = store._get_provider().online_read(config=store.config, table=view, entity_keys=keys)
    result = {}
    for sensor_id, (event_time, values) in zip(sensor_ids, rows, strict=True):
        if event_time is None or values is None:
            continue
        temp = values["water_temp_c"]
        result[sensor_id] = (
            event_time.astimezone(UTC),
            temp.double_val if temp.WhichOneof("val") == "double_val" else None,
        )
    return result


def _expected(messages: Iterable[ReadingMessage], now: datetime) -> tuple[list[ReadingMessage], int]:
    """Return the messages validate_reading accepts, one per (sensor, event time), and the invalid count."""
    valid: dict[tuple[str, datetime], ReadingMessage] = {}
    invalid = 0
    for message in messages:
        try:
            validate_reading(message.to_record(), now=now)
        except InvalidReadingError:
            invalid += 1
            continue
        valid.setdefault((message.sensor_id, message.event_time), message)
    return list(valid.values()), invalid


def _newest(messages: Iterable[ReadingMessage]) -> dict[str, tuple[datetime, float | None]]:
    newest: dict[str, ReadingMessage] = {}
    for message in messages:
        current = newest.get(message.sensor_id)
        if current is None or message.event_time > current.event_time:
            newest[message.sensor_id] = message
    return {
        sensor_id: (message.event_time.astimezone(UTC), message.measurements.get("water_temp_c"))
        for sensor_id, message in newest.items()
    }


def _wait_until(condition: Callable[[], bool], what: str, timeout_seconds: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout_seconds:.0f} s waiting for {what}")


def _synthetic(count: int, *, sensors_per_pond: int = 2, seed: int = 1) -> list[ReadingMessage]:
    """Valid synthetic readings 30 minutes in the past, one second apart, as messages."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    config = SyntheticConfig(count=count, ponds=2, sensors_per_pond=sensors_per_pond, seed=seed, start=start)
    messages = []
    for outgoing in synthetic_messages(config):
        messages.append(decode_message(outgoing.value, headers=outgoing.headers))
    return messages


# -------------------------------------------------------------------------------------------------
# Malformed input


def _raw(payload: bytes, headers: list[tuple[str, bytes]] | None = None) -> OutgoingMessage:
    return OutgoingMessage(key=b"corpus", value=payload, headers=message_headers() if headers is None else headers)


def _malformed_corpus(now: datetime) -> list[tuple[OutgoingMessage, str]]:
    base = ReadingMessage(
        site_id="test-site",
        pond_id="pond-1",
        sensor_id="test-site/pond-1/probe-1",
        event_time=now - timedelta(minutes=10),
        measurements={"water_temp_c": 25.0, "ph": 7.2},
        message_id="corpus",
    )
    text = encode_message(base).decode()

    def variant(old: str, new: str, tag: str) -> bytes:
        # The tag makes every payload unique, so the test can map a dead letter back to its case.
        return text.replace(old, new).replace('"message_id":"corpus"', f'"message_id":"{tag}"').encode()

    return [
        (_raw(b'{"schema_version":1, "site_id": "test-site"'), "invalid_json"),
        (_raw(b"\xff\xfe\x00binary"), "invalid_json"),
        (_raw(variant('"water_temp_c":25.0', '"water_temp_c":"25.0"', "string")), "wrong_type"),
        (_raw(variant('"ph":7.2', '"ph":NaN', "nan")), "not_finite"),
        (_raw(variant('"ph":7.2', '"ph":Infinity', "inf")), "not_finite"),
        (_raw(variant('"sensor_id":"test-site/pond-1/probe-1",', "", "missing")), "missing_field"),
        (_raw(variant('"schema_version":1', '"schema_version":2', "v2")), "unknown_schema_version"),
        (_raw(variant("", "", "v9-header"), [(HEADER_SCHEMA_VERSION, b"9")]), "unknown_schema_version"),
        (_raw(variant('"ph":7.2', '"ph":7.2' + " " * MAX_MESSAGE_BYTES, "huge")), "payload_too_large"),
        (_raw(variant('"water_temp_c":25.0', '"water_temp_f":77.0', "fahrenheit")), "schema_violation"),
        (_raw(variant('"water_temp_c":25.0', '"water_temp_c":298.15', "kelvin")), "out_of_range"),
        (_raw(variant('"ph":7.2', '"ph":15.45', "ph15")), "out_of_range"),
        (_raw(variant('"water_temp_c":25.0', '"water_temp_c":-127', "probe")), "sensor_fault"),
        (_raw(variant("+00:00", "", "naive")), "timestamp_naive"),
        (_raw(variant('"site_id":"test-site"', '"site_id":"Other Site"', "entity")), "unknown_entity"),
    ]


def test_malformed_messages_dead_lettered_good_written(
    settings: Settings, feast_store, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("ingest_malformed")
    now = datetime.now(UTC)
    corpus = _malformed_corpus(now)
    good = _synthetic(20, seed=3)
    outgoing = [to_outgoing(message) for message in good]
    # Interleave, so bad and good messages share batches and partitions.
    mixed = [item for pair in zip(outgoing, [bad for bad, _ in corpus], strict=False) for item in pair]
    mixed += outgoing[len(corpus):]
    _produce(settings, topic, mixed)
    group = unique_name("group")

    assert _ingester(feast_store.settings, feast_store.store, topic, group).run() == 0

    expected_reason = {bad.value: reason for bad, reason in corpus}
    dead_letters = _read_topic(settings, f"{topic}.dlq", expected=len(corpus))
    assert len(dead_letters) == len(corpus)
    for record in dead_letters:
        headers = dict(record.headers)
        assert headers[HEADER_REASON].decode() == expected_reason[record.value], record.value[:80]
        assert headers[HEADER_SOURCE_OFFSET].isdigit()

    rejected = _rejections(feast_store.settings.postgres)
    assert sorted((expected_reason[payload], reason) for _, reason, payload in rejected) == sorted(
        (reason, reason) for reason in expected_reason.values()
    )
    assert all(position.startswith(f"{topic}/") for position, _, _ in rejected)

    rows = _offline_rows(feast_store.settings.postgres)
    assert len(rows) == len(good)
    assert _online(feast_store.store, {m.sensor_id for m in good}) == _newest(good)
    assert sum(_committed(settings, group).values()) == len(mixed)


# -------------------------------------------------------------------------------------------------
# Replay of the real history


def _history_slice(data_dir: Path) -> list[ReadingMessage]:
    messages = list(history_messages(data_dir))
    pond_11 = [m for m in messages if m.sensor_id == "udanor-aquaponics/pond-11/node-1"]
    ku = [m for m in messages if m.site_id == "ku-mwq"][:600]
    return sorted(pond_11 + ku, key=lambda message: message.event_time)


def test_replay_of_history_slice_matches_validation(
    settings: Settings, feast_store, data_dir: Path, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("ingest_replay")
    messages = _history_slice(data_dir)
    valid, invalid = _expected(messages, datetime.now(UTC))
    assert invalid > 0, "the slice should contain real faults (pond 11 has -127 °C probe codes)"
    _produce(settings, topic, (to_outgoing(message) for message in messages))
    group = unique_name("group")

    assert _ingester(feast_store.settings, feast_store.store, topic, group, batch_size=500).run() == 0

    assert len(_offline_rows(feast_store.settings.postgres)) == len(valid)
    assert len(_rejections(feast_store.settings.postgres)) == invalid
    assert len(_read_topic(settings, f"{topic}.dlq", expected=invalid)) == invalid
    assert _online(feast_store.store, {m.sensor_id for m in valid}) == _newest(valid)
    assert sum(_committed(settings, group).values()) == len(messages)


# -------------------------------------------------------------------------------------------------
# Crashes, signals and outages (subprocess ingesters)


def _ingester_command(topic: str, group: str, project: str, *extra: str) -> list[str]:
    return [
        str(Path(sys.executable).parent / "aqua-ingester"),
        "--topic", topic, "--group", group, "--dead-letter-topic", f"{topic}.dlq",
        "--feast-project", project, "--poll-timeout-ms", "200",
        # The broker's minimum session timeout: a killed ingester's partitions move on after 6 s.
        "--session-timeout-ms", "6000", *extra,
    ]


def _subprocess_env(postgres: PostgresSettings) -> dict[str, str]:
    env = dict(os.environ)
    env["AQUA_POSTGRES__DATABASE"] = postgres.database
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


@pytest.mark.slow
def test_kill_9_and_restart_loses_and_duplicates_nothing(
    settings: Settings, feast_store, unique_name: Callable[[str], str]
) -> None:
    topic, group = unique_name("ingest_kill"), unique_name("group")
    messages = _synthetic(1500, sensors_per_pond=3, seed=11)
    _produce(settings, topic, (to_outgoing(m) for m in messages))
    env = _subprocess_env(feast_store.settings.postgres)
    command = _ingester_command(topic, group, feast_store.store.project, "--batch-size", "25")

    # Kill at two random points of progress, each after at least one more commit. Every restart
    # costs the interpreter start (Feast imports take seconds) plus the 6 s session timeout.
    rng = random.Random()
    for fraction in (rng.uniform(0.05, 0.3), rng.uniform(0.4, 0.65)):
        before = sum(_committed(settings, group).values())
        process = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_until(
                lambda before=before, fraction=fraction: sum(_committed(settings, group).values())
                > max(before, fraction * len(messages)),
                f"progress past {fraction:.0%}",
            )
        finally:
            process.kill()
            process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
    assert sum(_committed(settings, group).values()) < len(messages), "killed too late to test a restart"

    final = subprocess.run([*command, "--idle-exit-seconds", "3"], env=env, cwd=REPO_ROOT,
                           capture_output=True, timeout=120, check=False)
    assert final.returncode == 0, final.stderr.decode()[-2000:]

    rows = _offline_rows(feast_store.settings.postgres)
    assert len(rows) == len(messages)
    assert len({(sensor, at) for sensor, at, _ in rows}) == len(rows)
    assert _online(feast_store.store, {m.sensor_id for m in messages}) == _newest(messages)
    assert sum(_committed(settings, group).values()) == len(messages)


def test_sigterm_finishes_batch_and_commits(
    settings: Settings, feast_store, unique_name: Callable[[str], str]
) -> None:
    topic, group = unique_name("ingest_term"), unique_name("group")
    messages = _synthetic(3000, seed=5)
    _produce(settings, topic, (to_outgoing(m) for m in messages))
    command = _ingester_command(topic, group, feast_store.store.project, "--batch-size", "20")
    process = subprocess.Popen(command, env=_subprocess_env(feast_store.settings.postgres), cwd=REPO_ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until(lambda: sum(_committed(settings, group).values()) > 0, "a first commit")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert b"received SIGTERM" in stderr

    committed = sum(_committed(settings, group).values())
    assert 0 < committed < len(messages)
    # Every written batch was committed before exit: the offline rows are exactly the committed prefix.
    assert len(_offline_rows(feast_store.settings.postgres)) == committed


# -------------------------------------------------------------------------------------------------
# Store outage: a private Redis that the test stops and restarts


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server owned by one test, on loopback, without persistence."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_until(self.is_up, f"redis-server on 127.0.0.1:{self.port}", timeout_seconds=10)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def is_up(self) -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    redis = PrivateRedis(_free_port())
    redis.start()
    yield redis
    redis.stop()


def test_redis_outage_blocks_commit_until_recovery(
    settings: Settings,
    database_factory: Callable[[], PostgresSettings],
    private_redis: PrivateRedis,
    unique_name: Callable[[str], str],
) -> None:
    database = database_factory()
    apply_migrations(database)
    local = settings.model_copy(
        update={"postgres": database, "redis": settings.redis.model_copy(update={"port": private_redis.port})}
    )
    store = open_store(local, project=unique_name("test"))
    apply_repo(store)
    topic, group = unique_name("ingest_outage"), unique_name("group")
    messages = _synthetic(60, seed=8)

    private_redis.stop()
    _produce(settings, topic, (to_outgoing(m) for m in messages))
    ingester = _ingester(local, store, topic, group, idle_exit_seconds=None)
    thread = threading.Thread(target=ingester.run, daemon=True)
    thread.start()
    try:
        _wait_until(lambda: ingester.metrics.retries.labels("store_write")._value.get() >= 3, "three write retries")
        assert _committed(settings, group) == {}

        private_redis.start()
        _wait_until(lambda: sum(_committed(settings, group).values()) == len(messages), "catch-up after recovery")
    finally:
        ingester.request_stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(_offline_rows(database)) == len(messages)
    assert _online(store, {m.sensor_id for m in messages}) == _newest(messages)


# -------------------------------------------------------------------------------------------------
# Consumer group


def test_two_ingesters_in_one_group_match_expected_state(
    settings: Settings, feast_store, unique_name: Callable[[str], str]
) -> None:
    topic, group = unique_name("ingest_group"), unique_name("group")
    admin = KafkaAdminClient(**settings.kafka.client_options())
    try:
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        admin.close()
    ingesters = [
        _ingester(feast_store.settings, feast_store.store, topic, group, batch_size=30, idle_exit_seconds=None)
        for _ in range(2)
    ]
    threads = [threading.Thread(target=ingester.run, daemon=True) for ingester in ingesters]
    for thread in threads:
        thread.start()
    # Produce only once both members own partitions, so neither can drain the topic alone.
    assignments = lambda: [sorted(p.partition for p in ingester._tracker.assigned) for ingester in ingesters]  # noqa: E731
    _wait_for(lambda: all(ingester._tracker.assigned for ingester in ingesters), timeout_seconds=120, state=assignments)
    messages = _synthetic(600, sensors_per_pond=3, seed=21)
    _produce(settings, topic, (to_outgoing(m) for m in messages))
    _wait_for(
        lambda: sum(_committed(settings, group).values()) == len(messages),
        timeout_seconds=120,
        state=lambda: {"committed": _committed(settings, group), "assigned": assignments()},
    )
    for ingester in ingesters:
        ingester.request_stop()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    consumed = [ingester.metrics.consumed.labels(topic)._value.get() for ingester in ingesters]
    assert all(count > 0 for count in consumed), f"one ingester consumed nothing: {consumed}"
    assert sum(consumed) >= len(messages)
    rows = _offline_rows(feast_store.settings.postgres)
    assert len(rows) == len(messages)
    assert _online(feast_store.store, {m.sensor_id for m in messages}) == _newest(messages)
    assert sum(_committed(settings, group).values()) == len(messages)
