"""Catalogue shape and the committed files generated from it."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from aquafs.settings import PostgresSettings
from transforms import FEATURE_NAMES, FEATURES
from transforms.render import render_markdown, render_sql

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_catalogue_has_at_least_110_unique_features() -> None:
    assert len(FEATURES) >= 110
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)


def test_every_feature_is_documented() -> None:
    incomplete = [spec.name for spec in FEATURES if not (spec.unit and spec.description and spec.formula and spec.edge)]
    assert incomplete == []


def test_feature_names_are_valid_sql_identifiers() -> None:
    invalid = [n for n in FEATURE_NAMES if len(n) > 63 or not n.replace("_", "a").isalnum() or n != n.lower()]
    assert invalid == []


def test_features_markdown_is_up_to_date() -> None:
    committed = (REPO_ROOT / "docs" / "FEATURES.md").read_text(encoding="utf-8")
    assert committed == render_markdown(), "regenerate: python -m transforms.catalog --markdown > docs/FEATURES.md"


def test_sensor_features_sql_is_up_to_date() -> None:
    committed = (REPO_ROOT / "sql" / "020_sensor_features.sql").read_text(encoding="utf-8")
    assert committed == render_sql(), "regenerate: python -m transforms.catalog --sql > sql/020_sensor_features.sql"


@pytest.mark.services
def test_sensor_features_sql_creates_one_column_per_feature(fresh_database: PostgresSettings) -> None:
    with psycopg.connect(fresh_database.conninfo(), autocommit=True) as conn:
        conn.execute(render_sql())
        conn.execute(render_sql())  # idempotent
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'sensor_features' ORDER BY ordinal_position"
        ).fetchall()
    key_columns = [name for name, _ in rows[:5]]
    assert key_columns == ["site_id", "pond_id", "sensor_id", "event_timestamp", "available_at"]
    feature_columns = rows[5:]
    assert [name for name, _ in feature_columns] == list(FEATURE_NAMES)
    assert {data_type for _, data_type in feature_columns} == {"double precision"}


def test_catalog_cli_prints_sql(capsys: pytest.CaptureFixture[str]) -> None:
    from transforms.catalog import main

    assert main(["--sql"]) == 0
    assert capsys.readouterr().out == render_sql()


