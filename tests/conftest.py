"""Shared fixtures: real PostgreSQL, Redis and Kafka from the local stack (infra/stack.py).

Isolation comes from names, not mocks: each test that needs a database gets a throwaway one, each
Kafka test gets its own topic and consumer group, and each Feast test its own project name.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from feast import FeatureStore
from psycopg import sql

from aquafs.settings import PostgresSettings, Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT.parent / "shared" / "data"


def _require_port(service: str, host: str, port: int) -> None:
    with socket.socket() as sock:
        sock.settimeout(1)
        if sock.connect_ex((host, port)) != 0:
            pytest.fail(
                f"{service} is not reachable at {host}:{port}; start the local stack with "
                "`python3 infra/stack.py up` (the test command does this for you).",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def settings() -> Settings:
    loaded = load_settings()
    _require_port("PostgreSQL", loaded.postgres.host, loaded.postgres.port)
    _require_port("Redis", loaded.redis.host, loaded.redis.port)
    host, _, port = loaded.kafka.bootstrap_servers.split(",")[0].rpartition(":")
    _require_port("Kafka", host, int(port))
    return loaded


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA_DIR.is_dir():
        pytest.fail(f"the shared sensor data is missing: expected {DATA_DIR}", pytrace=False)
    return DATA_DIR


@pytest.fixture
def database_factory(settings: Settings) -> Iterator[Callable[[], PostgresSettings]]:
    """Create throwaway databases owned by the project role; all are dropped after the test."""
    created: list[str] = []

    def create() -> PostgresSettings:
        name = f"aquafs_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return settings.postgres.model_copy(update={"database": name})

    yield create

    with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
        for name in created:
            _drop_database(conn, name)


def _drop_database(conn: psycopg.Connection, name: str) -> None:
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    for attempt in range(5):
        try:
            conn.execute(statement)
            return
        except psycopg.errors.InsufficientPrivilege:
            # FORCE may not signal a backend that is still starting up as another role (seen once
            # while a subprocess was connecting); it is gone a moment later.
            if attempt == 4:
                raise
            time.sleep(1)


@pytest.fixture
def fresh_database(database_factory: Callable[[], PostgresSettings]) -> PostgresSettings:
    """An empty throwaway database (no migrations applied)."""
    return database_factory()


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Make a name unique to this test: Kafka topics, consumer groups, Feast projects."""

    def make(prefix: str) -> str:
        return f"{prefix}_{uuid.uuid4().hex[:10]}"

    return make


@dataclass
class FeastTestStore:
    """A migrated throwaway database with the feature repo applied under a unique Feast project."""

    settings: Settings
    store: FeatureStore

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.settings.postgres.conninfo())


@pytest.fixture
def feast_store(
    settings: Settings, database_factory: Callable[[], PostgresSettings], unique_name: Callable[[str], str]
) -> FeastTestStore:
    from aquafs.feast_store import apply_repo, open_store
    from aquafs.migrations import apply_migrations

    database = database_factory()
    apply_migrations(database)
    local = settings.model_copy(update={"postgres": database})
    store = open_store(local, project=unique_name("test"))
    apply_repo(store)
    return FeastTestStore(settings=local, store=store)
