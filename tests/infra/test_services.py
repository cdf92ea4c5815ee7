"""Smoke tests: a round trip to each real service of the local stack."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer

from aquafs.settings import Settings

pytestmark = pytest.mark.services


def test_postgres_round_trip_in_utc(settings: Settings) -> None:
    with psycopg.connect(settings.postgres.conninfo()) as conn:
        row = conn.execute("SELECT %s::text, current_setting('TimeZone')", ("pond",)).fetchone()
    assert row == ("pond", "UTC")


def test_redis_set_get(settings: Settings) -> None:
    client = redis.Redis(host=settings.redis.host, port=settings.redis.port)
    key = f"aquafs-test:{uuid.uuid4().hex}"
    client.set(key, b"7.25", ex=60)
    assert client.get(key) == b"7.25"
    client.delete(key)


def test_kafka_produce_consume(settings: Settings, unique_name) -> None:
    topic = unique_name("smoke")
    options = settings.kafka.client_options()
    producer = KafkaProducer(**options, acks="all")
    for index in range(3):
        producer.send(topic, key=b"sensor-1", value=f"reading-{index}".encode())
    producer.flush(timeout=30)
    producer.close()

    consumer = KafkaConsumer(
        topic, **options, group_id=unique_name("group"), auto_offset_reset="earliest",
        enable_auto_commit=False, consumer_timeout_ms=1000,
    )
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(values) < 3 and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            values.extend(record.value for record in records)
    consumer.close()
    assert values == [b"reading-0", b"reading-1", b"reading-2"]
