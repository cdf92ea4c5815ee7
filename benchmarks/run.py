"""Entry point of ``python -m benchmarks``: run every case, print a table, write JSON."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aquafs.settings import load_settings
from benchmarks.environment import (
    HISTORICAL_ROLLING_FEATURES,
    READING_COLUMNS,
    READINGS_VIEW,
    ROLLING_VIEW,
    bench_environment,
    load_table,
    sensor_ids,
    synthetic_readings,
    synthetic_rolling_features,
)
from benchmarks.ingest import run_ingest
from benchmarks.offline import run_historical, run_materialize, run_offline_write
from benchmarks.online import run_online_reads, run_online_writes
from benchmarks.processes import REPO_ROOT, run_import_time, run_peak_memory
from benchmarks.targets import evaluate_targets, format_table

logger = logging.getLogger(__name__)

ARTIFACT_DIR = REPO_ROOT / "artifacts" / "benchmarks"


@dataclass(frozen=True)
class Plan:
    """Sizes and repetitions of one mode."""

    mode: str
    online_read_calls: int
    online_write_runs: dict[int, int]  # batch size -> timed runs
    sensors: int
    historical_sizes: list[int]
    historical_runs: int
    stock_historical_runs: int
    materialize_runs: int
    offline_write_rows: int
    offline_write_runs: int
    ingest_readings: int
    freshness_rate: float  # readings/s offered in the freshness case
    freshness_seconds: float


QUICK = Plan(
    mode="quick",
    online_read_calls=200,
    online_write_runs={1: 30, 100: 10, 10_000: 2},
    sensors=100,
    historical_sizes=[10_000],
    historical_runs=3,
    stock_historical_runs=3,
    materialize_runs=3,
    offline_write_rows=50_400,
    offline_write_runs=3,
    ingest_readings=20_000,
    freshness_rate=2_000,
    freshness_seconds=10,
)
FULL = Plan(
    mode="full",
    online_read_calls=2000,
    online_write_runs={1: 200, 100: 30, 10_000: 5},
    sensors=1000,
    historical_sizes=[10_000, 100_000],
    historical_runs=3,
    # Feast's own query needs minutes at 100,000 rows on two cores, so it runs twice.
    stock_historical_runs=2,
    materialize_runs=3,
    offline_write_rows=201_600,
    offline_write_runs=3,
    ingest_readings=200_000,
    freshness_rate=10_000,
    freshness_seconds=20,
)


def machine_info() -> dict[str, Any]:
    """Describe the machine: cores, CPU model, RAM, Python and OS."""
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": round(ram_gib, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_all(plan: Plan) -> dict[str, Any]:
    """Create the environment, load the synthetic day, run every case and return the results."""
    settings = load_settings()
    results: dict[str, Any] = {
        "mode": plan.mode,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "plan": {key: value for key, value in plan.__dict__.items() if key != "online_write_runs"}
        | {"online_write_runs": {str(size): runs for size, runs in plan.online_write_runs.items()}},
    }
    with bench_environment(settings) as environment:
        import feast

        results["versions"] = {"feast": feast.__version__}
        with environment.connect() as conn:
            results["versions"]["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
        results["versions"]["redis"] = environment.redis_client.info("server")["redis_version"]

        started = time.perf_counter()
        readings = synthetic_readings(sensor_ids(plan.sensors), environment.day_start, 1440)
        features = synthetic_rolling_features(readings, HISTORICAL_ROLLING_FEATURES)
        load_table(environment, "water_readings", readings)
        load_table(environment, "sensor_features", features)
        results["data_load"] = {
            "water_readings_rows": len(readings),
            "sensor_features_rows": len(features),
            "seconds": time.perf_counter() - started,
        }
        logger.info("loaded %d readings and %d feature rows", len(readings), len(features))
        tables = {
            READINGS_VIEW: (readings, READING_COLUMNS),
            ROLLING_VIEW: (features, HISTORICAL_ROLLING_FEATURES),
        }

        steps = [
            ("online_read", lambda: run_online_reads(environment, plan.online_read_calls)),
            ("online_write", lambda: run_online_writes(environment, plan.online_write_runs)),
            ("historical", lambda: run_historical(
                environment, tables, plan.historical_sizes, plan.historical_runs, plan.stock_historical_runs
            )),
            ("materialize", lambda: run_materialize(environment, plan.sensors, plan.materialize_runs)),
            ("offline_write", lambda: run_offline_write(environment, plan.offline_write_rows, plan.offline_write_runs)),
            ("import_time", run_import_time),
            ("peak_memory", lambda: run_peak_memory(environment, max(plan.historical_sizes), plan.sensors)),
            ("ingest", lambda: run_ingest(
                environment, plan.ingest_readings, plan.freshness_rate, plan.freshness_seconds
            )),
        ]
        for name, step in steps:
            started = time.perf_counter()
            logger.info("running %s", name)
            results[name] = step()
            logger.info("%s took %.1f s", name, time.perf_counter() - started)
    results["targets"] = evaluate_targets(results)
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, about 3 minutes on 2 cores")
    parser.add_argument("--output-dir", type=Path, default=ARTIFACT_DIR, help="folder of the JSON results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The ingester logs every batch at info, and kafka-python every group change.
    for noisy in ("feast", "urllib3", "ingestion", "kafka", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    results = run_all(QUICK if args.quick else FULL)

    args.output_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.output_dir / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(format_table(results))
    print(f"\nresults written to {path}")
    return 0
