"""Lean read and write paths for Feast's Redis online store, byte-compatible with Feast 0.67.

Feast stores one Redis hash per entity key: the key is the serialized entity key (version 3)
followed by the project name, each feature is a field named by the murmur3 hash of
``"<view>:<feature>"`` containing a serialized ``ValueProto`` (empty bytes for null), and
``_ts:<view>`` contains the event time as a serialized protobuf ``Timestamp``.

:class:`OnlineReader` resolves the views of a feature service or of feature references once and
then reads with one pipelined ``HMGET`` per (entity, view) in a single round trip. It returns the
same columns as ``get_online_features(...).to_dict(include_event_timestamps=True)``. On-demand
views are not computed: the reader rejects them, so callers that need them use Feast.

:class:`OnlineWriter` writes a frame as ``write_to_online_store`` does: one pipeline reads the
stored ``_ts`` of the batch's keys, and one pipeline writes only the rows newer than both the
stored event time and any earlier row of the same entity in the batch, so the online store never
goes back in time.
"""

from __future__ import annotations

import logging
import math
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from feast import FeatureService, FeatureStore, FeatureView
from feast.infra.online_stores.helpers import _mmh3, compute_versioned_name
from feast.infra.online_stores.redis import RedisOnlineStore, RedisOnlineStoreConfig
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.protos.feast.types.Value_pb2 import ValueType as ValueTypeProto
from feast.type_map import feast_value_type_to_python_type, python_values_to_proto_values
from feast.value_type import ValueType
from redis import Redis

from aquafs.errors import ConfigError, TerminalError

logger = logging.getLogger(__name__)

TIMESTAMP_SUFFIX = "__ts"
_DOUBLE = struct.Struct("<d")
_UINT32 = struct.Struct("<I")
_INT64 = struct.Struct("<q")
_INT32 = struct.Struct("<i")
_UINT64_MASK = (1 << 64) - 1
# Tags of the ValueProto fields written by hand: (field number << 3) | wire type.
_TAG_STRING = 0x12  # string_val = 2, length-delimited
_TAG_INT32 = 0x18  # int32_val = 3, varint
_TAG_INT64 = 0x20  # int64_val = 4, varint
_TAG_DOUBLE = 0x29  # double_val = 5, 64-bit
_TAG_BOOL = 0x38  # bool_val = 7, varint

TypeEncoder = Callable[[Any], bytes]


# -------------------------------------------------------------------------------------------------
# Reads


@dataclass(frozen=True)
class _ViewRead:
    view_name: str
    join_keys: tuple[str, ...]
    key_prefix: bytes
    key_encoders: tuple[Callable[[Any], bytes], ...]
    features: tuple[str, ...]
    columns: tuple[str, ...]
    value_types: tuple[ValueType, ...]
    fields: tuple[bytes, ...]  # feature field hashes, then the _ts field


class OnlineReader:
    """Read the regular feature views of a feature service or of feature references from Redis.

    Build it once per serving process. It resolves the views from the registry (cached) at
    construction, so a registry change needs a new reader.

    Args:
        store: The Feast store whose project and Redis connection to use.
        features: A feature service or ``"view:feature"`` references.
        full_feature_names: Name the columns ``<view>__<feature>`` as Feast does with the same flag.
        client: Redis client to use; by default one built from the store's online-store config.

    Raises:
        ConfigError: the features include an on-demand view, a view with a join key mapping, or
            the repo uses another entity key serialization than version 3.
    """

    def __init__(
        self,
        store: FeatureStore,
        features: FeatureService | Sequence[str],
        *,
        full_feature_names: bool = False,
        client: Redis | None = None,
    ) -> None:
        config = _redis_config_or_raise(store)
        self.client = client if client is not None else _redis_client(config)
        self.full_feature_names = full_feature_names
        self._project = store.project.encode("utf-8")
        self._views = self._resolve(store, features)
        self.join_keys = tuple(dict.fromkeys(key for view in self._views for key in view.join_keys))

    def read(self, entity_rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
        """Read every feature for ``entity_rows`` in one round trip.

        Returns:
            The columns of Feast's ``to_dict(include_event_timestamps=True)``: the entity-row
            columns (with all-zero ``__ts`` columns), then per feature its values (``None`` when
            missing) and ``<column>__ts``, the event time in whole epoch seconds (``0`` when the
            entity has no value in that view). Feast orders the features within a view
            arbitrarily, and this reader keeps the requested order, so compare by column name.

        Raises:
            TerminalError: an entity row lacks a join key that a requested view needs.
        """
        keys_per_view = [self._keys(view, entity_rows) for view in self._views]
        with self.client.pipeline(transaction=False) as pipe:
            for view, keys in zip(self._views, keys_per_view, strict=True):
                for key in keys:
                    pipe.hmget(key, view.fields)  # type: ignore[arg-type]  # redis-py accepts bytes keys
            replies = pipe.execute()

        # Feast echoes every column of the entity rows, each with an all-zero timestamp column.
        result: dict[str, list[Any]] = {}
        for name in entity_rows[0] if entity_rows else self.join_keys:
            result[name] = [row.get(name) for row in entity_rows]
            result[name + TIMESTAMP_SUFFIX] = [0] * len(entity_rows)
        offset = 0
        for view in self._views:
            view_replies = replies[offset : offset + len(entity_rows)]
            offset += len(entity_rows)
            seconds = [_timestamp_seconds(reply[-1]) for reply in view_replies]
            for index, column in enumerate(view.columns):
                value_type = view.value_types[index]
                result[column] = [_decode_value(reply[index], value_type) for reply in view_replies]
                result[column + TIMESTAMP_SUFFIX] = seconds
        return result

    def _keys(self, view: _ViewRead, entity_rows: Sequence[Mapping[str, Any]]) -> list[bytes]:
        keys = []
        for row in entity_rows:
            try:
                values = [row[name] for name in view.join_keys]
            except KeyError as e:
                message = f"entity row {dict(row)!r} lacks join key {e.args[0]!r} of view {view.view_name!r}"
                raise TerminalError(message) from None
            encoded = b"".join(encode(value) for encode, value in zip(view.key_encoders, values, strict=True))
            keys.append(view.key_prefix + encoded + self._project)
        return keys

    def _resolve(self, store: FeatureStore, features: FeatureService | Sequence[str]) -> list[_ViewRead]:
        views_by_name = {view.name: view for view in store.list_feature_views(allow_cache=True)}
        versioning = store.config.registry.enable_online_feature_view_versioning
        requested: dict[str, list[str]] = {}
        if isinstance(features, FeatureService):
            for projection in features.feature_view_projections:
                if projection.join_key_map:
                    raise ConfigError(f"view {projection.name!r} maps join keys, which OnlineReader does not support; read it through Feast")
                requested.setdefault(projection.name_to_use(), []).extend(f.name for f in projection.features)
        else:
            for ref in features:
                view_name, _, feature = ref.partition(":")
                requested.setdefault(view_name, []).append(feature)

        plans = []
        for view_name, names in requested.items():
            view = views_by_name.get(view_name)
            if view is None:
                raise ConfigError(
                    f"{view_name!r} is not a regular feature view of project {store.project!r} "
                    "(on-demand views are not supported by OnlineReader; read them through Feast)"
                )
            types = {field.name: field.dtype.to_value_type() for field in view.features}
            missing = [name for name in names if name not in types]
            if missing:
                raise ConfigError(f"view {view_name!r} has no feature(s) {missing}")
            stored_name = compute_versioned_name(view, versioning)
            join = _join_key_layout(view)
            prefix = f"{view_name}__" if self.full_feature_names else ""
            plans.append(
                _ViewRead(
                    view_name=view_name,
                    join_keys=tuple(name for name, _ in join),
                    key_prefix=_entity_key_prefix([name for name, _ in join]),
                    key_encoders=tuple(_entity_value_encoder(value_type) for _, value_type in join),
                    features=tuple(names),
                    columns=tuple(prefix + name for name in names),
                    value_types=tuple(types[name] for name in names),
                    fields=(*(_mmh3(f"{stored_name}:{name}") for name in names), f"_ts:{stored_name}".encode()),
                )
            )
        return plans


def _decode_value(raw: bytes | None, value_type: ValueType) -> Any:
    if not raw:
        return None
    tag = raw[0]
    if tag == _TAG_DOUBLE and len(raw) == 9:
        return _DOUBLE.unpack_from(raw, 1)[0]
    if tag == _TAG_STRING:
        length, start = _read_varint(raw, 1)
        if start + length == len(raw):
            return raw[start:].decode("utf-8")
    if tag == _TAG_INT64:
        number, end = _read_varint(raw, 1)
        if end == len(raw):
            return number - (1 << 64) if number >> 63 else number
    # Any other type goes through Feast's own conversion.
    return feast_value_type_to_python_type(ValueProto.FromString(raw), value_type)


def _timestamp_seconds(raw: bytes | None) -> int:
    # A Timestamp message starts with field 1 (seconds, tag 0x08) unless seconds is zero.
    if not raw or raw[0] != 0x08:
        return 0
    number, _ = _read_varint(raw, 1)
    return number - (1 << 64) if number >> 63 else number


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


# -------------------------------------------------------------------------------------------------
# Shared helpers


def _redis_config_or_raise(store: FeatureStore) -> RedisOnlineStoreConfig:
    config = store.config.online_store
    if not isinstance(config, RedisOnlineStoreConfig):
        raise ConfigError(f"the online store of project {store.project!r} is {type(config).__name__}, not Redis")
    if store.config.entity_key_serialization_version != 3:
        raise ConfigError(
            f"entity_key_serialization_version is {store.config.entity_key_serialization_version}; "
            "the lean Redis paths only encode version 3"
        )
    return config


def _redis_client(config: RedisOnlineStoreConfig) -> Redis:
    # Feast's own builder parses the connection string (host:port,key=value,...) and handles
    # cluster and sentinel setups.
    client: Redis = RedisOnlineStore()._get_client(config)
    return client


def _join_key_layout(view: FeatureView) -> list[tuple[str, ValueType]]:
    """Return the view's join keys with their types, in the order Feast serializes them."""
    join = [(column.name, column.dtype.to_value_type()) for column in view.entity_columns]
    # serialize_entity_key sorts (key, value) pairs by key when there are several.
    return sorted(join) if len(join) > 1 else join


def _entity_key_prefix(join_keys: list[str]) -> bytes:
    parts = [_UINT32.pack(len(join_keys))]
    for name in join_keys:
        encoded = name.encode("utf-8")
        parts += [_UINT32.pack(ValueTypeProto.STRING), _UINT32.pack(len(encoded)), encoded]
    return b"".join(parts)


def _entity_value_encoder(value_type: ValueType) -> Callable[[Any], bytes]:
    """Return a function that serializes one join-key value as serialize_entity_key (version 3) does."""
    if value_type == ValueType.STRING:
        header = _UINT32.pack(ValueTypeProto.STRING)

        def encode_string(value: Any) -> bytes:
            data = str(value).encode("utf-8")
            return header + _UINT32.pack(len(data)) + data

        return encode_string
    if value_type == ValueType.INT64:
        int64_header = _UINT32.pack(ValueTypeProto.INT64) + _UINT32.pack(8)
        return lambda value: int64_header + _INT64.pack(int(value))
    if value_type == ValueType.INT32:
        int32_header = _UINT32.pack(ValueTypeProto.INT32) + _UINT32.pack(4)
        return lambda value: int32_header + _INT32.pack(int(value))
    raise ConfigError(f"join keys of type {value_type.name} are not supported by the lean Redis paths")


def _varint(number: int) -> bytes:
    number &= _UINT64_MASK
    out = bytearray()
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _is_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return bool(pd.isna(value)) if not isinstance(value, (str, int, bytes)) else False


def _value_encoder(value_type: ValueType) -> TypeEncoder:
    """Return a function that serializes a value as Feast's ``python_values_to_proto_values`` would.

    Doubles, strings, 64- and 32-bit integers and booleans are encoded by hand; every other
    type goes through Feast. Nulls (``None``, ``NaN``) become the empty message, as in Feast.
    """
    if value_type == ValueType.DOUBLE:
        double_tag = bytes([_TAG_DOUBLE])
        return lambda value: b"" if _is_null(value) else double_tag + _DOUBLE.pack(value)
    if value_type == ValueType.STRING:

        def encode_string(value: Any) -> bytes:
            if _is_null(value):
                return b""
            data = str(value).encode("utf-8")
            return bytes([_TAG_STRING]) + _varint(len(data)) + data

        return encode_string
    if value_type in (ValueType.INT64, ValueType.INT32):
        int_tag = bytes([_TAG_INT64 if value_type == ValueType.INT64 else _TAG_INT32])
        return lambda value: b"" if _is_null(value) else int_tag + _varint(int(value))
    if value_type == ValueType.BOOL:
        return lambda value: b"" if _is_null(value) else bytes([_TAG_BOOL, 1 if value else 0])

    def encode_other(value: Any) -> bytes:
        proto: ValueProto = python_values_to_proto_values([value], value_type)[0]
        return proto.SerializeToString()

    return encode_other


def _encode_timestamp(micros: int) -> bytes:
    """Serialize a protobuf Timestamp of ``micros`` since the epoch, as Timestamp.FromDatetime does."""
    seconds, remainder = divmod(micros, 1_000_000)
    nanos = remainder * 1000
    out = b""
    if seconds:
        out += b"\x08" + _varint(seconds)
    if nanos:
        out += b"\x10" + _varint(nanos)
    return out


def _column_values(table: pa.Table, name: str) -> list[Any]:
    # The same conversion Feast applies before building protos (arrow column to numpy), so ints
    # with nulls arrive as floats with NaN here too.
    values: list[Any] = table.column(name).to_numpy(zero_copy_only=False).tolist()
    return values


def _event_micros(table: pa.Table, name: str) -> np.ndarray:
    stamps = pd.to_datetime(table.column(name).to_numpy(zero_copy_only=False))
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC").tz_localize(None)
    if stamps.isna().any():
        raise TerminalError(f"column {name!r} has missing event timestamps")
    # Feast keeps microseconds (datetime) and drops the rest.
    nanos: np.ndarray = stamps.to_numpy(dtype="datetime64[ns]").view("int64")
    return nanos // 1000


# -------------------------------------------------------------------------------------------------
# Writes


@dataclass(frozen=True)
class _ViewWrite:
    view_name: str
    join_keys: tuple[str, ...]
    key_prefix: bytes
    key_encoders: tuple[Callable[[Any], bytes], ...]
    features: tuple[str, ...]
    encoders: tuple[TypeEncoder, ...]
    fields: tuple[bytes, ...]
    timestamp_field: bytes
    timestamp_column: str
    field_mapping: dict[str, str]


class OnlineWriter:
    """Write frames to Feast's Redis hashes with the same bytes as ``write_to_online_store``.

    Per batch it makes two round trips: one pipeline of ``HMGET <key> _ts:<view>`` and one of
    ``HSET`` (plus ``EXPIRE`` when ``key_ttl_seconds`` is set) for the rows that are newer than the
    stored event time and than every earlier row of the same entity in the batch. A row with the
    same event time as the stored one is skipped, as in Feast. Two writers racing on one entity
    can still interleave between the read and the write, as with Feast's own path.

    Args:
        store: The Feast store whose project, registry and Redis connection to use.
        client: Redis client to use; by default one built from the store's online-store config.
    """

    def __init__(self, store: FeatureStore, *, client: Redis | None = None) -> None:
        self._config = _redis_config_or_raise(store)
        self.client = client if client is not None else _redis_client(self._config)
        self._store = store
        self._project = store.project.encode("utf-8")
        self._plans: dict[str, tuple[float, _ViewWrite]] = {}
        # Re-read a view's definition as often as Feast refreshes its registry cache, so a long-lived
        # writer picks up an applied change as Feast's own write path would (0 caches forever there).
        ttl = store.config.registry.cache_ttl_seconds
        self._plan_ttl_seconds = float(ttl) if ttl and ttl > 0 else math.inf

    def write(self, view_name: str, df: pd.DataFrame) -> int:
        """Write the rows of ``df`` to the online store of ``view_name``.

        ``df`` needs the view's join keys, its features and the batch source's timestamp column
        (before the source's field mapping, as for ``write_to_online_store``). As in Feast, an
        empty frame or one whose feature columns are all null writes nothing.

        Returns:
            How many rows were written; the others were not newer than what Redis contains.

        Raises:
            ConfigError: ``view_name`` is not a regular feature view of the project.
            TerminalError: a join key or event timestamp is missing.
        """
        plan = self._plan(view_name)
        if df.empty:
            return 0
        table = pa.Table.from_pandas(df)
        if plan.field_mapping:
            table = table.rename_columns([plan.field_mapping.get(name, name) for name in table.column_names])
        feature_columns = [_column_values(table, name) for name in plan.features]
        if all(_is_null(value) for column in feature_columns for value in column):
            logger.debug("skipped a frame of %d rows for %s: every feature is null", len(df), view_name)
            return 0

        keys = self._keys(plan, table)
        micros = _event_micros(table, plan.timestamp_column).tolist()
        with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(key, [plan.timestamp_field])  # type: ignore[arg-type]
            stored = pipe.execute()

        # Newest event time seen per key: the stored one, then each row queued from this batch.
        latest: dict[bytes, int] = {}
        for key, reply in zip(keys, stored, strict=True):
            latest[key] = _timestamp_micros(reply[0])
        written = 0
        with self.client.pipeline(transaction=False) as pipe:
            for row, key in enumerate(keys):
                event = micros[row]
                # As in Feast, 0 means "nothing stored yet" and never blocks a write.
                if latest[key] and event <= latest[key]:
                    continue
                latest[key] = event
                mapping = {plan.timestamp_field: _encode_timestamp(event)}
                for field, encode, column in zip(plan.fields, plan.encoders, feature_columns, strict=True):
                    mapping[field] = encode(column[row])
                pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
                if self._config.key_ttl_seconds:
                    pipe.expire(key, self._config.key_ttl_seconds)
                written += 1
            pipe.execute()
        logger.debug("wrote %d of %d rows to the online store of %s", written, len(keys), view_name)
        return written

    def _keys(self, plan: _ViewWrite, table: pa.Table) -> list[bytes]:
        columns = []
        for name in plan.join_keys:
            if name not in table.column_names:
                raise TerminalError(f"the frame for view {plan.view_name!r} lacks join key column {name!r}")
            values = _column_values(table, name)
            if any(_is_null(value) for value in values):
                raise TerminalError(f"join key column {name!r} of the frame for {plan.view_name!r} has nulls")
            columns.append(values)
        keys = []
        for row_values in zip(*columns, strict=True):
            encoded = b"".join(encode(value) for encode, value in zip(plan.key_encoders, row_values, strict=True))
            keys.append(plan.key_prefix + encoded + self._project)
        return keys

    def _plan(self, view_name: str) -> _ViewWrite:
        cached = self._plans.get(view_name)
        if cached is not None and time.monotonic() - cached[0] < self._plan_ttl_seconds:
            return cached[1]
        views = {view.name: view for view in self._store.list_feature_views(allow_cache=True)}
        view = views.get(view_name)
        if view is None or view.batch_source is None:
            raise ConfigError(
                f"{view_name!r} is not a regular feature view with a batch source in project "
                f"{self._store.project!r}; views: {sorted(views)}"
            )
        stored_name = compute_versioned_name(view, self._store.config.registry.enable_online_feature_view_versioning)
        join = _join_key_layout(view)
        names = [field.name for field in view.features]
        plan = _ViewWrite(
            view_name=view_name,
            join_keys=tuple(name for name, _ in join),
            key_prefix=_entity_key_prefix([name for name, _ in join]),
            key_encoders=tuple(_entity_value_encoder(value_type) for _, value_type in join),
            features=tuple(names),
            encoders=tuple(_value_encoder(field.dtype.to_value_type()) for field in view.features),
            fields=tuple(_mmh3(f"{stored_name}:{name}") for name in names),
            timestamp_field=f"_ts:{stored_name}".encode(),
            timestamp_column=view.batch_source.timestamp_field,
            field_mapping=dict(view.batch_source.field_mapping or {}),
        )
        self._plans[view_name] = (time.monotonic(), plan)
        return plan


def _timestamp_micros(raw: bytes | None) -> int:
    """Return the microseconds of a serialized Timestamp, or 0 when there is none."""
    if not raw:
        return 0
    seconds = 0
    nanos = 0
    position = 0
    while position < len(raw):
        tag = raw[position]
        number, position = _read_varint(raw, position + 1)
        if number >> 63:
            number -= 1 << 64
        if tag == 0x08:
            seconds = number
        elif tag == 0x10:
            nanos = number
    return seconds * 1_000_000 + nanos // 1000
