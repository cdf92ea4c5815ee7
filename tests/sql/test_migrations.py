"""Migration runner against real PostgreSQL: order, idempotence, checksums, variants, locking."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import psycopg
import pytest

from aquafs.errors import MigrationError
from aquafs.migrations import SQL_DIR, AppliedMigration, apply_migrations, discover_migrations
from aquafs.settings import PostgresSettings

pytestmark = pytest.mark.services


def _copy_migrations(target: Path) -> Path:
    target.mkdir()
    for path in SQL_DIR.glob("*.sql"):
        shutil.copy(path, target / path.name)
    return target


def _history(database: PostgresSettings) -> list[tuple[int, str]]:
    with psycopg.connect(database.conninfo()) as conn:
        return conn.execute("SELECT version, variant FROM schema_migrations ORDER BY version").fetchall()


def test_second_run_applies_nothing(fresh_database: PostgresSettings) -> None:
    first = apply_migrations(fresh_database)
    second = apply_migrations(fresh_database)

    versions = list(discover_migrations())
    assert [item.version for item in first] == versions
    assert second == []
    assert [version for version, _ in _history(fresh_database)] == versions


def test_missing_extension_selects_postgres_variant(fresh_database: PostgresSettings) -> None:
    applied = apply_migrations(fresh_database, timescaledb="auto")

    assert {item.variant for item in applied} == {"plain", "postgres"}
    with psycopg.connect(fresh_database.conninfo()) as conn:
        relkind = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'water_readings'").fetchone()
    assert relkind == ("p",)


def test_timescaledb_on_fails_without_extension(fresh_database: PostgresSettings) -> None:
    with pytest.raises(MigrationError, match="does not offer the timescaledb extension"):
        apply_migrations(fresh_database, timescaledb="on")
    assert _history(fresh_database) == []


def test_changed_applied_file_raises(fresh_database: PostgresSettings, tmp_path: Path) -> None:
    sql_dir = _copy_migrations(tmp_path / "sql")
    apply_migrations(fresh_database, sql_dir=sql_dir)
    edited = sql_dir / "003_ingestion_bookkeeping.sql"
    edited.write_text(edited.read_text() + "\n-- edited after it was applied\n")

    with pytest.raises(MigrationError, match=r"003_ingestion_bookkeeping\.sql changed after it was applied"):
        apply_migrations(fresh_database, sql_dir=sql_dir)


def test_removed_applied_file_raises(fresh_database: PostgresSettings, tmp_path: Path) -> None:
    sql_dir = _copy_migrations(tmp_path / "sql")
    apply_migrations(fresh_database, sql_dir=sql_dir)
    (sql_dir / "009_pond_health_latest.sql").unlink()

    with pytest.raises(
        MigrationError, match="009_pond_health_latest is recorded as applied but its file is missing"
    ):
        apply_migrations(fresh_database, sql_dir=sql_dir)


def test_failed_migration_rolled_back(fresh_database: PostgresSettings, tmp_path: Path) -> None:
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    (sql_dir / "001_first.sql").write_text("CREATE TABLE first_table (id integer);")
    (sql_dir / "002_broken.sql").write_text(
        "CREATE TABLE second_table (id integer);\nSELECT no_such_function();"
    )

    with pytest.raises(MigrationError, match=r"002_broken\.sql failed and was rolled back"):
        apply_migrations(fresh_database, sql_dir=sql_dir)

    assert _history(fresh_database) == [(1, "plain")]
    with psycopg.connect(fresh_database.conninfo()) as conn:
        assert conn.execute("SELECT to_regclass('second_table')").fetchone() == (None,)


def test_variant_without_partner_rejected(tmp_path: Path) -> None:
    (tmp_path / "001_only.timescale.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="has no postgres variant"):
        discover_migrations(tmp_path)


def test_plain_file_next_to_variant_rejected(tmp_path: Path) -> None:
    for name in ("001_mixed.sql", "001_mixed.timescale.sql", "001_mixed.postgres.sql"):
        (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="both a plain file and variants"):
        discover_migrations(tmp_path)


def test_concurrent_runners_apply_once(fresh_database: PostgresSettings) -> None:
    results: list[list[AppliedMigration]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(apply_migrations(fresh_database))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    applied_versions = sorted(item.version for result in results for item in result)
    assert applied_versions == list(discover_migrations())


@pytest.mark.services
def test_schema_flavour_ignores_the_row_factory(fresh_database: PostgresSettings) -> None:
    from psycopg.rows import dict_row

    from aquafs.migrations import schema_flavour

    apply_migrations(fresh_database, timescaledb="off")
    with psycopg.connect(fresh_database.conninfo(), row_factory=dict_row) as conn:
        assert schema_flavour(conn) == "postgres"
