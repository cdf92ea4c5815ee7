"""Open the Feast store from the project's settings, apply the feature repo, push to both stores."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import weakref
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from feast import FeatureStore, FeatureView
from feast.data_source import PushSource
from feast.repo_config import load_repo_config
from feast.repo_operations import parse_repo

from aquafs.errors import ConfigError
from aquafs.redis_online import OnlineWriter
from aquafs.settings import Settings
from feast_timescale.offline_store import connect, write_arrow_table

logger = logging.getLogger(__name__)

FEATURE_REPO = Path(__file__).resolve().parent.parent / "feature_repo"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def export_feast_environment(settings: Settings) -> None:
    """Set the variables that ``feature_store.yaml`` expands, from the project's settings."""
    os.environ.update(settings.feast_environment())


def unset_yaml_variables(repo_path: Path = FEATURE_REPO) -> list[str]:
    """Return the ``${VAR}`` names in feature_store.yaml that the environment does not set."""
    lines = (repo_path / "feature_store.yaml").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    return sorted({name for name in _VARIABLE.findall(text) if not os.environ.get(name)})


def open_store(settings: Settings, *, project: str | None = None, repo_path: Path = FEATURE_REPO) -> FeatureStore:
    """Build a FeatureStore for ``repo_path`` with endpoints from ``settings``.

    Args:
        project: Feast project name to use instead of the one in feature_store.yaml; tests pass a
            unique name so their registry entries and Redis keys never meet.

    Raises:
        ConfigError: a ``${VAR}`` in feature_store.yaml is still unset.
    """
    export_feast_environment(settings)
    missing = unset_yaml_variables(repo_path)
    if missing:
        raise ConfigError(f"feature_store.yaml uses unset variable(s): {', '.join(missing)}")
    config = load_repo_config(repo_path, repo_path / "feature_store.yaml")
    if project is not None:
        config = config.model_copy(update={"project": project})
    return FeatureStore(repo_path=str(repo_path), config=config)


def apply_repo(store: FeatureStore, repo_path: Path = FEATURE_REPO) -> None:
    """Register every object defined in the feature repo, as ``feast apply`` does."""
    # Feast names each repo module by its path relative to the working directory and imports it
    # from sys.path, so parse the repo the way `feast apply` does: from inside the folder.
    if str(repo_path) not in sys.path:
        sys.path.append(str(repo_path))
    with contextlib.chdir(repo_path):
        repo = parse_repo(repo_path)
    objects: list[Any] = [
        *repo.entities,
        *repo.data_sources,
        *repo.feature_views,
        *repo.on_demand_feature_views,
        *repo.stream_feature_views,
        *repo.feature_services,
    ]
    store.apply(objects)
    logger.info("applied %d Feast objects to project %r", len(objects), store.project)


def push_to_both_stores(store: FeatureStore, push_source_name: str, df: pd.DataFrame) -> int:
    """Write ``df`` to the offline store, then to the online store of every view fed by the push source.

    The offline write comes first and is idempotent on (entity, event time). So after a failure at
    any step, calling this again with the same frame repairs the state: the offline insert skips
    rows it already contains, and the Redis write keeps the newest event time per entity. The
    online write goes through :class:`aquafs.redis_online.OnlineWriter`, which stores the same
    bytes as Feast's ``write_to_online_store`` with less overhead per row.
    Feast's own ``push`` writes online first, so a failed offline write there leaves Redis ahead
    of the history until the retry.

    Returns:
        How many rows were new to the offline store.
    """
    if df.empty:
        return 0
    views = _views_of_push_source(store, push_source_name)
    written = 0
    tables_done: set[str] = set()
    with connect(store.config) as conn:
        for view in views:
            table_name = view.batch_source._postgres_options._table  # type: ignore[union-attr]
            if table_name in tables_done:
                continue
            source_columns = [c for c in df.columns if c != "ingested_at"]
            written += write_arrow_table(conn, table_name, pa.Table.from_pandas(df[source_columns], preserve_index=False))
            tables_done.add(table_name)
    writer = _online_writer(store)
    for view in views:
        if view.online:
            writer.write(view.name, _latest_row_per_entity(df, view))
    return written


def _latest_row_per_entity(df: pd.DataFrame, view: FeatureView) -> pd.DataFrame:
    """Keep, per entity of ``view``, the first row with the newest event time.

    The online write keeps the newest event time per entity, so that row is the only one of ``df``
    left in Redis; the others would be written and then overwritten. A batch of many readings per
    sensor thus costs one Redis write per sensor. The frame is returned unchanged where the
    reduction could change what Redis ends up with: a field mapping (columns renamed only in the
    writer), a missing or null key or timestamp (the writer raises on these), or newest rows whose
    features are all null while older ones are not (the writer skips an all-null frame).
    """
    source = view.batch_source
    if source is None or source.field_mapping:
        return df
    keys = [column.name for column in view.entity_columns]
    timestamp = source.timestamp_field
    columns = [*keys, timestamp]
    if not keys or any(column not in df.columns for column in columns) or df[columns].isna().to_numpy().any():
        return df
    if not df.duplicated(subset=keys).any():
        return df
    frame = df.reset_index(drop=True)
    # idxmax returns the first row holding the maximum, as the writer keeps the first of equal times.
    latest = frame.loc[sorted(frame.groupby(keys, sort=False)[timestamp].idxmax())]
    features = [field.name for field in view.features if field.name in frame.columns]
    if features and latest[features].isna().to_numpy().all() and not frame[features].isna().to_numpy().all():
        return df
    return latest


# One writer per store object, so its Redis connection pool and view plans outlive a call.
_WRITERS: weakref.WeakKeyDictionary[FeatureStore, OnlineWriter] = weakref.WeakKeyDictionary()


def _online_writer(store: FeatureStore) -> OnlineWriter:
    writer = _WRITERS.get(store)
    if writer is None:
        writer = OnlineWriter(store)
        _WRITERS[store] = writer
    return writer


def _views_of_push_source(store: FeatureStore, push_source_name: str) -> list[FeatureView]:
    views = [
        view
        for view in store.list_feature_views(allow_cache=True)
        if isinstance(view.stream_source, PushSource) and view.stream_source.name == push_source_name
    ]
    if not views:
        sources = sorted(
            source.name for source in store.list_data_sources(allow_cache=True) if isinstance(source, PushSource)
        )
        raise ConfigError(
            f"no feature view reads push source {push_source_name!r} in project {store.project!r}; "
            f"push sources: {sources}. Has the feature repo been applied (`aquafs apply`)?"
        )
    return views
