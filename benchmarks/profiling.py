"""Profile the slow paths that the benchmarks found, with cProfile.

Run ``python -m benchmarks.profiling``. It builds the same throwaway environment as the quick
benchmark, profiles each case, and writes the 30 most expensive functions per case (cumulative
time) to ``artifacts/benchmarks/profile-<timestamp>-<case>.txt``.
"""

from __future__ import annotations

import cProfile
import io
import logging
import pstats
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from feast.data_source import PushMode

from aquafs.feast_store import push_to_both_stores
from aquafs.settings import load_settings
from benchmarks.environment import (
    HISTORICAL_ROLLING_FEATURES,
    READING_COLUMNS,
    READINGS_VIEW,
    ROLLING_FEATURES,
    ROLLING_VIEW,
    BenchEnvironment,
    bench_environment,
    load_table,
    sensor_ids,
    synthetic_readings,
    synthetic_rolling_features,
)
from benchmarks.offline import entity_frame
from benchmarks.run import ARTIFACT_DIR

logger = logging.getLogger(__name__)

SENSORS = 100
TOP_FUNCTIONS = 30


def profile_cases(environment: BenchEnvironment) -> dict[str, Callable[[], Any]]:
    """Return the profiled cases, each a call that repeats one operation."""
    store = environment.store
    readings = synthetic_readings(sensor_ids(SENSORS), environment.day_start, 1440)
    load_table(environment, "water_readings", readings)
    load_table(environment, "sensor_features", synthetic_rolling_features(readings, HISTORICAL_ROLLING_FEATURES))
    entities = entity_frame(sensor_ids(SENSORS), pd.Timestamp(environment.day_start), 10_000)
    refs = [f"{READINGS_VIEW}:{name}" for name in READING_COLUMNS]
    refs += [f"{ROLLING_VIEW}:{name}" for name in HISTORICAL_ROLLING_FEATURES]
    online_refs = [f"{ROLLING_VIEW}:{name}" for name in ROLLING_FEATURES[:10]]
    push_sensors = sensor_ids(1, prefix="bench-profile")
    minute = [environment.day_start - timedelta(days=20)]

    def push_single_rows() -> None:
        for _ in range(50):
            minute[0] += timedelta(minutes=1)
            frame = synthetic_readings(push_sensors, minute[0], 1)
            store.push("water_readings_push", frame, to=PushMode.ONLINE)

    def push_to_both_single_rows() -> None:
        for _ in range(50):
            minute[0] += timedelta(minutes=1)
            push_to_both_stores(store, "water_readings_push", synthetic_readings(push_sensors, minute[0], 1))

    def online_reads() -> None:
        for _ in range(500):
            store.get_online_features(features=online_refs, entity_rows=[{"sensor_id": "bench-site/pond-0/probe-0"}]).to_dict()

    def plugin_historical() -> None:
        store.get_historical_features(entity_df=entities, features=refs).to_df()

    def stock_historical() -> None:
        environment.stock_store.get_historical_features(entity_df=entities, features=refs).to_df()

    def materialize() -> None:
        store.materialize(environment.day_start, environment.day_start + timedelta(days=1), [READINGS_VIEW])

    return {
        "push_1_row_x50": push_single_rows,
        "push_to_both_stores_1_row_x50": push_to_both_single_rows,
        "online_read_1x10_x500": online_reads,
        "historical_plugin_10k": plugin_historical,
        "historical_stock_10k": stock_historical,
        "materialize_100_sensors": materialize,
    }


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("feast").setLevel(logging.WARNING)
    ARTIFACT_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with bench_environment(load_settings()) as environment:
        for name, case in profile_cases(environment).items():
            case()  # warm-up: registry cache, connections
            profiler = cProfile.Profile()
            profiler.enable()
            case()
            profiler.disable()
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(TOP_FUNCTIONS)
            path = ARTIFACT_DIR / f"profile-{stamp}-{name}.txt"
            path.write_text(text.getvalue())
            logger.info("profile of %s written to %s", name, path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
