"""Offline-store cases: point-in-time retrieval, materialization and offline writes."""

from __future__ import annotations

import io
import logging
import statistics
import time
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from feast import FeatureStore
from feast.repo_config import MaterializationConfig
from psycopg import sql

from aquafs.feast_store import FEATURE_REPO
from benchmarks.environment import (
    READING_COLUMNS,
    READINGS_VIEW,
    BenchEnvironment,
    sensor_ids,
    synthetic_readings,
)
from benchmarks.timing import duration_summary, rate_summary
from feast_timescale.offline_store import write_arrow_table

logger = logging.getLogger(__name__)

# Readings and engineered features share the view TTL of one hour (feature_repo/feature_views.py).
VIEW_TTL = pd.Timedelta(hours=1)


def entity_frame(sensors: list[str], day_start: pd.Timestamp, rows: int, *, seed: int = 5) -> pd.DataFrame:
    """Build ``rows`` training rows at random times from 10 minutes before the data to 2 hours after.

    The margins give rows with no reading yet and rows whose last reading is older than the TTL,
    so the joins must also produce nulls.
    """
    rng = np.random.default_rng(seed)
    seconds = rng.uniform(-600, 86_400 + 7_200, rows)
    return pd.DataFrame(
        {
            "sensor_id": rng.choice(np.array(sensors, dtype=object), rows),
            "event_timestamp": day_start + pd.to_timedelta(seconds, unit="s"),
            "row_id": np.arange(rows, dtype=np.int64),
        }
    )


def asof_oracle(entities: pd.DataFrame, tables: dict[str, tuple[pd.DataFrame, list[str]]]) -> pd.DataFrame:
    """Join each view's rows to the entity rows in memory with ``merge_asof``: the expected answer.

    A row qualifies when its event time is at or before the entity time and no older than the TTL;
    ``available_at`` equals the event time in the synthetic data, so it adds no condition here.
    """
    result = entities.sort_values("event_timestamp")
    for frame, features in tables.values():
        right = frame[["sensor_id", "event_timestamp", *features]].rename(columns={"event_timestamp": "_source_ts"})
        right = right.sort_values("_source_ts")
        result = pd.merge_asof(
            result, right, left_on="event_timestamp", right_on="_source_ts", by="sensor_id", direction="backward"
        )
        stale = result["_source_ts"] < result["event_timestamp"] - VIEW_TTL
        result.loc[stale, features] = np.nan
        result = result.drop(columns="_source_ts")
    return result.sort_values("row_id").reset_index(drop=True)


def count_mismatches(actual: pd.DataFrame, expected: pd.DataFrame, features: list[str]) -> int:
    """Count entity rows where any feature differs from the oracle (NaN equals NaN)."""
    merged = expected.merge(actual, on="row_id", how="left", suffixes=("_expected", ""))
    if len(merged) != len(expected) or len(actual) != len(expected):
        return abs(len(actual) - len(expected)) + int(merged["row_id"].duplicated().sum())
    bad = np.zeros(len(merged), dtype=bool)
    for name in features:
        want = merged[f"{name}_expected"].to_numpy(dtype=float)
        got = pd.to_numeric(merged[name], errors="coerce").to_numpy(dtype=float)
        bad |= ~np.isclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)
    return int(bad.sum())


def run_historical(
    environment: BenchEnvironment,
    tables: dict[str, tuple[pd.DataFrame, list[str]]],
    sizes: list[int],
    runs: int,
    stock_runs: int,
) -> list[dict[str, Any]]:
    """Time get_historical_features of the plugin, stock Feast and the in-memory oracle per size."""
    sensors = sorted(tables[READINGS_VIEW][0]["sensor_id"].unique())
    day_start = pd.Timestamp(environment.day_start)
    refs = [f"{view}:{name}" for view, (_, features) in tables.items() for name in features]
    features = [name for _, names in tables.values() for name in names]
    results = []
    for size in sizes:
        entities = entity_frame(sensors, day_start, size)
        oracle_times = []
        for _ in range(runs):
            started = time.perf_counter()
            expected = asof_oracle(entities, tables)
            oracle_times.append(time.perf_counter() - started)
        entry: dict[str, Any] = {
            "case": f"{size:,} entity rows, 2 views, {len(refs)} features",
            "entity_rows": size,
            "features": len(refs),
            "oracle_merge_asof": duration_summary(oracle_times),
            "null_rows_expected": int(expected[features].isna().any(axis=1).sum()),
        }
        for name, store, count in (("plugin", environment.store, runs), ("stock_feast", environment.stock_store, stock_runs)):
            durations, mismatches = _time_retrieval(store, entities, refs, expected, features, count)
            entry[name] = duration_summary(durations)
            entry[name]["rows_per_s"] = size / statistics.median(durations)
            entry[name]["mismatched_rows"] = mismatches
        entry["speedup_vs_stock"] = entry["stock_feast"]["median_s"] / entry["plugin"]["median_s"]
        results.append(entry)
        logger.info("historical %d rows: plugin %.2f s, stock %.2f s", size,
                    entry["plugin"]["median_s"], entry["stock_feast"]["median_s"])
    return results


def _time_retrieval(
    store: FeatureStore, entities: pd.DataFrame, refs: list[str], expected: pd.DataFrame, features: list[str], runs: int
) -> tuple[list[float], list[int]]:
    durations = []
    mismatches = []
    for _ in range(runs):
        started = time.perf_counter()
        frame = store.get_historical_features(entity_df=entities, features=refs).to_df()
        durations.append(time.perf_counter() - started)
        mismatches.append(count_mismatches(frame, expected, features))
    return durations, mismatches


def run_materialize(environment: BenchEnvironment, sensor_count: int, runs: int) -> dict[str, Any]:
    """Time ``materialize`` of sensor_readings over the synthetic day, both stores, and the raw query."""
    start = environment.day_start
    end = start + timedelta(days=1)
    entry: dict[str, Any] = {"case": f"{sensor_count} sensors x 1440 readings (1 day)", "source_rows": sensor_count * 1440}
    # Feast 0.67 materializes with pull_all_from_table_or_query unless the repo config sets
    # materialization.pull_latest_features, so that variant is measured too.
    latest_config = environment.store.config.model_copy(
        update={"materialization_config": MaterializationConfig(pull_latest_features=True)}
    )
    latest_store = FeatureStore(repo_path=str(FEATURE_REPO), config=latest_config)
    variants = (
        ("plugin", environment.store),
        ("stock_feast", environment.stock_store),
        ("plugin_pull_latest_features", latest_store),
    )
    for name, store in variants:
        durations = []
        for _ in range(runs):
            started = time.perf_counter()
            store.materialize(start_date=start, end_date=end, feature_views=[READINGS_VIEW])
            durations.append(time.perf_counter() - started)
        entry[name] = duration_summary(durations)

    query = sql.SQL(
        "SELECT DISTINCT ON (sensor_id) sensor_id, event_timestamp, site_id, pond_id, {} FROM water_readings "
        "WHERE event_timestamp >= %s AND event_timestamp < %s "
        "ORDER BY sensor_id, event_timestamp DESC, available_at DESC"
    ).format(sql.SQL(", ").join(sql.Identifier(name) for name in READING_COLUMNS))
    durations = []
    returned = 0
    with environment.connect() as conn:
        for _ in range(runs):
            started = time.perf_counter()
            returned = len(conn.execute(query, (start, end)).fetchall())
            durations.append(time.perf_counter() - started)
    entry["raw_distinct_on"] = duration_summary(durations)
    entry["raw_rows_returned"] = returned
    entry["pull_latest_vs_stock_speedup"] = (
        entry["stock_feast"]["median_s"] / entry["plugin_pull_latest_features"]["median_s"]
    )
    entry["plugin_vs_stock_speedup"] = entry["stock_feast"]["median_s"] / entry["plugin"]["median_s"]
    entry["plugin_vs_raw_ratio"] = entry["plugin"]["median_s"] / entry["raw_distinct_on"]["median_s"]
    return entry


def run_offline_write(environment: BenchEnvironment, rows: int, runs: int) -> dict[str, Any]:
    """Time rows/s of the plugin's ``write_arrow_table`` and a plain COPY of the same CSV into the table.

    Each run writes a new day (days 3 to 30 before the synthetic day), so no row conflicts and
    both writers insert everything. The plain COPY skips the plugin's staging table and conflict check.
    """
    sensors = sensor_ids(max(1, rows // 1440), prefix="bench-write")
    minutes = rows // len(sensors)
    plugin_times = []
    copy_times = []
    for run in range(runs):
        plugin_frame = synthetic_readings(sensors, environment.day_start - timedelta(days=3 + 2 * run), minutes)
        copy_frame = synthetic_readings(sensors, environment.day_start - timedelta(days=4 + 2 * run), minutes)
        plugin_table = pa.Table.from_pandas(plugin_frame, preserve_index=False)
        copy_table = pa.Table.from_pandas(copy_frame, preserve_index=False)
        with environment.connect() as conn:
            started = time.perf_counter()
            write_arrow_table(conn, "water_readings", plugin_table)
            conn.commit()
            plugin_times.append(time.perf_counter() - started)

            started = time.perf_counter()
            _plain_copy(conn, "water_readings", copy_table)
            conn.commit()
            copy_times.append(time.perf_counter() - started)
    written = len(sensors) * minutes
    plugin = rate_summary(written, plugin_times)
    raw = rate_summary(written, copy_times)
    return {
        "case": f"{written:,} readings per write",
        "plugin_write_arrow_table": plugin,
        "raw_copy": raw,
        "plugin_share_of_raw": plugin["median_rows_per_s"] / raw["median_rows_per_s"],
    }


def _plain_copy(conn: Any, table: str, arrow: pa.Table) -> None:
    buffer = io.BytesIO()
    pa_csv.write_csv(arrow, buffer, pa_csv.WriteOptions(include_header=False))
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in arrow.column_names)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(sql.Identifier(table), columns)
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(buffer.getvalue())
