"""The main job: the whole path on the real sensor data, step by step, with a summary at the end.

``aquafs demo`` (or ``bash scripts/demo.sh``, which first installs and starts the stack) runs:

1. migrate the schema, 2. apply the feature repo, 3. load the CSV history into the offline store,
4. backfill the engineered features, 5. replay the history through Kafka into both stores with the
ingester, 6. materialize to Redis, 7. run the data-quality checkpoint, 8. train the model from a
point-in-time training set, 9. print online predictions for every sensor.

Every step is idempotent, so running the job twice works and the second run adds no rows.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from aquafs.settings import Settings

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


@dataclass
class DemoSummary:
    """What the main job did, printed at the end."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def add(self, label: str, value: object) -> None:
        self.lines.append((label, str(value)))

    def render(self) -> str:
        width = max((len(label) for label, _ in self.lines), default=0)
        return "\n".join(f"  {label.ljust(width)}  {value}" for label, value in self.lines)


class DemoStep:
    """Prints `[n/total] title ... done in s` around one step."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.number = 0

    def run(self, title: str, action: Callable[[], Any]) -> Any:
        self.number += 1
        print(f"[{self.number}/{self.total}] {title} ...", flush=True)
        started = time.perf_counter()
        result = action()
        print(f"[{self.number}/{self.total}] {title}: done in {time.perf_counter() - started:.1f} s", flush=True)
        return result


def run_demo(settings: Settings, data_dir: Path = DEFAULT_DATA_DIR) -> DemoSummary:
    """Run the main job against the configured stack and return its summary."""
    from aquafs.feast_store import apply_repo, open_store
    from aquafs.migrations import apply_migrations
    from ingestion.loader import load_history

    summary = DemoSummary()
    steps = DemoStep(total=9)

    applied = steps.run("migrate the schema", lambda: apply_migrations(settings.postgres))
    summary.add("migrations applied now", len(applied))

    store = open_store(settings)
    steps.run("apply the feature repo", lambda: apply_repo(store))
    summary.add("feature views", len(store.list_feature_views()))

    loaded = steps.run("load the CSV history", lambda: load_history(settings.postgres, data_dir))
    summary.add("history rows read", loaded.rows_read)
    summary.add("history rows loaded now / already stored", f"{loaded.rows_loaded} / {loaded.rows_already_present}")
    summary.add("history rows rejected", f"{loaded.rows_rejected} {dict(loaded.rejected_by_reason)}")

    backfilled = steps.run("backfill engineered features", lambda: _backfill(settings))
    summary.add("feature rows written now", backfilled)

    replayed = steps.run("replay the history through Kafka into both stores", lambda: _replay(settings, data_dir))
    summary.add("kafka replay", replayed)

    window = steps.run("materialize to Redis", lambda: _materialize(store, settings))
    summary.add("materialized window", window)

    quality = steps.run("run the data-quality checkpoint", lambda: _quality(settings))
    summary.add("data quality", quality)

    trained = steps.run("train the water-quality model", lambda: _train(store, settings))
    summary.add("model", trained)

    predictions = steps.run("predict online for every sensor", lambda: _predict(store, settings))
    print(predictions, flush=True)
    return summary


def _backfill(settings: Settings) -> int:
    from aquafs.backfill import backfill_features
    from aquafs.db import connect

    with connect(settings.postgres) as conn:
        return backfill_features(conn)


def _replay(settings: Settings, data_dir: Path) -> str:
    bin_dir = Path(sys.executable).parent
    produce = subprocess.run(
        [str(bin_dir / "aqua-producer"), "replay", "--data-dir", str(data_dir), "--speedup", "0"],
        capture_output=True, text=True, check=False,
    )
    if produce.returncode != 0:
        raise RuntimeError(f"aqua-producer failed (exit {produce.returncode}):\n{produce.stderr[-2000:]}")
    ingest = subprocess.run(
        [str(bin_dir / "aqua-ingester"), "--idle-exit-seconds", "10", "--batch-size", "2000"],
        capture_output=True, text=True, check=False,
    )
    if ingest.returncode != 0:
        raise RuntimeError(f"aqua-ingester failed (exit {ingest.returncode}):\n{ingest.stderr[-2000:]}")
    last_lines = [line for line in (produce.stderr + ingest.stderr).splitlines() if line.strip()][-3:]
    return "; ".join(line.split(": ", 1)[-1] for line in last_lines)


def _materialize(store: Any, settings: Settings) -> str:
    from aquafs.db import connect

    with connect(settings.postgres) as conn:
        first, last = conn.execute("SELECT min(event_timestamp), max(event_timestamp) FROM water_readings").fetchone()
    if first is None:
        return "nothing to materialize"
    end = last + timedelta(hours=1)
    store.materialize(start_date=first, end_date=end)
    return f"{first:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC"


def _quality(settings: Settings) -> str:
    from quality.checkpoints import run_quality_checkpoint

    return str(run_quality_checkpoint(settings))


def _train(store: Any, settings: Settings) -> str:
    from training.train import train_model

    return str(train_model(store, settings))


def _predict(store: Any, settings: Settings) -> str:
    from training.predict import predict_all_sensors

    return str(predict_all_sensors(store, settings))
