"""Subprocess entry of the peak-memory case: one retrieval, then print the peak RSS as JSON.

Run by ``benchmarks.processes.run_peak_memory``; it prints one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from datetime import datetime

import pandas as pd

from aquafs.errors import ConfigError
from aquafs.feast_store import open_store
from aquafs.settings import load_settings
from benchmarks.environment import (
    HISTORICAL_ROLLING_FEATURES,
    READING_COLUMNS,
    READINGS_VIEW,
    ROLLING_VIEW,
    _stock_store,
    sensor_ids,
)
from benchmarks.offline import entity_frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True, help="throwaway database that holds the data")
    parser.add_argument("--project", required=True, help="Feast project of the benchmark run")
    parser.add_argument("--day-start", required=True, help="start of the synthetic day (ISO 8601, UTC)")
    parser.add_argument("--sensors", type=int, required=True, help="number of synthetic sensors")
    parser.add_argument("--rows", type=int, required=True, help="entity rows to retrieve")
    parser.add_argument("--store", choices=["plugin", "stock"], required=True, help="offline store to use")
    parser.add_argument("--skip-retrieval", action="store_true", help="stop before the retrieval (baseline)")
    args = parser.parse_args()

    settings = load_settings()
    settings = settings.model_copy(update={"postgres": settings.postgres.model_copy(update={"database": args.database})})
    store = open_store(settings, project=args.project)
    if args.store == "stock":
        store = _stock_store(store)
    entities = entity_frame(sensor_ids(args.sensors), pd.Timestamp(datetime.fromisoformat(args.day_start)), args.rows)
    refs = [f"{READINGS_VIEW}:{name}" for name in READING_COLUMNS]
    refs += [f"{ROLLING_VIEW}:{name}" for name in HISTORICAL_ROLLING_FEATURES]

    started = time.perf_counter()
    returned = 0
    tracemalloc.start()
    if not args.skip_retrieval:
        returned = len(store.get_historical_features(entity_df=entities, features=refs).to_df())
    # tracemalloc counts Python-level allocations only; Arrow buffers show in the RSS alone.
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    elapsed = time.perf_counter() - started
    max_rss_mib = _peak_rss_kib() / 1024
    print(json.dumps({
        "max_rss_mib": round(max_rss_mib, 1),
        "tracemalloc_peak_mib": round(traced_peak / 2**20, 1),
        "rows_returned": returned, "seconds": round(elapsed, 3),
    }))
    return 0


def _peak_rss_kib() -> int:
    # VmHWM starts afresh at exec. getrusage's ru_maxrss does not: Linux keeps the high-water
    # mark of the process that forked this one, the benchmark runner with its data frames.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    message = "VmHWM is missing from /proc/self/status; the peak-memory case needs Linux"
    raise ConfigError(message)


if __name__ == "__main__":
    raise SystemExit(main())
