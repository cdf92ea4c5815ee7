"""Kafka producer of reading messages: replay of the real sensor history, or synthetic load.

Run it as ``aqua-producer replay ...`` or ``aqua-producer synthetic ...``; ``--help`` on each
sub-command lists its options. Messages follow :mod:`ingestion.schema`, keyed by sensor id so that
one sensor's readings stay in one partition and in order.

Examples::

    aqua-producer replay --speedup 60            # the history, 60x faster than it was recorded
    aqua-producer replay --speedup 0 --limit 500 # as fast as possible, first 500 readings
    aqua-producer synthetic --ponds 4 --sensors-per-pond 3 --rate 200 --duration 60 \\
        --malformed 0.01 --nan 0.01 --duplicate 0.02 --late 0.01 --out-of-order 0.02
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaProducer
from kafka.errors import KafkaError

from aquafs.logs import configure_logging
from aquafs.settings import KafkaSettings, Settings, load_settings
from ingestion.cli_types import non_negative_float, non_negative_int, positive_int, probability
from ingestion.history import default_data_dir, history_messages
from ingestion.schema import ReadingMessage, encode_message, message_headers, message_key
from ingestion.synthetic import FaultRates, OutgoingMessage, SyntheticConfig, synthetic_messages

logger = logging.getLogger(__name__)

_FLUSH_TIMEOUT_SECONDS = 60.0


@dataclass
class SendStats:
    """Counts of one producer run."""

    sent: int = 0
    failed: int = 0


class ReadingProducer:
    """Sends encoded messages to the readings topic and waits for the broker to acknowledge them."""

    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self.topic = topic
        # Idempotence keeps per-partition order and drops broker-side duplicates on internal retries.
        self._producer = KafkaProducer(
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            client_id="aqua-producer",
            **kafka.client_options(),
        )
        self.stats = SendStats()

    def send(self, message: OutgoingMessage) -> None:
        """Queue one message; the broker acknowledges it asynchronously."""
        future = self._producer.send(self.topic, key=message.key, value=message.value, headers=message.headers)
        future.add_callback(self._on_sent)
        future.add_errback(self._on_failed)

    def close(self) -> SendStats:
        """Wait until every queued message is acknowledged, then close the connection."""
        self._producer.flush(timeout=_FLUSH_TIMEOUT_SECONDS)
        self._producer.close(timeout=_FLUSH_TIMEOUT_SECONDS)
        return self.stats

    def _on_sent(self, _metadata: object) -> None:
        self.stats.sent += 1

    def _on_failed(self, error: Exception) -> None:
        self.stats.failed += 1
        logger.error("send to %s failed: %s", self.topic, error)


def to_outgoing(message: ReadingMessage) -> OutgoingMessage:
    """Encode a valid message with its key and headers."""
    return OutgoingMessage(key=message_key(message), value=encode_message(message), headers=message_headers())


def replay(
    producer: ReadingProducer,
    messages: Iterable[ReadingMessage],
    *,
    speedup: float,
) -> int:
    """Send ``messages`` (in event-time order), pacing them ``speedup`` times faster than recorded.

    Args:
        speedup: 60 sends one hour of history per minute; 0 sends as fast as possible.

    Returns:
        How many messages were queued.
    """
    count = 0
    first_event: float | None = None
    started = time.monotonic()
    for message in messages:
        if speedup > 0:
            event_seconds = message.event_time.timestamp()
            if first_event is None:
                first_event = event_seconds
            due = started + (event_seconds - first_event) / speedup
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        producer.send(to_outgoing(message))
        count += 1
    return count


def pace(producer: ReadingProducer, messages: Iterable[OutgoingMessage], *, rate_per_second: float) -> int:
    """Send ``messages`` at about ``rate_per_second`` (0 for as fast as possible); return the count."""
    count = 0
    started = time.monotonic()
    for message in messages:
        if rate_per_second > 0:
            delay = started + count / rate_per_second - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        producer.send(message)
        count += 1
    return count


# -------------------------------------------------------------------------------------------------
# Command line


def build_parser(settings: Settings | None = None) -> argparse.ArgumentParser:
    """Return the ``aqua-producer`` argument parser; defaults come from ``settings`` when given."""
    kafka = settings.kafka if settings is not None else KafkaSettings()
    parser = argparse.ArgumentParser(
        prog="aqua-producer",
        description="Send water-quality reading messages (schema v1, JSON) to Kafka, keyed by sensor id.",
    )
    parser.add_argument("--topic", default=kafka.readings_topic,
                        help="topic to send to (default: %(default)s, AQUA_KAFKA__READINGS_TOPIC)")
    commands = parser.add_subparsers(dest="command", required=True)

    replay_parser = commands.add_parser(
        "replay", help="replay the real sensor history in event-time order",
        description="Replay the real sensor history (CSV files under the data folder) in event-time order.",
    )
    replay_parser.add_argument("--data-dir", type=Path, default=default_data_dir(),
                               help="folder with the dataset folders (default: %(default)s)")
    replay_parser.add_argument("--speedup", type=non_negative_float, default=60.0,
                               help="how many times faster than real time to send: 60 sends one hour of "
                                    "history per minute; 0 sends as fast as possible (default: %(default)s)")
    replay_parser.add_argument("--limit", type=non_negative_int, default=0,
                               help="send only the first N readings in event-time order; 0 sends all "
                                    "(default: %(default)s)")
    replay_parser.add_argument("--sensor", action="append", default=None, metavar="SENSOR_ID",
                               help="replay only this sensor id; repeat for several (default: all)")

    synthetic_parser = commands.add_parser(
        "synthetic", help="generate synthetic readings for load tests, with optional faults",
        description="Generate synthetic readings with event time = now, optionally injecting faults. "
                    "Fault options are probabilities per message, from 0 to 1.",
    )
    synthetic_parser.add_argument("--site", default="synthetic", help="site id (default: %(default)s)")
    synthetic_parser.add_argument("--ponds", type=positive_int, default=2,
                                  help="number of ponds (default: %(default)s)")
    synthetic_parser.add_argument("--sensors-per-pond", type=positive_int, default=2,
                                  help="sensors per pond (default: %(default)s)")
    synthetic_parser.add_argument("--rate", type=non_negative_float, default=10.0,
                                  help="messages per second over all sensors; 0 sends as fast as possible "
                                       "(default: %(default)s)")
    amount = synthetic_parser.add_mutually_exclusive_group()
    amount.add_argument("--count", type=positive_int, default=None,
                        help="stop after this many messages (default: 100 unless --duration is given)")
    amount.add_argument("--duration", type=non_negative_float, default=None,
                        help="stop after this many seconds of sending")
    synthetic_parser.add_argument("--seed", type=int, default=None,
                                  help="random seed, for a repeatable run (default: random)")
    for name, meaning in FaultRates.descriptions().items():
        synthetic_parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=probability, default=0.0,
                                      help=f"probability per message of {meaning} (default: 0)")
    synthetic_parser.add_argument("--late-by-seconds", type=non_negative_float, default=3600.0,
                                  help="how far behind the clock a late message's event time is, in seconds "
                                       "(default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the producer; return 0 when every message was acknowledged, 1 otherwise."""
    settings = load_settings()
    args = build_parser(settings).parse_args(argv)
    configure_logging(settings)
    try:
        producer = ReadingProducer(settings.kafka, args.topic)
    except KafkaError as error:
        logger.error("cannot connect to Kafka at %s: %s", settings.kafka.bootstrap_servers, error)
        return 1

    try:
        if args.command == "replay":
            messages: Iterator[ReadingMessage] = history_messages(args.data_dir, sensors=args.sensor)
            if args.limit:
                messages = _take(messages, args.limit)
            queued = replay(producer, messages, speedup=args.speedup)
        else:
            config = SyntheticConfig(
                site_id=args.site,
                ponds=args.ponds,
                sensors_per_pond=args.sensors_per_pond,
                count=args.count if args.count is not None or args.duration is not None else 100,
                duration_seconds=args.duration,
                seed=args.seed,
                late_by_seconds=args.late_by_seconds,
                faults=FaultRates(**{name: getattr(args, name) for name in FaultRates.descriptions()}),
            )
            queued = pace(producer, synthetic_messages(config), rate_per_second=args.rate)
    except KeyboardInterrupt:
        logger.info("interrupted; flushing what was queued")
        queued = -1
    stats = producer.close()
    logger.info("queued %s, acknowledged %d, failed %d, topic %s",
                queued if queued >= 0 else "?", stats.sent, stats.failed, args.topic)
    return 0 if stats.failed == 0 else 1


def _take(messages: Iterator[ReadingMessage], limit: int) -> Iterator[ReadingMessage]:
    for index, message in enumerate(messages):
        if index >= limit:
            return
        yield message


if __name__ == "__main__":
    # Run the imported module's main, so that loggers are named ingestion.producer, not __main__.
    from ingestion.producer import main as module_main

    sys.exit(module_main())
