"""A session-wide store holding the real history: loaded, backfilled, repo applied.

Loading and backfilling the real data takes about 20 s, so training, inference and notebook
tests share one database; they only read from it, apart from materialising into their own
Feast project's Redis keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from feast import FeatureStore
from psycopg import sql

from aquafs.settings import Settings


@dataclass
class PreparedStore:
    """Real readings and features in a throwaway database, with a Feast project of its own."""

    settings: Settings
    store: FeatureStore
    project: str
    ku_mwq_end: datetime
    """Time of the last KU-MWQ reading."""

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.settings.postgres.conninfo())


@pytest.fixture(scope="session")
def prepared_store(settings: Settings, data_dir: Path) -> Iterator[PreparedStore]:
    from aquafs.backfill import backfill_features
    from aquafs.feast_store import apply_repo, open_store
    from aquafs.migrations import apply_migrations
    from ingestion.loader import load_history

    name = f"aquafs_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        database = settings.postgres.model_copy(update={"database": name})
        apply_migrations(database)
        load_history(database, data_dir)
        local = settings.model_copy(update={"postgres": database})
        with psycopg.connect(database.conninfo()) as conn:
            backfill_features(conn)
            end = conn.execute("SELECT max(event_timestamp) FROM water_readings WHERE site_id = 'ku-mwq'").fetchone()
        project = f"test_{uuid.uuid4().hex[:10]}"
        store = open_store(local, project=project)
        apply_repo(store)
        assert end is not None
        yield PreparedStore(settings=local, store=store, project=project, ku_mwq_end=end[0])
    finally:
        with psycopg.connect(settings.postgres.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
