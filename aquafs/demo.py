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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aquafs.errors import TerminalError
from aquafs.settings import Settings
from ingestion.audit import JOB_NAME as INGESTER_JOB

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
DEFAULT_ARTIFACTS_DIR = REPO_ROOT / "artifacts"


@dataclass
class DemoSummary:
    """Counts and results of the main job, printed at the end."""

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


def run_demo(
    settings: Settings,
    data_dir: Path = DEFAULT_DATA_DIR,
    *,
    artifacts_dir: Path = DEFAULT_ARTIFACTS_DIR,
    replay_limit: int = 0,
) -> DemoSummary:
    """Run the main job against the configured stack and return its summary.

    Args:
        artifacts_dir: where the model and the Data Docs go.
        replay_limit: replay only the first N readings (in event-time order) through Kafka; 0 replays all.
    """
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

    replayed = steps.run(
        "replay the history through Kafka into both stores", lambda: _replay(settings, data_dir, replay_limit)
    )
    summary.add("kafka messages consumed / new offline rows / dead-lettered", replayed)

    window = steps.run("materialize to Redis", lambda: _materialize(store, settings))
    summary.add("materialized window", window)

    quality = steps.run("run the data-quality checkpoint", lambda: _quality(settings, artifacts_dir / "data_docs"))
    summary.add("data quality", quality)

    trained = steps.run("train the water-quality model", lambda: _train(store, settings, artifacts_dir / "models"))
    summary.add("model", trained)

    predictions = steps.run(
        "predict online for every sensor", lambda: _predict(store, settings, artifacts_dir / "models")
    )
    print("\nOnline forecasts of the water temperature 60 minutes ahead:\n" + predictions, flush=True)
    return summary


def _backfill(settings: Settings) -> int:
    from aquafs.backfill import backfill_features
    from aquafs.db import connect

    with connect(settings.postgres) as conn:
        return backfill_features(conn)


def _replay(settings: Settings, data_dir: Path, limit: int) -> str:
    """Replay the CSV history onto the readings topic, then run one ingester until the topic is idle."""
    from aquafs.db import connect

    bin_dir = Path(sys.executable).parent
    started = datetime.now(UTC)
    produce = subprocess.run(
        [str(bin_dir / "aqua-producer"), "replay", "--data-dir", str(data_dir), "--speedup", "0", "--limit", str(limit)],
        capture_output=True, text=True, check=False,
    )
    if produce.returncode != 0:
        raise TerminalError(f"aqua-producer failed (exit {produce.returncode}):\n{produce.stderr[-2000:]}")
    ingest = subprocess.run(
        [str(bin_dir / "aqua-ingester"), "--idle-exit-seconds", "5", "--batch-size", "2000"],
        capture_output=True, text=True, check=False,
    )
    if ingest.returncode != 0:
        raise TerminalError(f"aqua-ingester failed (exit {ingest.returncode}):\n{ingest.stderr[-2000:]}")
    with connect(settings.postgres) as conn:
        totals = conn.execute(
            "SELECT coalesce(sum(rows_read), 0), coalesce(sum(rows_written), 0), coalesce(sum(rows_rejected), 0) "
            "FROM ingestion_audit WHERE job = %s AND started_at >= %s",
            (INGESTER_JOB, started),
        ).fetchone()
    # An aggregate without GROUP BY always returns one row.
    assert totals is not None
    read, written, rejected = totals
    return f"{read} / {written} / {rejected}"


def _materialize(store: Any, settings: Settings) -> str:
    from aquafs.db import connect

    with connect(settings.postgres) as conn:
        span = conn.execute("SELECT min(event_timestamp), max(event_timestamp) FROM water_readings").fetchone()
    assert span is not None
    first, last = span
    if first is None:
        return "nothing to materialize"
    end = last + timedelta(hours=1)
    store.materialize(start_date=first, end_date=end)
    return f"{first:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC"


def _quality(settings: Settings, data_docs_dir: Path) -> str:
    from aquafs.db import connect
    from quality.checkpoints import run_store_checkpoints

    with connect(settings.postgres) as conn:
        reports = run_store_checkpoints(conn, data_docs_dir=data_docs_dir)
    failed = [report for report in reports if not report.success]
    for report in failed:
        for failure in report.failures:
            logger.warning("quality suite %s: %s", report.suite_name, failure.describe())
    return (
        f"{len(reports) - len(failed)} of {len(reports)} suites passed; "
        f"Data Docs: {data_docs_dir / 'index.html'}"
    )


def _train(store: Any, settings: Settings, models_dir: Path) -> str:
    from aquafs.db import connect
    from training.train import train_model

    with connect(settings.postgres) as conn:
        result = train_model(store, conn, models_dir=models_dir)
    lines = [f"{result.model_path} (test {result.metadata['test_range'][0]} .. {result.metadata['test_range'][1]})"]
    for name, metrics in result.metadata["metrics"].items():
        lines.append(f"{name}: MAE {metrics['mae']:.3f} °C, RMSE {metrics['rmse']:.3f} °C, R² {metrics['r2']:.3f}")
    return "\n    ".join(lines)


def _predict(store: Any, settings: Settings, models_dir: Path) -> str:
    """Forecast every sensor as of one minute after its own latest reading.

    The datasets are historical (2020-2022), so at the wall-clock time every online value is older
    than its view's TTL and would be blanked; each sensor is asked at the end of its own history.
    """
    import pandas as pd

    from aquafs.db import connect
    from training.predict import load_model, predict_online

    loaded = load_model(models_dir=models_dir)
    with connect(settings.postgres) as conn:
        latest = conn.execute(
            "SELECT sensor_id, site_id, pond_id, max(event_timestamp) FROM water_readings "
            "GROUP BY sensor_id, site_id, pond_id ORDER BY sensor_id"
        ).fetchall()
    frames = []
    for sensor_id, site_id, pond_id, last_reading in latest:
        now = last_reading + timedelta(minutes=1)
        row = {"sensor_id": sensor_id, "site_id": site_id, "pond_id": pond_id, "request_time": now}
        frames.append(predict_online(store, loaded, [row], now=now))
    predictions = pd.concat(frames, ignore_index=True)
    columns = ["sensor_id", "request_time", "water_temp_c", "predicted_water_temp_c", "sensor_readings__age_seconds"]
    with pd.option_context("display.width", 200, "display.max_columns", 10):
        return predictions[columns].to_string(index=False)
