"""The health score in Python (transforms.health) equals the SQL function aqua_health_score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg
import pytest

from aquafs.migrations import apply_migrations
from aquafs.settings import PostgresSettings
from transforms.health import HEALTH_LIMITS, health_score_frame

pytestmark = pytest.mark.services

# Argument order of aqua_health_score.
SQL_ARGUMENTS = ["water_temp_c", "ph", "dissolved_oxygen_mg_l", "ammonia_mg_l", "nitrate_mg_l", "turbidity_ntu"]


def edge_values(limit) -> list[float]:
    """Every range edge, a point just beyond each, midpoints, far outliers and a missing value."""
    edges = [limit.tol_lo, limit.ideal_lo, limit.ideal_hi, limit.tol_hi]
    values = edges + [edge + delta for edge in edges for delta in (-1e-6, 1e-6)]
    values += [(limit.tol_lo + limit.ideal_lo) / 2, (limit.ideal_hi + limit.tol_hi) / 2, -1e6, 1e6, np.nan]
    return values


def test_python_and_sql_scores_agree(fresh_database: PostgresSettings) -> None:
    rng = np.random.default_rng(7)
    limits = {limit.column: limit for limit in HEALTH_LIMITS}
    assert set(limits) == set(SQL_ARGUMENTS)
    rows = 4000
    frame = pd.DataFrame({column: rng.choice(edge_values(limits[column]), rows) for column in SQL_ARGUMENTS})
    # Plus uniformly spread values across each tolerable range and a little beyond.
    spread = pd.DataFrame(
        {
            column: rng.uniform(limits[column].tol_lo - 2, limits[column].tol_hi + 2, rows)
            for column in SQL_ARGUMENTS
        }
    )
    frame = pd.concat([frame, spread], ignore_index=True)
    expected = health_score_frame(frame).to_numpy()

    apply_migrations(fresh_database)
    arrays = [[None if np.isnan(value) else float(value) for value in frame[column]] for column in SQL_ARGUMENTS]
    with psycopg.connect(fresh_database.conninfo()) as conn:
        scores = conn.execute(
            """
            SELECT aqua_health_score(t, p, o, a, n, u)
            FROM unnest(%s::float8[], %s::float8[], %s::float8[], %s::float8[], %s::float8[], %s::float8[])
                 WITH ORDINALITY AS v(t, p, o, a, n, u, position)
            ORDER BY position
            """,
            arrays,
        ).fetchall()
    got = np.array([np.nan if score is None else score for (score,) in scores])

    assert len(got) == len(expected)
    both_missing = np.isnan(got) & np.isnan(expected)
    assert both_missing.sum() < len(got)  # most rows have at least one parameter
    close = np.isclose(got, expected, rtol=1e-12, atol=1e-9) | both_missing
    assert close.all(), f"{(~close).sum()} rows differ, first: {frame[~close].head(3).to_dict('records')}"
