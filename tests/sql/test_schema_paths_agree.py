"""Both schema variants give the same query results on the same real readings.

The plain-PostgreSQL variant runs on the local server. The TimescaleDB variant runs in PGlite
through sql/timescale_check/compare.mjs, because the local server has no TimescaleDB.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from aquafs.migrations import SQL_DIR, apply_migrations, refresh_aggregates
from aquafs.settings import PostgresSettings
from ingestion.loader import READING_COLUMNS, load_history

pytestmark = pytest.mark.services

logger = logging.getLogger(__name__)

CHECK_DIR: Final = SQL_DIR / "timescale_check"
KU_MWQ_TIMESTAMPS: Final = 1_500
"""Consecutive KU-MWQ logger timestamps in the sample, each read by both depth sensors."""
ANOMALY_SENSOR: Final = "ku-mwq/pond-1/depth-30cm"
REL_TOLERANCE: Final = 1e-9
MIN_VALUES_COMPARED: Final = 500
_NON_FINITE: Final = frozenset({"Infinity", "-Infinity", "NaN"})

QUERIES: Final[dict[str, str]] = {
    "pond_stats_15m": "SELECT * FROM pond_stats_15m ORDER BY site_id, pond_id, bucket",
    "pond_stats_1h": "SELECT * FROM pond_stats_1h ORDER BY site_id, pond_id, bucket",
    "pond_health_latest": "SELECT * FROM pond_health_latest ORDER BY site_id, pond_id, sensor_id",
    "health_score": """
        SELECT sensor_id, event_timestamp,
               aqua_health_score(water_temp_c, ph, dissolved_oxygen_mg_l, ammonia_mg_l, nitrate_mg_l,
                                 turbidity_ntu) AS health_score
        FROM water_readings
        ORDER BY sensor_id, event_timestamp
    """,
    "anomalies": f"""
        SELECT * FROM aqua_reading_anomalies('{ANOMALY_SENSOR}', 'water_temp_c', INTERVAL '1 hour', 3.5)
        ORDER BY event_timestamp
    """,
    "readings_per_month": """
        SELECT site_id, date_trunc('month', event_timestamp) AS month, count(*) AS readings
        FROM water_readings
        GROUP BY site_id, month
        ORDER BY site_id, month
    """,
}

# KU-MWQ: the first KU_MWQ_TIMESTAMPS logger timestamps (about 25 hours, so a UTC midnight is
# inside), both sensors. IoTPond: every reading that the loader accepted.
_SAMPLE_QUERY: Final = sql.SQL(
    """
    SELECT {columns} FROM water_readings
    WHERE site_id = 'udanor-aquaponics'
       OR (site_id = 'ku-mwq' AND event_timestamp IN (
               SELECT DISTINCT event_timestamp FROM water_readings
               WHERE site_id = 'ku-mwq' ORDER BY event_timestamp LIMIT %s))
    ORDER BY sensor_id, event_timestamp
    """
).format(columns=sql.SQL(", ").join(sql.Identifier(name) for name in READING_COLUMNS))


def test_schema_variants_return_same_results(
    database_factory: Callable[[], PostgresSettings], data_dir: Path, tmp_path: Path
) -> None:
    node = _require_node()
    sample = _load_sample(database_factory(), data_dir)
    sites = {row["site_id"] for row in sample}
    assert sites == {"ku-mwq", "udanor-aquaponics"}
    assert len(sample) > 2 * KU_MWQ_TIMESTAMPS

    plain = _run_plain(database_factory(), sample)
    timescale = _run_timescale(node, sample, tmp_path)

    mismatches: list[str] = []
    compared = 0
    for name in QUERIES:
        assert plain[name], (
            f"query {name} returned no rows on plain PostgreSQL; the comparison would prove nothing"
        )
        assert len(timescale[name]) == len(plain[name]), (
            f"query {name}: {len(plain[name])} rows on plain PostgreSQL, {len(timescale[name])} on TimescaleDB"
        )
        compared += _compare_rows(name, plain[name], timescale[name], mismatches)

    logger.info(
        "compared %d non-NULL values on %d sample rows: %s",
        compared,
        len(sample),
        ", ".join(f"{name} {len(rows)} rows" for name, rows in plain.items()),
    )
    assert not mismatches, f"{len(mismatches)} value(s) differ:\n" + "\n".join(mismatches[:20])
    assert compared >= MIN_VALUES_COMPARED, f"only {compared} non-NULL values were compared"


def _require_node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            f"node is not installed; install Node.js 20 or later, then run `npm ci --prefix {CHECK_DIR}`",
            pytrace=False,
        )
    if not (CHECK_DIR / "node_modules" / "@unni-craftsman" / "pglite").is_dir():
        pytest.fail(f"PGlite is not installed; run `npm ci --prefix {CHECK_DIR}`", pytrace=False)
    return node


def _load_sample(database: PostgresSettings, data_dir: Path) -> list[dict[str, Any]]:
    """Load the real history with the loader, then read back the sample rows."""
    apply_migrations(database, timescaledb="off")
    load_history(database, data_dir, refresh=False)
    with psycopg.connect(database.conninfo(), row_factory=dict_row) as conn:
        return conn.execute(_SAMPLE_QUERY, (KU_MWQ_TIMESTAMPS,)).fetchall()


def _run_plain(database: PostgresSettings, sample: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    apply_migrations(database, timescaledb="off")
    insert = sql.SQL("INSERT INTO water_readings ({}) VALUES ({})").format(
        sql.SQL(", ").join(sql.Identifier(name) for name in READING_COLUMNS),
        sql.SQL(", ").join(sql.Placeholder() * len(READING_COLUMNS)),
    )
    with psycopg.connect(database.conninfo(), autocommit=True) as conn:
        timestamps = [row["event_timestamp"] for row in sample]
        conn.execute("SELECT aqua_ensure_partitions(%s, %s)", (min(timestamps), max(timestamps)))
        with conn.cursor() as cursor:
            cursor.executemany(insert, [[row[name] for name in READING_COLUMNS] for row in sample])
        refresh_aggregates(conn)

    with psycopg.connect(database.conninfo(), autocommit=True, row_factory=dict_row) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        return {name: conn.execute(query).fetchall() for name, query in QUERIES.items()}  # type: ignore[call-overload]


def _run_timescale(
    node: str, sample: list[dict[str, Any]], tmp_path: Path
) -> dict[str, list[dict[str, Any]]]:
    input_path = tmp_path / "compare_input.json"
    output_path = tmp_path / "compare_output.json"
    rows = [
        {name: value.isoformat() if isinstance(value, datetime) else value for name, value in row.items()}
        for row in sample
    ]
    queries = [{"name": name, "sql": query} for name, query in QUERIES.items()]
    input_path.write_text(json.dumps({"rows": rows, "queries": queries}), encoding="utf-8")

    completed = subprocess.run(
        [node, "compare.mjs", str(input_path), str(output_path)],
        cwd=CHECK_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    result: dict[str, list[dict[str, Any]]] = json.loads(output_path.read_text(encoding="utf-8"))
    return result


def _compare_rows(
    name: str, plain: list[dict[str, Any]], timescale: list[dict[str, Any]], mismatches: list[str]
) -> int:
    """Append one line per differing value to ``mismatches`` and return the count of non-NULL values compared."""
    compared = 0
    for index, (plain_row, timescale_row) in enumerate(zip(plain, timescale, strict=True)):
        if list(plain_row) != list(timescale_row):
            mismatches.append(f"{name} row {index}: columns {list(plain_row)} != {list(timescale_row)}")
            continue
        for column, plain_value in plain_row.items():
            timescale_value = timescale_row[column]
            if not _values_equal(plain_value, timescale_value):
                mismatches.append(
                    f"{name} row {index} {_row_key(plain_row)} column {column}: "
                    f"plain {plain_value!r}, timescale {timescale_value!r}"
                )
            if plain_value is not None:
                compared += 1
    return compared


def _values_equal(plain: Any, timescale: Any) -> bool:
    if plain is None or timescale is None:
        return plain is None and timescale is None
    if isinstance(plain, datetime):
        return isinstance(timescale, str) and datetime.fromisoformat(timescale) == plain
    if isinstance(plain, float | Decimal):
        # compare.mjs writes non-finite floats as the strings "Infinity", "-Infinity" and "NaN".
        if isinstance(timescale, bool) or not isinstance(timescale, int | float | str):
            return False
        if isinstance(timescale, str) and timescale not in _NON_FINITE:
            return False
        left, right = float(plain), float(timescale)
        if math.isnan(left) or math.isnan(right):
            return math.isnan(left) and math.isnan(right)
        return math.isclose(left, right, rel_tol=REL_TOLERANCE)
    if isinstance(plain, int) and not isinstance(plain, bool):
        return isinstance(timescale, int) and not isinstance(timescale, bool) and plain == timescale
    return bool(plain == timescale)


def _row_key(row: dict[str, Any]) -> str:
    keys = ("site_id", "pond_id", "sensor_id", "bucket", "event_timestamp", "month")
    return "(" + ", ".join(f"{key}={row[key]}" for key in keys if key in row) + ")"
