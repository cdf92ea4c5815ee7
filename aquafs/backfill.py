"""Backfill of ``sensor_features`` from ``water_readings`` with the shared batch transforms.

Each sensor's readings are read in time order, passed through :func:`transforms.compute_features`
and written with :func:`feast_timescale.write_arrow_table`, which skips rows already stored, so a
second run writes nothing. ``available_at`` of a feature row is the ``available_at`` of its reading:
the features use only that reading and earlier ones, so they were computable as soon as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd
import psycopg
import pyarrow as pa
from psycopg import sql

from feast_timescale import write_arrow_table
from transforms.batch import compute_features
from transforms.parameters import PARAMETER_COLUMNS

logger = logging.getLogger(__name__)

_READING_COLUMNS = ("site_id", "pond_id", "sensor_id", "event_timestamp", "available_at", *PARAMETER_COLUMNS)


def read_readings(conn: psycopg.Connection, sensor_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Read ``water_readings`` (all sensors, or ``sensor_ids``) ordered by sensor and event time."""
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in _READING_COLUMNS)
    query = sql.SQL("SELECT {} FROM water_readings").format(columns)
    params: list[object] = []
    if sensor_ids is not None:
        query = query + sql.SQL(" WHERE sensor_id = ANY(%s)")
        params.append(list(sensor_ids))
    query = query + sql.SQL(" ORDER BY sensor_id, event_timestamp")
    with conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    frame = pd.DataFrame(rows, columns=list(_READING_COLUMNS))
    for name in ("event_timestamp", "available_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    for name in PARAMETER_COLUMNS:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame


def feature_rows(readings: pd.DataFrame) -> pd.DataFrame:
    """Compute the ``sensor_features`` rows of ``readings`` (the wide reading contract plus ``available_at``)."""
    features = compute_features(readings)
    available = readings[["sensor_id", "event_timestamp", "available_at"]]
    merged = features.merge(available, on=["sensor_id", "event_timestamp"], how="left", validate="one_to_one")
    return merged


def write_feature_rows(conn: psycopg.Connection, rows: pd.DataFrame) -> int:
    """Write feature rows to ``sensor_features``; return how many were new."""
    # NOTE: a column this process does not set (such as a server-filled write time) is left out.
    table = pa.Table.from_pandas(rows.reset_index(drop=True), preserve_index=False)
    written = write_arrow_table(conn, "sensor_features", table)
    conn.commit()
    return written


def backfill_features(conn: psycopg.Connection, sensor_ids: Sequence[str] | None = None) -> int:
    """Compute and store the features of every reading of ``sensor_ids`` (default: all sensors).

    Returns:
        How many feature rows were new to ``sensor_features``.
    """
    readings = read_readings(conn, sensor_ids)
    complete = _sensors_with_all_features(conn)
    written = 0
    for sensor_id, group in readings.groupby("sensor_id", sort=True):
        if sensor_id in complete:
            # Every reading already has its feature row; recomputing would only be discarded.
            logger.info("sensor %s: all %d feature rows already stored", sensor_id, len(group))
            continue
        new_rows = write_feature_rows(conn, feature_rows(group))
        logger.info("backfilled %d of %d feature rows of sensor %s", new_rows, len(group), sensor_id)
        written += new_rows
    return written


def _sensors_with_all_features(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        """
        SELECT r.sensor_id
        FROM (SELECT sensor_id, count(*) AS n FROM water_readings GROUP BY sensor_id) AS r
        JOIN (SELECT sensor_id, count(*) AS n FROM sensor_features GROUP BY sensor_id) AS f USING (sensor_id)
        WHERE f.n >= r.n
        """
    ).fetchall()
    return {row[0] for row in rows}
