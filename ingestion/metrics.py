"""Prometheus metrics of the ingester.

Each :class:`IngesterMetrics` owns its own registry, so two ingesters in one process (tests) do not
collide and the default registry stays free for the host application. ``serve`` exposes the
registry over HTTP on the given port.
"""

from __future__ import annotations

import logging
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

logger = logging.getLogger(__name__)

# Freshness spans seconds (live sensors) to years (history replayed through the topic).
_FRESHNESS_BUCKETS_SECONDS: Final = (
    0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400,
    365 * 86400, float("inf"),
)
_BATCH_BUCKETS_SECONDS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, float("inf"))


class IngesterMetrics:
    """Counters, gauges and histograms of one ingester, labelled by topic where it helps."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.consumed = Counter(
            "aqua_ingester_messages_consumed",
            "Messages read from the readings topic, including re-deliveries.",
            ["topic"],
            registry=self.registry,
        )
        self.written = Counter(
            "aqua_ingester_readings_written",
            "Valid readings written to both stores (online and offline) and committed.",
            ["topic"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "aqua_ingester_messages_dead_lettered",
            "Messages sent to the dead-letter topic, by rejection reason.",
            ["topic", "reason"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "aqua_ingester_duplicates_in_batch",
            "Readings dropped because the same batch already held that sensor and event time.",
            ["topic"],
            registry=self.registry,
        )
        self.retries = Counter(
            "aqua_ingester_retries",
            "Retried operations after a transient failure, by step.",
            ["step"],
            registry=self.registry,
        )
        self.batch_expectation_failures = Counter(
            "aqua_ingester_batch_expectation_failures",
            "Batches that failed a batch-level expectation of the water_readings_raw suite (such as "
            "the water-temperature null rate), by expectation; such a failure rejects no message.",
            ["topic", "expectation"],
            registry=self.registry,
        )
        self.quality_check_seconds = Histogram(
            "aqua_ingester_quality_check_seconds",
            "Wall time of the Great Expectations check of one batch's valid readings.",
            buckets=_BATCH_BUCKETS_SECONDS,
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "aqua_ingester_batch_seconds",
            "Wall time from poll to commit of one batch, retries included.",
            buckets=_BATCH_BUCKETS_SECONDS,
            registry=self.registry,
        )
        self.freshness_seconds = Histogram(
            "aqua_ingester_freshness_seconds",
            "Delay from a reading's event time to its availability in the online store.",
            buckets=_FRESHNESS_BUCKETS_SECONDS,
            registry=self.registry,
        )
        self.lag = Gauge(
            "aqua_ingester_consumer_lag",
            "Messages between the committed position and the partition's high watermark.",
            ["topic", "partition"],
            registry=self.registry,
        )

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose the metrics on ``http://<host>:<port>/metrics`` in a thread; port 0 turns serving off."""
        if port == 0:
            return
        start_http_server(port, addr=host, registry=self.registry)
        logger.info("serving metrics on %s:%d/metrics", host, port)
