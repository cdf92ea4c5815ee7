"""Cases that need a fresh interpreter: ``import feast`` time and peak memory of a retrieval."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.environment import BenchEnvironment

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_import_time(runs: int = 5) -> dict[str, Any]:
    """Time ``python -c 'import feast'`` against ``python -c 'pass'`` (interpreter start alone)."""
    entry: dict[str, Any] = {"case": f"median of {runs} subprocesses"}
    for name, code in (("import_feast", "import feast"), ("bare_interpreter", "pass")):
        durations = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)
            durations.append(time.perf_counter() - started)
        entry[name] = {"median_s": statistics.median(durations), "min_s": min(durations), "max_s": max(durations)}
    entry["import_only_s"] = entry["import_feast"]["median_s"] - entry["bare_interpreter"]["median_s"]
    return entry


def run_peak_memory(environment: BenchEnvironment, rows: int, sensor_count: int) -> dict[str, Any]:
    """Measure the peak RSS (VmHWM) of a subprocess retrieving ``rows`` entity rows, per store.

    The baseline subprocess does everything except the retrieval (imports, store, entity frame),
    so the difference is what the retrieval itself adds.
    """
    entry: dict[str, Any] = {"case": f"{rows:,} entity rows, 2 views", "entity_rows": rows}
    for label, store, retrieve in (
        ("baseline_no_retrieval", "plugin", False),
        ("plugin", "plugin", True),
        ("stock_feast", "stock", True),
    ):
        command = [
            sys.executable, "-m", "benchmarks.peak_memory",
            "--database", environment.settings.postgres.database,
            "--project", environment.project,
            "--day-start", environment.day_start.isoformat(),
            "--sensors", str(sensor_count),
            "--rows", str(rows),
            "--store", store,
        ]
        if not retrieve:
            command.append("--skip-retrieval")
        output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO_ROOT).stdout
        entry[label] = json.loads(output.strip().splitlines()[-1])
    base = entry["baseline_no_retrieval"]["max_rss_mib"]
    entry["plugin_added_mib"] = entry["plugin"]["max_rss_mib"] - base
    entry["stock_added_mib"] = entry["stock_feast"]["max_rss_mib"] - base
    return entry
