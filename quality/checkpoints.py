"""Checkpoints that guard writes and training: per-batch row filtering and a stop before training.

- :func:`validate_readings_batch` splits a batch of readings into the rows to store and the rows to
  dead-letter, each with the expectation that rejected it.
- :func:`check_training_set_or_raise` stops training with :class:`DataQualityError`, listing every
  failed expectation, when the labelled frame or its time split is unsound.
- :func:`run_store_checkpoints` validates the stored readings and features and renders Data Docs
  (``aquafs quality``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pandas as pd
import psycopg
from psycopg import sql

from aquafs.errors import TerminalError
from ingestion.validation import MEASUREMENT_FIELDS
from quality.runner import FailedExpectation, QualityRunner, failed_expectations
from quality.suites import (
    FEATURE_FAMILIES,
    feature_family_suite,
    raw_readings_parameters,
    raw_readings_suite,
    split_summary_suite,
    training_set_suite,
)

logger = logging.getLogger(__name__)

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DOCS_DIR: Final = REPO_ROOT / "artifacts" / "data_docs"
FAILURE_COLUMNS: Final = ("row_position", "expectation", "column", "reason")

_runner: QualityRunner | None = None


class DataQualityError(TerminalError):
    """Data failed a suite that guards a job; ``failures`` lists each failed expectation."""

    def __init__(self, suite_name: str, failures: list[FailedExpectation]) -> None:
        lines = "\n  ".join(failure.describe() for failure in failures)
        super().__init__(f"data quality check {suite_name!r} failed {len(failures)} expectation(s):\n  {lines}")
        self.suite_name = suite_name
        self.failures = failures


@dataclass(frozen=True)
class CheckpointReport:
    """Outcome of one suite run by :func:`run_store_checkpoints`."""

    suite_name: str
    rows: int
    success: bool
    failures: list[FailedExpectation]


@dataclass(frozen=True)
class ReadingsBatchCheck:
    """Outcome of :func:`check_readings_batch`."""

    good: pd.DataFrame
    """Rows to store, with the input's index."""
    failures: pd.DataFrame
    """One row per (failing input row, failed expectation): the input's columns plus ``expectation``,
    ``column`` and ``reason``."""
    batch_failures: list[FailedExpectation]
    """Failed expectations that judge the batch as a whole (``mostly`` below 1.0); they reject no row."""


def validate_readings_batch(
    df: pd.DataFrame, *, now: datetime | None = None, runner: QualityRunner | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a batch of wide readings into rows to store and rows to dead-letter.

    The same check as :func:`check_readings_batch`, whose ``batch_failures`` are logged at WARNING.

    Returns:
        ``(good_df, failures_df)`` as :class:`ReadingsBatchCheck` describes them.
    """
    check = check_readings_batch(df, now=now, runner=runner)
    return check.good, check.failures


def check_readings_batch(
    df: pd.DataFrame, *, now: datetime | None = None, runner: QualityRunner | None = None
) -> ReadingsBatchCheck:
    """Validate a batch of wide readings against ``water_readings_raw`` and split off failing rows.

    ``event_timestamp`` is parsed as UTC (unparseable values become missing and fail the
    not-null expectation) and measurement columns are coerced to float (a non-numeric value becomes
    missing). Of a repeated (sensor_id, event_timestamp), the first row in the batch is kept.
    An expectation with ``mostly`` below 1.0 (the water-temperature null rate) judges the batch and
    rejects no row; it is logged at WARNING and returned in ``batch_failures``. Any other
    expectation that fails without naming rows (a missing column) fails every row. Columns the
    suite does not know are passed through unchanged.
    """
    now = now or datetime.now(UTC)
    frame = _coerce_readings(df)
    # One registered suite per runner, with the time bound as a parameter: a suite built per call
    # made each batch slower and the in-memory context larger (see QualityRunner.validate_reused).
    result = (runner or _default_runner()).validate_reused(
        "readings_batch", raw_readings_suite, frame, expectation_parameters=raw_readings_parameters(now)
    )

    duplicate_positions: set[int] = set()
    if {"sensor_id", "event_timestamp"} <= set(frame.columns):
        repeated = frame.duplicated(["sensor_id", "event_timestamp"], keep="first").to_numpy()
        duplicate_positions = {int(position) for position in repeated.nonzero()[0]}
    records: list[dict[str, object]] = []
    batch_failures: list[FailedExpectation] = []
    for failure in failed_expectations(result):
        if failure.is_batch_level:
            batch_failures.append(failure)
            continue
        positions: tuple[int, ...] | range | list[int] = failure.row_positions or range(len(frame))
        if failure.expectation == "expect_compound_columns_to_be_unique":
            positions = [position for position in positions if position in duplicate_positions]
        for position in positions:
            records.append(
                {
                    "row_position": position,
                    "expectation": failure.expectation,
                    "column": failure.column,
                    "reason": _row_reason(frame, position, failure),
                }
            )

    failures = pd.DataFrame(records, columns=list(FAILURE_COLUMNS))
    bad_positions = set(failures["row_position"].astype(int))
    good = df.iloc[[p for p in range(len(df)) if p not in bad_positions]]
    failed_rows = df.reset_index(drop=True).iloc[failures["row_position"].astype(int)].reset_index(drop=True)
    failures_df = pd.concat([failed_rows, failures.drop(columns="row_position").reset_index(drop=True)], axis=1)
    if not failures_df.empty:
        logger.warning(
            "readings batch: %d of %d rows failed %s", len(bad_positions), len(df), sorted(set(failures["expectation"]))
        )
    if batch_failures:
        logger.warning(
            "readings batch of %d rows failed batch-level expectation(s): %s",
            len(df),
            "; ".join(failure.describe() for failure in batch_failures),
        )
    return ReadingsBatchCheck(good=good, failures=failures_df, batch_failures=batch_failures)


def check_training_set_or_raise(
    training_frame: pd.DataFrame,
    is_train: pd.Series,
    *,
    min_rows: int = 100,
    runner: QualityRunner | None = None,
) -> None:
    """Raise :class:`DataQualityError` unless the labelled frame and its time split are sound.

    Args:
        training_frame: one row per entity row with ``sensor_id``, ``event_timestamp``,
            ``label``, ``label_timestamp`` and the features.
        is_train: boolean mask of the training rows (the rest is the test set).
    """
    runner = runner or _default_runner()
    failures = failed_expectations(runner.validate(training_set_suite(min_rows), training_frame))
    train, test = training_frame[is_train.to_numpy()], training_frame[~is_train.to_numpy()]
    summary = pd.DataFrame(
        {
            "train_max_label_timestamp": [train["label_timestamp"].max()],
            "test_min_event_timestamp": [test["event_timestamp"].min()],
            "train_rows": [len(train)],
            "test_rows": [len(test)],
        }
    )
    failures += failed_expectations(runner.validate(split_summary_suite(), summary))
    if failures:
        raise DataQualityError("training_set", failures)


def run_store_checkpoints(
    conn: psycopg.Connection, *, data_docs_dir: Path = DEFAULT_DATA_DOCS_DIR, now: datetime | None = None
) -> list[CheckpointReport]:
    """Validate ``water_readings`` and every feature family in ``sensor_features``; render Data Docs.

    Returns:
        One report per suite; the HTML index is ``data_docs_dir / "index.html"``.
    """
    runner = QualityRunner(data_docs_dir)
    reports: list[CheckpointReport] = []

    readings = _read_table(conn, "water_readings")
    result = runner.validate(raw_readings_suite(now or datetime.now(UTC)), readings, asset_name="water_readings")
    reports.append(CheckpointReport("water_readings_raw", len(readings), bool(result.success), failed_expectations(result)))

    features = _read_table(conn, "sensor_features")
    for family in FEATURE_FAMILIES:
        suite = feature_family_suite(family)
        result = runner.validate(suite, features, asset_name="sensor_features")
        reports.append(CheckpointReport(suite.name, len(features), bool(result.success), failed_expectations(result)))
    return reports


def _row_reason(frame: pd.DataFrame, position: int, failure: FailedExpectation) -> str:
    if failure.column in frame.columns:
        value = frame.at[position, failure.column]
        shown = value.item() if hasattr(value, "item") else value
        return f"{failure.column}={shown!r} failed {failure.expectation}"
    if failure.row_positions:
        return f"{failure.column} failed {failure.expectation}"
    return f"the batch failed {failure.describe()}"


def _coerce_readings(df: pd.DataFrame) -> pd.DataFrame:
    frame = df.reset_index(drop=True).copy()
    for name in ("event_timestamp", "available_at"):
        if name in frame.columns:
            frame[name] = pd.to_datetime(frame[name], utc=True, errors="coerce", format="ISO8601")
    for name in MEASUREMENT_FIELDS:
        if name in frame.columns:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame


def _read_table(conn: psycopg.Connection, table: str) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
        columns = [column.name for column in cur.description or []]
        frame = pd.DataFrame(cur.fetchall(), columns=columns)
    for name in frame.columns:
        if name in ("event_timestamp", "available_at"):
            frame[name] = pd.to_datetime(frame[name], utc=True)
        elif frame[name].dtype == object and name not in ("site_id", "pond_id", "sensor_id", "source"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
    for name in MEASUREMENT_FIELDS:
        if name in frame.columns:
            frame[name] = frame[name].astype("float64")
    return frame


def _default_runner() -> QualityRunner:
    global _runner
    if _runner is None:
        _runner = QualityRunner()
    return _runner
