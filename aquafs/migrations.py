"""Schema migrations: apply ``sql/NNN_name.sql`` files in order, once each.

File names:

- ``NNN_name.sql`` applies on every server.
- ``NNN_name.timescale.sql`` and ``NNN_name.postgres.sql`` are the two variants of one migration:
  the first runs when the TimescaleDB extension is used, the second on plain PostgreSQL. A version
  has either one plain file or both variants.

Each applied file is recorded in ``schema_migrations (version, name, checksum, applied_at,
variant)``. A recorded file whose content changed afterwards stops the run with
:class:`~aquafs.errors.MigrationError`, because editing an applied migration would leave databases
that differ while claiming the same version. Each migration runs in its own transaction, and a
session-level advisory lock lets only one runner work on a database at a time.

The variant is chosen once per database: ``auto`` uses TimescaleDB when ``pg_available_extensions``
lists it, ``on`` requires it and ``off`` never uses it (``AQUA_POSTGRES__TIMESCALEDB``). A database
that already has variant migrations keeps its variant; asking for the other one is an error.

Usage::

    applied = apply_migrations(settings.postgres)
    with connect(settings.postgres, autocommit=True) as conn:
        refresh_aggregates(conn)
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from aquafs.db import connect
from aquafs.errors import MigrationError
from aquafs.settings import PostgresSettings

logger = logging.getLogger(__name__)

TimescaleMode = Literal["off", "auto", "on"]
Variant = Literal["plain", "timescale", "postgres"]
SchemaFlavour = Literal["timescale", "postgres"]

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
"""Folder of the numbered migration files in the repository."""

# pg_advisory_lock(int, int): the first key is this project ("aqua" in ASCII), the second the
# migration runner. Other code that shares the database must not use this key pair.
_LOCK_NAMESPACE = 0x61717561
_LOCK_MIGRATIONS = 1

_FILE_PATTERN = re.compile(
    r"^(?P<version>\d{3})_(?P<name>[a-z0-9_]+?)(?:\.(?P<variant>timescale|postgres))?\.sql$"
)

AGGREGATE_VIEWS: tuple[str, ...] = ("pond_stats_15m", "pond_stats_1h")
"""Per-pond statistics: continuous aggregates on TimescaleDB, materialized views otherwise."""


@dataclass(frozen=True)
class MigrationFile:
    """One migration file on disk."""

    version: int
    name: str
    variant: Variant
    path: Path
    checksum: str
    """SHA-256 of the file's bytes, hex."""


@dataclass(frozen=True)
class AppliedMigration:
    """A migration that :func:`apply_migrations` applied in this run."""

    version: int
    name: str
    variant: Variant
    checksum: str
    applied_at: datetime


def discover_migrations(sql_dir: Path = SQL_DIR) -> dict[int, dict[Variant, MigrationFile]]:
    """Read the migration files under ``sql_dir``, keyed by version and variant.

    Files that do not match ``NNN_name[.variant].sql`` are ignored, because the folder also contains
    the TimescaleDB check project.

    Raises:
        MigrationError: a version has two names, mixes a plain file with variants, or has only
            one of the two variants.
    """
    found: dict[int, dict[Variant, MigrationFile]] = {}
    for path in sorted(sql_dir.glob("*.sql")):
        match = _FILE_PATTERN.match(path.name)
        if match is None:
            if re.match(r"^\d{3}_", path.name):
                raise MigrationError(
                    f"migration file name {path.name!r} is invalid; expected NNN_name.sql, "
                    "NNN_name.timescale.sql or NNN_name.postgres.sql with a lowercase snake_case name"
                )
            continue
        version = int(match["version"])
        variant: Variant = match["variant"] or "plain"  # type: ignore[assignment]
        migration = MigrationFile(
            version=version,
            name=match["name"],
            variant=variant,
            path=path,
            checksum=hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        variants = found.setdefault(version, {})
        for other in variants.values():
            if other.name != migration.name:
                raise MigrationError(
                    f"migration version {version:03d} is used by two names: {other.path.name} and {path.name}"
                )
        variants[variant] = migration

    for version, variants in found.items():
        kinds = set(variants)
        if "plain" in kinds and len(kinds) > 1:
            names = ", ".join(sorted(item.path.name for item in variants.values()))
            raise MigrationError(
                f"migration {version:03d} has both a plain file and variants ({names}); keep one form"
            )
        if kinds in ({"timescale"}, {"postgres"}):
            only = next(iter(variants.values()))
            missing = "postgres" if "timescale" in kinds else "timescale"
            raise MigrationError(
                f"migration {only.path.name} has no {missing} variant; add "
                f"{version:03d}_{only.name}.{missing}.sql (it may only record a comment)"
            )
    return dict(sorted(found.items()))


def apply_migrations(
    postgres_settings: PostgresSettings,
    *,
    timescaledb: TimescaleMode | None = None,
    sql_dir: Path = SQL_DIR,
) -> list[AppliedMigration]:
    """Apply every migration not yet recorded in ``schema_migrations``, in version order.

    Args:
        postgres_settings: target database.
        timescaledb: ``off``, ``auto`` or ``on``; ``None`` takes ``postgres_settings.timescaledb``
            (``AQUA_POSTGRES__TIMESCALEDB``).
        sql_dir: folder of the migration files.

    Returns:
        The migrations applied by this call, in order; empty when the schema was up to date.

    Raises:
        MigrationError: a recorded migration's file changed or disappeared, the variant rules are
            broken, TimescaleDB is required but unavailable, or a migration's SQL failed. A failed
            migration is rolled back, and the ones before it stay applied.
        TransientError: the server is unreachable.
    """
    mode: TimescaleMode = timescaledb or postgres_settings.timescaledb
    migrations = discover_migrations(sql_dir)
    applied: list[AppliedMigration] = []

    with connect(postgres_settings, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s, %s)", (_LOCK_NAMESPACE, _LOCK_MIGRATIONS))
        try:
            _create_history_table(conn)
            history = _read_history(conn)
            flavour = _choose_flavour(conn, mode, history)
            _check_history(history, migrations, flavour)
            if flavour == "timescale":
                _create_timescale_extension(conn)

            for version, variants in migrations.items():
                if version in history:
                    continue
                migration = variants.get("plain") or variants[flavour]
                applied.append(_apply_one(conn, migration))
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (_LOCK_NAMESPACE, _LOCK_MIGRATIONS))

    if applied:
        logger.info(
            "applied %d migration(s) to database %s: %s",
            len(applied),
            postgres_settings.database,
            ", ".join(f"{item.version:03d}_{item.name} ({item.variant})" for item in applied),
        )
    else:
        logger.info("database %s is up to date; no migration applied", postgres_settings.database)
    return applied


def schema_flavour(conn: psycopg.Connection) -> SchemaFlavour:
    """Return the variant a migrated database uses: ``timescale`` or ``postgres``.

    Raises:
        MigrationError: the database has no ``water_readings`` table (run ``aquafs migrate``).
    """
    # A tuple cursor, whatever row factory the caller's connection uses: the row is unpacked by position.
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(
            """
            SELECT c.relkind,
                   EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS has_timescale
            FROM pg_class AS c
            WHERE c.oid = to_regclass('water_readings')
            """
        ).fetchone()
    if row is None:
        raise MigrationError(
            "table water_readings does not exist in this database; run `aquafs migrate` first"
        )
    relkind, has_timescale = row
    # 'p' is a partitioned table: the plain-PostgreSQL variant. A hypertable is an ordinary table.
    if relkind == "p" or not has_timescale:
        return "postgres"
    return "timescale"


def refresh_aggregates(
    conn: psycopg.Connection,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> None:
    """Refresh ``pond_stats_15m`` and ``pond_stats_1h`` so they reflect ``water_readings``.

    On TimescaleDB this calls ``refresh_continuous_aggregate`` over [start, end) (``None`` means
    unbounded). That procedure cannot run inside a transaction, so a connection that is not in
    autocommit mode must be idle. Such a connection is switched to autocommit for the call and back
    afterwards. On plain
    PostgreSQL it runs ``REFRESH MATERIALIZED VIEW CONCURRENTLY``, which always recomputes the
    whole view, so ``start`` and ``end`` are ignored there.

    Raises:
        MigrationError: the schema is not migrated, or a TimescaleDB refresh was requested inside
            an open transaction.
    """
    flavour = schema_flavour(conn)
    if flavour == "postgres":
        for view in AGGREGATE_VIEWS:
            conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW CONCURRENTLY {}").format(sql.Identifier(view)))
        if not conn.autocommit:
            conn.commit()
        logger.info("refreshed materialized views %s", ", ".join(AGGREGATE_VIEWS))
        return

    switched = False
    if not conn.autocommit:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise MigrationError(
                "refresh_aggregates on TimescaleDB cannot run inside a transaction; commit first "
                "or pass a connection in autocommit mode"
            )
        conn.autocommit = True
        switched = True
    try:
        for view in AGGREGATE_VIEWS:
            conn.execute("CALL refresh_continuous_aggregate(%s, %s, %s)", (view, start, end))
    finally:
        if switched:
            conn.autocommit = False
    logger.info("refreshed continuous aggregates %s over [%s, %s)", ", ".join(AGGREGATE_VIEWS), start, end)


def _create_history_table(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    integer     PRIMARY KEY,
            name       text        NOT NULL,
            checksum   text        NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(),
            variant    text        NOT NULL CHECK (variant IN ('plain', 'timescale', 'postgres'))
        )
        """
    )


def _read_history(conn: psycopg.Connection) -> dict[int, tuple[str, str, str]]:
    rows = conn.execute("SELECT version, name, checksum, variant FROM schema_migrations").fetchall()
    return {version: (name, checksum, variant) for version, name, checksum, variant in rows}


def _choose_flavour(
    conn: psycopg.Connection, mode: TimescaleMode, history: dict[int, tuple[str, str, str]]
) -> SchemaFlavour:
    recorded = {variant for _, _, variant in history.values() if variant != "plain"}
    if len(recorded) > 1:
        raise MigrationError(
            "schema_migrations records both timescale and postgres variants; the database is "
            "inconsistent and needs a manual repair"
        )
    available = (
        conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
        is not None
    )

    if recorded:
        previous: SchemaFlavour = recorded.pop()  # type: ignore[assignment]
        if mode == "on" and previous == "postgres":
            raise MigrationError(
                "TimescaleDB mode is on (AQUA_POSTGRES__TIMESCALEDB or --timescaledb), but this database was migrated with the plain-PostgreSQL "
                "variant; migrate a new database, or set AQUA_POSTGRES__TIMESCALEDB=auto"
            )
        if mode == "off" and previous == "timescale":
            raise MigrationError(
                "TimescaleDB mode is off (AQUA_POSTGRES__TIMESCALEDB or --timescaledb), but this database was migrated with the TimescaleDB "
                "variant; set AQUA_POSTGRES__TIMESCALEDB=auto or on"
            )
        if previous == "timescale" and not available:
            raise MigrationError(
                "this database was migrated with the TimescaleDB variant, but the server no longer "
                "offers the timescaledb extension; install it on the server"
            )
        return previous

    if mode == "off":
        return "postgres"
    if available:
        return "timescale"
    if mode == "on":
        raise MigrationError(
            "TimescaleDB mode is on (AQUA_POSTGRES__TIMESCALEDB or --timescaledb), but the server does not offer the timescaledb extension "
            "(not in pg_available_extensions); install TimescaleDB, or set AQUA_POSTGRES__TIMESCALEDB=auto "
            "to use the plain-PostgreSQL variant"
        )
    logger.info("timescaledb extension not available; using the plain-PostgreSQL schema variant")
    return "postgres"


def _check_history(
    history: dict[int, tuple[str, str, str]],
    migrations: dict[int, dict[Variant, MigrationFile]],
    flavour: SchemaFlavour,
) -> None:
    problems: list[str] = []
    for version, (name, checksum, variant) in sorted(history.items()):
        variants = migrations.get(version)
        if variants is None:
            problems.append(f"migration {version:03d}_{name} is recorded as applied but its file is missing")
            continue
        migration = variants.get(variant)  # type: ignore[call-overload]
        if migration is None:
            problems.append(
                f"migration {version:03d}_{name} was applied as variant {variant!r}, "
                f"but no such file exists now (found: {', '.join(sorted(variants))})"
            )
        elif migration.checksum != checksum:
            problems.append(
                f"{migration.path.name} changed after it was applied (checksum {checksum[:12]}... "
                f"recorded, {migration.checksum[:12]}... on disk); restore the file and put the "
                "change in a new migration"
            )
    if problems:
        raise MigrationError("the applied migrations do not match the files:\n  " + "\n  ".join(problems))
    logger.debug("migration history matches the files; flavour %s", flavour)


def _create_timescale_extension(conn: psycopg.Connection) -> None:
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as error:
        raise MigrationError(
            f"cannot create the timescaledb extension: {error}. The server must load it through "
            "shared_preload_libraries and the role needs the right to create it; or set "
            "AQUA_POSTGRES__TIMESCALEDB=off to use the plain-PostgreSQL variant"
        ) from error


def _apply_one(conn: psycopg.Connection, migration: MigrationFile) -> AppliedMigration:
    text = migration.path.read_text(encoding="utf-8")
    logger.info("applying migration %s", migration.path.name)
    try:
        with conn.transaction():
            conn.execute(text)  # type: ignore[call-overload]
            row = conn.execute(
                """
                INSERT INTO schema_migrations (version, name, checksum, variant)
                VALUES (%s, %s, %s, %s)
                RETURNING applied_at
                """,
                (migration.version, migration.name, migration.checksum, migration.variant),
            ).fetchone()
    except psycopg.Error as error:
        raise MigrationError(
            f"migration {migration.path.name} failed and was rolled back: {error}"
        ) from error
    assert row is not None
    return AppliedMigration(
        version=migration.version,
        name=migration.name,
        variant=migration.variant,
        checksum=migration.checksum,
        applied_at=row[0],
    )
