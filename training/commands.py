"""Handlers of ``aquafs backfill``, ``aquafs quality``, ``aquafs train`` and ``aquafs predict``.

:mod:`aquafs.cli` lists them in its ``COMMANDS`` table and calls :func:`add_arguments` for their options.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path

from aquafs.settings import Settings


def add_arguments(name: str, sub: argparse.ArgumentParser) -> None:
    """Add the options of subcommand ``name`` to its parser."""
    if name == "backfill":
        sub.add_argument("--sensor", action="append", dest="sensors", help="sensor_id to backfill (repeatable; default: all)")
    if name == "quality":
        sub.add_argument("--data-docs-dir", type=Path, default=None, help="output folder of the HTML Data Docs (default: artifacts/data_docs)")
    if name in ("train", "predict"):
        sub.add_argument("--model-name", default="water_temp_60m", help="file name of the model under --models-dir (default: water_temp_60m)")
        sub.add_argument("--models-dir", type=Path, default=None, help="folder of the model files (default: artifacts/models)")
        sub.add_argument(
            "--project",
            default=os.environ.get("AQUA_FEAST_PROJECT"),
            help="Feast project (default: AQUA_FEAST_PROJECT, else the one in feature_store.yaml)",
        )
    if name == "predict":
        sub.add_argument("--now", default=None, help="request time, ISO 8601 with offset (default: the clock)")
        sub.add_argument("--server", default=None, help="base URL of a `feast serve` server to read features from instead of Redis")


def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    from aquafs.backfill import backfill_features
    from aquafs.db import connect

    with connect(settings.postgres) as conn:
        written = backfill_features(conn, args.sensors)
    print(f"sensor_features rows written: {written}")
    return 0


def cmd_quality(args: argparse.Namespace, settings: Settings) -> int:
    from aquafs.db import connect
    from quality.checkpoints import DEFAULT_DATA_DOCS_DIR, run_store_checkpoints

    docs_dir = args.data_docs_dir or DEFAULT_DATA_DOCS_DIR
    with connect(settings.postgres) as conn:
        reports = run_store_checkpoints(conn, data_docs_dir=docs_dir)
    for report in reports:
        print(f"{'passed' if report.success else 'FAILED'}  {report.suite_name} ({report.rows} rows)")
        for failure in report.failures:
            print(f"    {failure.describe()}")
    print(f"Data Docs: {docs_dir / 'index.html'}")
    return 0 if all(report.success for report in reports) else 1


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from aquafs.db import connect
    from aquafs.feast_store import open_store
    from training.train import DEFAULT_MODELS_DIR, train_model

    store = open_store(settings, project=args.project)
    with connect(settings.postgres) as conn:
        result = train_model(store, conn, model_name=args.model_name, models_dir=args.models_dir or DEFAULT_MODELS_DIR)
    print(f"model: {result.model_path}\nmetadata: {result.metadata_path}")
    print(f"test period {result.metadata['test_range'][0]} .. {result.metadata['test_range'][1]}")
    for name, metrics in result.metadata["metrics"].items():
        print(f"  {name:20s} MAE {metrics['mae']:.3f} °C  RMSE {metrics['rmse']:.3f} °C  R² {metrics['r2']:.3f}  rows {metrics['rows']}")
    return 0


def cmd_predict(args: argparse.Namespace, settings: Settings) -> int:
    import pandas as pd

    from aquafs.db import connect
    from aquafs.feast_store import open_store
    from training.predict import load_model, predict_http, predict_online, sensor_entity_rows
    from training.train import DEFAULT_MODELS_DIR

    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    loaded = load_model(args.model_name, args.models_dir or DEFAULT_MODELS_DIR)
    with connect(settings.postgres) as conn:
        rows = sensor_entity_rows(conn, now)
    if args.server:
        predictions = predict_http(args.server, loaded, rows)
    else:
        predictions = predict_online(open_store(settings, project=args.project), loaded, rows, now=now)
    with pd.option_context("display.width", 200, "display.max_columns", 8):
        print(predictions[["sensor_id", "water_temp_c", "predicted_water_temp_c", "target_time", "sensor_readings__age_seconds"]])
    return 0
