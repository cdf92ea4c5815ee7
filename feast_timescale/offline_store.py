"""Feast offline store for TimescaleDB (and plain PostgreSQL): Feast's PostgreSQL store, plus writes.

Referenced from ``feature_store.yaml`` as::

    offline_store:
      type: feast_timescale.offline_store.TimescaleOfflineStore

What it changes relative to Feast's stock ``PostgreSQLOfflineStore`` (everything else is inherited):

- ``offline_write_batch``: pushes with ``PushMode.OFFLINE`` or ``ONLINE_AND_OFFLINE`` and
  ``write_to_offline_store`` work. Rows go in with COPY and ``INSERT ... ON CONFLICT DO NOTHING``
  on the table's unique key (entity, event time), so writing the same batch twice stores it once.
- ``get_historical_features``: uploads the entity frame with COPY into a temporary table and runs
  one ``LEFT JOIN LATERAL`` per feature view that walks the (entity, event time) index backwards.
  The join enforces two rules the stock query does not: a row becomes visible only once its
  ``created_timestamp_column`` (our ``available_at``) has passed, and the output has exactly one
  row per entity-frame row, in the frame's order, even when the frame contains duplicates.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from feast import FeatureView, OnDemandFeatureView
from feast.infra.offline_stores import offline_utils
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres import (
    PostgreSQLOfflineStore,
    PostgreSQLOfflineStoreConfig,
)
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import (
    PostgreSQLSource,
    SavedDatasetPostgreSQLStorage,
)
from feast.infra.offline_stores.offline_store import RetrievalJob, RetrievalMetadata
from feast.infra.registry.base_registry import BaseRegistry
from feast.infra.utils.postgres.connection_utils import (
    _get_conn_kwargs,
    _get_conninfo,
    df_to_postgres_table,
)
from feast.repo_config import RepoConfig
from feast.saved_dataset import SavedDatasetStorage
from psycopg import sql

logger = logging.getLogger(__name__)

ENTITY_TABLE_PREFIX = "aqua_entity_rows_"
ROW_ID_COLUMN = "_aqua_row_id"
ENTITY_TS_COLUMN = "_aqua_entity_ts"


class TimescaleOfflineStoreConfig(PostgreSQLOfflineStoreConfig):
    """Same keys as Feast's ``postgres`` offline store; only ``type`` differs."""

    type: Literal["feast_timescale.offline_store.TimescaleOfflineStore"] = (
        "feast_timescale.offline_store.TimescaleOfflineStore"  # type: ignore[assignment]
    )


class OfflineWriteError(RuntimeError):
    """An offline write was rejected before reaching the database (wrong source or columns)."""


def connect(config: RepoConfig) -> psycopg.Connection:
    """Open a connection like Feast's, with the session pinned to UTC."""
    store_config = config.offline_store
    kwargs = _get_conn_kwargs(store_config)
    kwargs["options"] = f"{kwargs['options']} -c timezone=UTC"
    return psycopg.connect(conninfo=_get_conninfo(store_config), **kwargs)


class TimescaleOfflineStore(PostgreSQLOfflineStore):
    """Feast's PostgreSQL offline store with idempotent writes and a faster point-in-time join."""

    @staticmethod
    def offline_write_batch(
        config: RepoConfig,
        feature_view: FeatureView,
        table: pa.Table,
        progress: Callable[[int], Any] | None,
    ) -> None:
        target = _table_of_source_or_raise(feature_view)
        with connect(config) as conn:
            written = write_arrow_table(conn, target, table)
        if progress is not None:
            progress(table.num_rows)
        logger.info(
            "offline write to %s: %d rows in, %d new, %d already stored",
            target, table.num_rows, written, table.num_rows - written,
        )

    @staticmethod
    def get_historical_features(  # type: ignore[override]
        config: RepoConfig,
        feature_views: list[FeatureView],
        feature_refs: list[str],
        entity_df: pd.DataFrame | str | None,
        registry: BaseRegistry,
        project: str,
        full_feature_names: bool = False,
        **kwargs: Any,
    ) -> RetrievalJob:
        if entity_df is None:
            # Non-entity retrieval (a time range, no entity rows) keeps Feast's own query.
            return PostgreSQLOfflineStore.get_historical_features(
                config, feature_views, feature_refs, entity_df, registry, project,
                full_feature_names, **kwargs,
            )
        for view in feature_views:
            if not isinstance(view.batch_source, PostgreSQLSource):
                raise OfflineWriteError(
                    f"feature view {view.name!r} has a {type(view.batch_source).__name__} batch source; "
                    "this offline store reads only PostgreSQLSource"
                )
        return PointInTimeJob(
            config=config,
            feature_views=feature_views,
            feature_refs=feature_refs,
            entity_df=entity_df,
            registry=registry,
            project=project,
            full_feature_names=full_feature_names,
        )


# -------------------------------------------------------------------------------------------------
# Writes


def write_arrow_table(conn: psycopg.Connection, target: str, table: pa.Table) -> int:
    """Insert an arrow table into ``target`` idempotently; return how many rows were new.

    Columns are matched by name, and table columns missing from the frame take their defaults.
    NaN floats are stored as NULL, because pandas uses NaN for "not measured".

    Raises:
        OfflineWriteError: the frame has a column that the table lacks.
    """
    if table.num_rows == 0:
        return 0
    target_identifier = _qualified_identifier(target)
    columns = _table_columns(conn, target)
    unknown = [name for name in table.column_names if name not in columns]
    if unknown:
        raise OfflineWriteError(
            f"cannot write to {target}: it has no column(s) {unknown}; its columns are {sorted(columns)}"
        )
    table = _nan_to_null(table)
    column_list = sql.SQL(", ").join(sql.Identifier(name) for name in table.column_names)
    staging = sql.Identifier(f"aqua_staging_{time.monotonic_ns()}")

    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
                staging, column_list, target_identifier
            )
        )
        _copy_csv(cur, staging, table)
        cur.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
                target_identifier, column_list, column_list, staging
            )
        )
        return cur.rowcount


def _copy_csv(cur: psycopg.Cursor, table_identifier: sql.Composable, table: pa.Table) -> None:
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False))
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in table.column_names)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(table_identifier, columns)
    with cur.copy(statement) as copy:
        copy.write(buffer.getvalue())


def _nan_to_null(table: pa.Table) -> pa.Table:
    for index, field in enumerate(table.schema):
        if pa.types.is_floating(field.type):
            column = table.column(index)
            cleaned = pc.if_else(pc.is_nan(column), pa.scalar(None, field.type), column)
            table = table.set_column(index, field, cleaned)
    return table


# Column sets of written tables, per (host, port, database, table). A push looks them up on every
# batch, and the catalog query cost about 14 ms of a 69 ms push (docs/BENCHMARKS.md). A column
# added by a later migration is picked up by a new process.
_COLUMN_CACHE: dict[tuple[str, int, str, str], set[str]] = {}


def _table_columns(conn: psycopg.Connection, target: str) -> set[str]:
    key = (conn.info.host, conn.info.port, conn.info.dbname, target)
    cached = _COLUMN_CACHE.get(key)
    if cached is None:
        cached = _COLUMN_CACHE[key] = _query_table_columns(conn, target)
    return cached


def _query_table_columns(conn: psycopg.Connection, target: str) -> set[str]:
    schema, _, name = target.rpartition(".")
    rows = conn.execute(
        """
        SELECT column_name FROM information_schema.columns
        WHERE table_name = %s AND table_schema = COALESCE(NULLIF(%s, ''), current_schema())
        """,
        (name, schema),
    ).fetchall()
    if not rows:
        raise OfflineWriteError(f"table {target!r} does not exist; run `aquafs migrate` first")
    return {row[0] for row in rows}


def _table_of_source_or_raise(feature_view: FeatureView) -> str:
    source = feature_view.batch_source
    if not isinstance(source, PostgreSQLSource) or not source._postgres_options._table:
        raise OfflineWriteError(
            f"feature view {feature_view.name!r} cannot be written offline: its batch source must be a "
            "PostgreSQLSource with table=..., not a query"
        )
    return source._postgres_options._table


def _qualified_identifier(name: str) -> sql.Identifier:
    return sql.Identifier(*name.split("."))


# -------------------------------------------------------------------------------------------------
# Point-in-time retrieval


@dataclass(frozen=True)
class _ViewJoin:
    name: str
    source_sql: str
    join_keys: list[tuple[str, str]]  # (source column, entity-frame column)
    features: list[tuple[str, str]]  # (source column, output column)
    timestamp_field: str
    created_timestamp_column: str | None
    ttl_seconds: int


class PointInTimeJob(RetrievalJob):
    """A retrieval that uploads the entity rows, joins, and returns one row per entity row."""

    def __init__(
        self,
        *,
        config: RepoConfig,
        feature_views: list[FeatureView],
        feature_refs: list[str],
        entity_df: pd.DataFrame | str,
        registry: BaseRegistry,
        project: str,
        full_feature_names: bool,
    ) -> None:
        self.config = config
        self._entity_df = entity_df
        self._full_feature_names = full_feature_names
        self._on_demand_feature_views = OnDemandFeatureView.get_requested_odfvs(
            feature_refs, project, registry
        )
        self._views = _view_joins(feature_refs, feature_views, registry, project, full_feature_names)
        self._join_columns = sorted({column for view in self._views for _, column in view.join_keys})
        self._entity_table = f"{ENTITY_TABLE_PREFIX}{time.monotonic_ns()}"
        self._metadata: RetrievalMetadata | None = None
        if isinstance(entity_df, pd.DataFrame):
            timestamp_column = offline_utils.infer_event_timestamp_from_entity_df(
                dict(zip(entity_df.columns, entity_df.dtypes, strict=True))
            )
            self._timestamp_column = timestamp_column
            missing = [c for c in self._join_columns if c not in entity_df.columns]
            if missing:
                raise OfflineWriteError(
                    f"the entity frame lacks join key column(s) {missing}; it has {list(entity_df.columns)}"
                )
            stamps = entity_timestamps_utc(entity_df[timestamp_column])
            self._metadata = RetrievalMetadata(
                features=feature_refs,
                keys=[c for c in entity_df.columns if c != timestamp_column],
                min_event_timestamp=stamps.min().to_pydatetime() if len(stamps) else None,
                max_event_timestamp=stamps.max().to_pydatetime() if len(stamps) else None,
            )
        else:
            self._timestamp_column = "event_timestamp"

    @property
    def full_feature_names(self) -> bool:
        return self._full_feature_names

    @property
    def on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return self._on_demand_feature_views

    @property
    def metadata(self) -> RetrievalMetadata | None:
        return self._metadata

    def to_sql(self) -> str:
        """Return the join, reading the entity rows from the temporary table it uploads first."""
        return self._join_query().as_string(None)

    def _to_df_internal(self, timeout: int | None = None) -> pd.DataFrame:
        return self._to_arrow_internal(timeout).to_pandas()

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        with connect(self.config) as conn, self._uploaded_entity_rows(conn) as entity_frame:
            started = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute(self._join_query())
                names = [column.name for column in cur.description or []]
                rows = cur.fetchall()
            logger.debug("point-in-time join: %d rows in %.3f s", len(rows), time.perf_counter() - started)

        features = pd.DataFrame.from_records(rows, columns=names)
        features = features.sort_values(ROW_ID_COLUMN).set_index(ROW_ID_COLUMN)
        result = entity_frame.join(features, how="left")
        result = result.reset_index(drop=True)
        for view in self._views:
            for _, output in view.features:
                if output in result.columns and result[output].dtype == object:
                    result[output] = _numeric_if_possible(result[output])
        return pa.Table.from_pandas(result, preserve_index=False)

    def persist(
        self,
        storage: SavedDatasetStorage,
        allow_overwrite: bool | None = False,
        timeout: int | None = None,
    ) -> None:
        assert isinstance(storage, SavedDatasetPostgreSQLStorage)
        df_to_postgres_table(self.config.offline_store, self.to_df(), storage.postgres_options._table)

    @contextlib.contextmanager
    def _uploaded_entity_rows(self, conn: psycopg.Connection) -> Iterator[pd.DataFrame]:
        """Upload row id, join keys and timestamp; yield the entity frame indexed by row id."""
        if isinstance(self._entity_df, str):
            with conn.cursor() as cur:
                cur.execute(self._entity_df)  # the caller's own SQL, as in Feast's stock store
                names = [column.name for column in cur.description or []]
                entity_frame = pd.DataFrame.from_records(cur.fetchall(), columns=names)
            self._timestamp_column = offline_utils.infer_event_timestamp_from_entity_df(
                dict(zip(entity_frame.columns, entity_frame.dtypes, strict=True))
            )
        else:
            entity_frame = self._entity_df.copy()
        entity_frame = entity_frame.reset_index(drop=True)
        entity_frame.index.name = ROW_ID_COLUMN

        upload = pd.DataFrame({ROW_ID_COLUMN: np.arange(len(entity_frame), dtype=np.int64)})
        for column in self._join_columns:
            upload[column] = entity_frame[column].to_numpy()
        upload[ENTITY_TS_COLUMN] = entity_timestamps_utc(entity_frame[self._timestamp_column]).to_numpy()
        arrow = pa.Table.from_pandas(upload, preserve_index=False)

        table = sql.Identifier(self._entity_table)
        column_defs = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(field.name), sql.SQL(_pg_type(field.type)))
            for field in arrow.schema
        )
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE TEMP TABLE {} ({})").format(table, column_defs))
            _copy_csv(cur, table, arrow)
            cur.execute(sql.SQL("ANALYZE {}").format(table))
        try:
            yield entity_frame
        finally:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))

    def _join_query(self) -> sql.Composed:
        entity = sql.Identifier("entity")
        selects: list[sql.Composable] = [sql.SQL("{}.{}").format(entity, sql.Identifier(ROW_ID_COLUMN))]
        laterals: list[sql.Composable] = []
        for index, view in enumerate(self._views):
            alias = sql.Identifier(f"fv{index}")
            source = sql.Identifier("src")
            for _, output in view.features:
                selects.append(sql.SQL("{}.{}").format(alias, sql.Identifier(output)))
            conditions = [
                sql.SQL("{}.{} = {}.{}").format(source, sql.Identifier(src), entity, sql.Identifier(col))
                for src, col in view.join_keys
            ]
            stamp = sql.SQL("{}.{}").format(source, sql.Identifier(view.timestamp_field))
            entity_ts = sql.SQL("{}.{}").format(entity, sql.Identifier(ENTITY_TS_COLUMN))
            conditions.append(sql.SQL("{} <= {}").format(stamp, entity_ts))
            if view.ttl_seconds:
                # Inclusive lower edge, as in Feast's own query: a row exactly one TTL old still counts.
                conditions.append(
                    sql.SQL("{} >= {} - make_interval(secs => {})").format(
                        stamp, entity_ts, sql.Literal(view.ttl_seconds)
                    )
                )
            order = [sql.SQL("{} DESC").format(stamp)]
            if view.created_timestamp_column:
                created = sql.SQL("{}.{}").format(source, sql.Identifier(view.created_timestamp_column))
                conditions.append(sql.SQL("{} <= {}").format(created, entity_ts))
                order.append(sql.SQL("{} DESC").format(created))
            feature_list = sql.SQL(", ").join(
                sql.SQL("{}.{} AS {}").format(source, sql.Identifier(src), sql.Identifier(output))
                for src, output in view.features
            )
            laterals.append(
                sql.SQL(
                    "LEFT JOIN LATERAL (SELECT {} FROM {} AS {} WHERE {} ORDER BY {} LIMIT 1) AS {} ON TRUE"
                ).format(
                    feature_list,
                    sql.SQL(view.source_sql),
                    source,
                    sql.SQL(" AND ").join(conditions),
                    sql.SQL(", ").join(order),
                    alias,
                )
            )
        return sql.SQL("SELECT {} FROM {} AS {} {} ORDER BY {}.{}").format(
            sql.SQL(", ").join(selects),
            sql.Identifier(self._entity_table),
            entity,
            sql.SQL(" ").join(laterals),
            entity,
            sql.Identifier(ROW_ID_COLUMN),
        )


def entity_timestamps_utc(values: pd.Series) -> pd.Series:
    """Convert entity-frame timestamps to UTC.

    Timestamps without a zone are taken as UTC, because every store and session of this project
    works in UTC. A caller with local wall-clock times must localize them before retrieval.
    """
    stamps = pd.to_datetime(values, utc=False)
    if getattr(stamps.dt, "tz", None) is None:
        return stamps.dt.tz_localize("UTC")
    return stamps.dt.tz_convert("UTC")


def _view_joins(
    feature_refs: list[str],
    feature_views: list[FeatureView],
    registry: BaseRegistry,
    project: str,
    full_feature_names: bool,
) -> list[_ViewJoin]:
    requested: dict[str, list[str]] = {}
    for ref in feature_refs:
        view_name, feature = ref.split(":", 1)
        requested.setdefault(view_name, []).append(feature)

    joins = []
    for view in feature_views:
        name = view.projection.name_to_use()
        features = requested.get(name) or requested.get(view.name) or []
        if not features:
            continue
        source = view.batch_source
        assert isinstance(source, PostgreSQLSource)
        reverse_mapping = {feature: column for column, feature in (source.field_mapping or {}).items()}
        join_keys = []
        for entity_column in view.entity_columns:
            key = entity_column.name
            join_keys.append((reverse_mapping.get(key, key), view.projection.join_key_map.get(key, key)))
        outputs = []
        for feature in features:
            output = f"{name}__{feature}" if full_feature_names else feature
            outputs.append((reverse_mapping.get(feature, feature), output))
        ttl = int(view.ttl.total_seconds()) if view.ttl else 0
        joins.append(
            _ViewJoin(
                name=name,
                source_sql=source.get_table_query_string(),
                join_keys=join_keys,
                features=outputs,
                timestamp_field=source.timestamp_field,
                created_timestamp_column=source.created_timestamp_column or None,
                ttl_seconds=ttl,
            )
        )
    return joins


def _pg_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_int64(arrow_type) or pa.types.is_uint32(arrow_type):
        return "bigint"
    if pa.types.is_integer(arrow_type):
        return "integer"
    if pa.types.is_floating(arrow_type):
        return "double precision"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "text"
    raise OfflineWriteError(f"entity key type {arrow_type} is not supported; use strings or integers")


def _numeric_if_possible(column: pd.Series) -> pd.Series:
    if column.map(lambda value: value is None or isinstance(value, float | int)).all():
        return column.astype("float64")
    return column
