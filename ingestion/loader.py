"""Batch loader of the CSV history into ``water_readings`` (``aquafs load``).

One run reads every line of both datasets (:mod:`ingestion.sources`), validates each record with
:func:`ingestion.validation.validate_reading`, runs the valid readings of each file through the
``water_readings_raw`` suite (:func:`quality.checkpoints.check_readings_batch`; a failing row is
rejected as ``quality_check``) and then, in order:

1. creates the plain-PostgreSQL partitions that the readings need (a no-op on TimescaleDB);
2. in one transaction, COPYs the valid readings into a temporary table and moves them with
   ``INSERT ... ON CONFLICT DO NOTHING``, so readings already stored count as ``already_present``;
   records every rejected line in ``rejected_readings`` (idempotent on source, position and
   reason); and writes one ``ingestion_audit`` row;
3. refreshes the pond statistics over the loaded time range.

Every line ends up in exactly one of loaded, already present or rejected, so
``rows_read == rows_loaded + rows_already_present + rows_rejected``. A second run loads nothing
new and records no rejection twice. ``available_at`` equals ``event_timestamp`` for this history,
because those logger records were readable as they were written.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import pandas as pd
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from aquafs.db import connect
from aquafs.errors import InvalidReadingError
from aquafs.migrations import refresh_aggregates
from aquafs.settings import PostgresSettings
from ingestion.sources import KU_MWQ_DEFAULT_TIMEZONE, SourceRow, iter_dataset_rows
from ingestion.validation import MEASUREMENT_FIELDS, Reading, validate_reading
from quality.checkpoints import check_readings_batch
from quality.runner import QualityRunner

logger = logging.getLogger(__name__)

JOB_NAME: Final = "history_load"
REASON_DUPLICATE: Final = "duplicate"
# A reading that passed validate_reading but failed an expectation of the water_readings_raw suite.
REASON_QUALITY_CHECK: Final = "quality_check"

READING_COLUMNS: Final = (
    "site_id",
    "pond_id",
    "sensor_id",
    "event_timestamp",
    "available_at",
    *MEASUREMENT_FIELDS,
    "source",
)

# Bucket width of the coarsest aggregate: the refresh window is widened by it on both sides so
# that TimescaleDB, which refreshes only whole buckets inside the window, covers the edges too.
_REFRESH_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class Rejection:
    """A line that was not loaded, with the reason code and the original bytes."""

    source: str
    position: str
    reason: str
    detail: str
    payload: bytes


@dataclass(frozen=True)
class LoadResult:
    """Counts of one history load."""

    batch_id: uuid.UUID
    rows_read: int
    """Data lines read from the files (headers excluded)."""
    rows_loaded: int
    """Readings newly inserted into ``water_readings``."""
    rows_already_present: int
    """Valid readings that ``water_readings`` already held (an earlier run loaded them)."""
    rows_rejected: int
    """Lines rejected in this run, whatever earlier runs recorded."""
    rejected_by_reason: Mapping[str, int] = field(default_factory=dict)
    rejections_recorded: int = 0
    """Rows newly added to ``rejected_readings``; 0 when an earlier run recorded the same ones."""
    lines_per_file: Mapping[str, int] = field(default_factory=dict)
    batch_quality_failures: Mapping[str, list[str]] = field(default_factory=dict)
    """Per source file, the batch-level expectations (statistics of the file's valid readings, such
    as the water-temperature null rate) that failed, each described; they reject no line."""


def load_history(
    postgres_settings: PostgresSettings,
    data_dir: Path,
    *,
    ku_mwq_timezone: str = KU_MWQ_DEFAULT_TIMEZONE,
    now: datetime | None = None,
    refresh: bool = True,
    quality_checks: bool = True,
    quality_runner: QualityRunner | None = None,
) -> LoadResult:
    """Load both datasets under ``data_dir`` into a migrated database.

    Args:
        postgres_settings: target database; it must have been migrated (``aquafs migrate``).
        data_dir: folder that contains ``ku_mwq_fish_pond_depths/`` and
            ``sensor_aquaponics_fish_ponds/``.
        ku_mwq_timezone: IANA zone of the KU-MWQ local timestamps (an inference; see
            :mod:`ingestion.sources`).
        now: the time readings are checked against for ``timestamp_in_future``; default: the clock.
        refresh: refresh ``pond_stats_15m`` and ``pond_stats_1h`` after the load.
        quality_checks: run each file's valid readings through the ``water_readings_raw`` suite.
        quality_runner: the Great Expectations runner for those checks; default: the shared one.

    Raises:
        TerminalError: a source file is missing or its header is not as expected.
        ConfigError: ``ku_mwq_timezone`` is not a time-zone name.
        TransientError: PostgreSQL is unreachable.
        psycopg.Error: the load failed; its transaction is rolled back and nothing is recorded.
    """
    started_at = datetime.now(UTC)
    check_time = now or started_at
    batch_id = uuid.uuid4()

    rows = list(iter_dataset_rows(data_dir, ku_mwq_timezone=ku_mwq_timezone))
    valid, rejections = _split_rows(rows, now=check_time)
    batch_failures: dict[str, list[str]] = {}
    if quality_checks:
        valid, failed, batch_failures = _check_quality(valid, now=check_time, runner=quality_runner)
        rejections.extend(failed)
    readings = [reading for _, reading in valid]
    lines_per_file = dict(Counter(row.source for row in rows))
    logger.info(
        "read %d lines from %d files in %s: %d valid, %d rejected",
        len(rows),
        len(lines_per_file),
        data_dir,
        len(readings),
        len(rejections),
    )

    with connect(postgres_settings) as conn:
        time_range: tuple[datetime, datetime] | None = None
        if readings:
            time_range = (
                min(reading.event_timestamp for reading in readings),
                max(reading.event_timestamp for reading in readings),
            )
            created = conn.execute("SELECT aqua_ensure_partitions(%s, %s)", time_range).fetchone()
            conn.commit()
            logger.info(
                "partitions ready for %s .. %s (%s created)",
                *time_range,
                created[0] if created else 0,
            )

        with conn.transaction():
            inserted = _insert_readings(conn, readings)
            recorded = _insert_rejections(conn, rejections)
            by_reason = dict(sorted(Counter(item.reason for item in rejections).items()))
            result = LoadResult(
                batch_id=batch_id,
                rows_read=len(rows),
                rows_loaded=inserted,
                rows_already_present=len(readings) - inserted,
                rows_rejected=len(rejections),
                rejected_by_reason=by_reason,
                rejections_recorded=recorded,
                lines_per_file=lines_per_file,
                batch_quality_failures=batch_failures,
            )
            _insert_audit(conn, result, data_dir=data_dir, started_at=started_at)

        if refresh and inserted and time_range is not None:
            refresh_aggregates(
                conn, start=time_range[0] - _REFRESH_MARGIN, end=time_range[1] + _REFRESH_MARGIN
            )

    logger.info(
        "history load %s: read %d, loaded %d, already present %d, rejected %d %s (%d newly recorded)",
        batch_id,
        result.rows_read,
        result.rows_loaded,
        result.rows_already_present,
        result.rows_rejected,
        result.rejected_by_reason,
        result.rejections_recorded,
    )
    return result


def _split_rows(
    rows: Iterable[SourceRow], *, now: datetime
) -> tuple[list[tuple[SourceRow, Reading]], list[Rejection]]:
    """Validate each row; the first reading of a (sensor, time) pair wins, later ones are duplicates."""
    readings: list[tuple[SourceRow, Reading]] = []
    rejections: list[Rejection] = []
    first_seen: dict[tuple[str, datetime], str] = {}

    for row in rows:
        try:
            if row.error is not None:
                raise row.error
            reading = validate_reading(row.record or {}, now=now)
        except InvalidReadingError as error:
            rejections.append(Rejection(row.source, row.position, error.reason, error.detail, row.payload))
            logger.debug("rejected %s: %s", row.position, error)
            continue

        key = (reading.sensor_id, reading.event_timestamp)
        earlier = first_seen.get(key)
        if earlier is not None:
            detail = (
                f"sensor {reading.sensor_id} at {reading.event_timestamp.isoformat()} was already read "
                f"from {earlier}; the first occurrence is kept"
            )
            rejections.append(Rejection(row.source, row.position, REASON_DUPLICATE, detail, row.payload))
            continue
        first_seen[key] = row.position
        readings.append((row, reading))

    return readings, rejections


def _check_quality(
    valid: list[tuple[SourceRow, Reading]], *, now: datetime, runner: QualityRunner | None
) -> tuple[list[tuple[SourceRow, Reading]], list[Rejection], dict[str, list[str]]]:
    """Run the valid readings of each source file through ``water_readings_raw``.

    Each file is one batch, so a batch-level statistic describes one logger's file. A line that
    fails expectations becomes one ``quality_check`` rejection whose detail lists every one of them.

    Returns:
        The readings that passed, the rejections, and the failed batch-level expectations per file.
    """
    by_file: dict[str, list[tuple[SourceRow, Reading]]] = {}
    for pair in valid:
        by_file.setdefault(pair[0].source, []).append(pair)

    passed: list[tuple[SourceRow, Reading]] = []
    rejections: list[Rejection] = []
    batch_failures: dict[str, list[str]] = {}
    for source, pairs in by_file.items():
        check = check_readings_batch(_readings_frame([reading for _, reading in pairs]), now=now, runner=runner)
        if check.batch_failures:
            batch_failures[source] = [failure.describe() for failure in check.batch_failures]
            logger.warning(
                "%s failed batch-level expectation(s) %s; its lines are loaded all the same",
                source,
                sorted({failure.expectation for failure in check.batch_failures}),
            )
        failed_positions: dict[int, list[str]] = {}
        for failure in check.failures.itertuples(index=False):
            failed_positions.setdefault(int(failure.batch_position), []).append(
                f"{failure.expectation} on {failure.column}: {failure.reason}"
            )
        for position, pair in enumerate(pairs):
            details = failed_positions.get(position)
            if details is None:
                passed.append(pair)
                continue
            row = pair[0]
            rejections.append(Rejection(row.source, row.position, REASON_QUALITY_CHECK, "; ".join(details), row.payload))
    if rejections:
        logger.warning("%d valid readings failed the water_readings_raw suite", len(rejections))
    return passed, rejections, batch_failures


def _readings_frame(readings: list[Reading]) -> pd.DataFrame:
    """Build the wide frame of ``water_readings`` rows, with ``batch_position`` to map failures back."""
    frame = pd.DataFrame(
        {
            "site_id": [reading.site_id for reading in readings],
            "pond_id": [reading.pond_id for reading in readings],
            "sensor_id": [reading.sensor_id for reading in readings],
            "event_timestamp": pd.to_datetime([reading.event_timestamp for reading in readings], utc=True),
            **{name: [getattr(reading, name) for reading in readings] for name in MEASUREMENT_FIELDS},
        }
    )
    frame.insert(4, "available_at", frame["event_timestamp"])  # as stored: see the module docstring
    for name in MEASUREMENT_FIELDS:
        frame[name] = frame[name].astype("float64")
    frame["batch_position"] = range(len(frame))
    return frame


def _insert_readings(conn: psycopg.Connection, readings: list[Reading]) -> int:
    """Insert readings through a COPY-filled temporary table; return how many were new."""
    if not readings:
        return 0
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in READING_COLUMNS)
    conn.execute(
        "CREATE TEMP TABLE water_readings_stage (LIKE water_readings INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    with conn.cursor() as cursor:
        copy_statement = sql.SQL("COPY water_readings_stage ({}) FROM STDIN").format(columns)
        with cursor.copy(copy_statement) as copy:
            for reading in sorted(readings, key=lambda item: (item.sensor_id, item.event_timestamp)):
                copy.write_row(
                    (
                        reading.site_id,
                        reading.pond_id,
                        reading.sensor_id,
                        reading.event_timestamp,
                        reading.event_timestamp,  # available_at: see the module docstring
                        *(getattr(reading, name) for name in MEASUREMENT_FIELDS),
                        reading.source or "",
                    )
                )
        cursor.execute(
            sql.SQL(
                "INSERT INTO water_readings ({columns}) SELECT {columns} FROM water_readings_stage "
                "ON CONFLICT (sensor_id, event_timestamp) DO NOTHING"
            ).format(columns=columns)
        )
        return cursor.rowcount


def _insert_rejections(conn: psycopg.Connection, rejections: list[Rejection]) -> int:
    """Record rejected lines; return how many were not recorded by an earlier run."""
    if not rejections:
        return 0
    conn.execute(
        """
        CREATE TEMP TABLE rejected_readings_stage (
            source text, source_position text, reason text, detail text, payload bytea
        ) ON COMMIT DROP
        """
    )
    with conn.cursor() as cursor:
        with cursor.copy(
            "COPY rejected_readings_stage (source, source_position, reason, detail, payload) FROM STDIN"
        ) as copy:
            for item in rejections:
                copy.write_row((item.source, item.position, item.reason, item.detail, item.payload))
        cursor.execute(
            """
            INSERT INTO rejected_readings (source, source_position, reason, detail, payload)
            SELECT source, source_position, reason, detail, payload FROM rejected_readings_stage
            ON CONFLICT (source, source_position, reason) DO NOTHING
            """
        )
        return cursor.rowcount


def _insert_audit(
    conn: psycopg.Connection, result: LoadResult, *, data_dir: Path, started_at: datetime
) -> None:
    sources = sorted({name.split("/", 1)[0] for name in result.lines_per_file})
    conn.execute(
        """
        INSERT INTO ingestion_audit (
            batch_id, job, source, rows_read, rows_written, rows_rejected, rows_duplicate,
            started_at, finished_at, offsets
        ) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, clock_timestamp(), %s)
        """,
        (
            result.batch_id,
            JOB_NAME,
            ",".join(sources),
            result.rows_read,
            result.rows_loaded,
            result.rows_rejected,
            result.rows_already_present,
            started_at,
            Jsonb(
                {
                    "data_dir": data_dir.name,
                    "lines_per_file": dict(result.lines_per_file),
                    "rejected_by_reason": dict(result.rejected_by_reason),
                    "rejections_recorded": result.rejections_recorded,
                    "batch_quality_failures": dict(result.batch_quality_failures),
                }
            ),
        ),
    )
