"""Online reads that never serve a stale value as fresh.

Feast's Redis store returns the last written value however old it is; a view's TTL only limits
point-in-time joins. :func:`read_fresh_features` reads the features with their event timestamps
(through :class:`aquafs.redis_online.OnlineReader` when no on-demand view is requested, else
through ``get_online_features``), and blanks every value older than its view's TTL at ``now``, returning
each view's age so callers can see how fresh the answer is.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from feast import FeatureService, FeatureStore
from feast.online_response import TIMESTAMP_POSTFIX

from aquafs.redis_online import OnlineReader


def read_fresh_features(
    store: FeatureStore,
    features: FeatureService | Sequence[str],
    entity_rows: Sequence[Mapping[str, Any]],
    *,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Read online features and blank the values older than their view's TTL.

    Returns:
        One row per entity row: the join keys, every feature (``NaN``/``None`` when missing or
        stale), and ``<view>__age_seconds`` per view (``NaN`` when the view has no value).
    """
    now = now or datetime.now(UTC)
    reader = _lean_reader(store, features)
    if reader is not None:
        columns_by_name = reader.read(entity_rows)
    else:
        requested = features if isinstance(features, FeatureService) else list(features)
        response = store.get_online_features(
            features=requested, entity_rows=[dict(row) for row in entity_rows], full_feature_names=True
        )
        columns_by_name = response.to_dict(include_event_timestamps=True)
    frame = pd.DataFrame(columns_by_name)

    ttl_by_view = {view.name: view.ttl for view in store.list_feature_views(allow_cache=True)}
    stamp_columns = {c for c in frame.columns if c.endswith(TIMESTAMP_POSTFIX)}
    keys = frame[[c for c in frame.columns if "__" not in c and c not in stamp_columns]]
    columns: dict[str, pd.Series] = {}
    for column in [c for c in frame.columns if "__" in c and c not in stamp_columns]:
        view, feature = column.split("__", 1)
        # Feast reports whole epoch seconds, and 0 where the store has no value.
        seconds = frame[column + TIMESTAMP_POSTFIX].astype("float64").where(lambda s: s > 0)
        age = now.timestamp() - seconds
        ttl = ttl_by_view.get(view)
        values = frame[column]
        if ttl:
            values = values.where(age <= ttl.total_seconds())
        columns[feature] = values
        columns[f"{view}__age_seconds"] = age
    result = pd.concat([keys, pd.DataFrame(columns, index=frame.index)], axis=1)
    return result


# Readers per store object and feature selection, rebuilt after the registry cache's TTL so an
# applied change reaches them as it reaches Feast.
_READERS: weakref.WeakKeyDictionary[FeatureStore, dict[tuple[str, ...], tuple[float, OnlineReader]]] = (
    weakref.WeakKeyDictionary()
)


def _lean_reader(store: FeatureStore, features: FeatureService | Sequence[str]) -> OnlineReader | None:
    """Return a cached :class:`OnlineReader`, or ``None`` when an on-demand view is requested."""
    selection = ("service", features.name) if isinstance(features, FeatureService) else ("refs", *features)
    readers = _READERS.setdefault(store, {})
    cached = readers.get(selection)
    ttl = store.config.registry.cache_ttl_seconds
    if cached is not None and (not ttl or time.monotonic() - cached[0] < ttl):
        return cached[1]

    on_demand = {view.name for view in store.list_on_demand_feature_views(allow_cache=True)}
    if isinstance(features, FeatureService):
        names = {projection.name for projection in features.feature_view_projections}
    else:
        names = {ref.partition(":")[0] for ref in features}
    if names & on_demand:
        return None
    reader = OnlineReader(store, features, full_feature_names=True)
    readers[selection] = (time.monotonic(), reader)
    return reader
