"""Online reads that never serve a stale value as fresh.

Feast's Redis store returns the last written value however old it is; a view's TTL only limits
point-in-time joins. :func:`read_fresh_features` reads through ``get_online_features``, asks for the
event timestamps as well, and blanks every value older than its view's TTL at ``now``, returning
each view's age so callers can see how fresh the answer is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from feast import FeatureService, FeatureStore
from feast.online_response import TIMESTAMP_POSTFIX


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
    response = store.get_online_features(features=features, entity_rows=list(entity_rows), full_feature_names=True)
    frame = pd.DataFrame(response.to_dict(include_event_timestamps=True))

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
