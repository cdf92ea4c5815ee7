"""Pure feature transforms shared by the batch backfill, the stream ingester and on-demand views.

Batch: ``compute_features(readings_df)``. Stream: ``StreamFeatureEngine().update(reading)``.
Both return the features of ``FEATURE_NAMES`` with equal values for equal input; see
docs/FEATURES.md for the catalogue.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transforms.batch import KEY_COLUMNS, DuplicateReadingsError, compute_features
    from transforms.catalog import FEATURE_NAMES, FEATURES, FEATURES_BY_NAME, FeatureSpec
    from transforms.domain import oxygen_saturation_mg_l, oxygen_saturation_pct, unionized_ammonia_fraction
    from transforms.health import (
        HEALTH_LIMITS,
        HEALTH_LIMITS_BY_COLUMN,
        HealthLimit,
        health_score,
        health_score_frame,
        health_subscore,
        health_subscores_frame,
    )
    from transforms.on_demand import projected_oxygen_features, reading_age_features, request_time_features
    from transforms.parameters import PARAMETER_COLUMNS
    from transforms.stream import OutOfOrderReadingError, StreamFeatureEngine

# Exports load lazily, so `python -m transforms.catalog` does not import the catalogue twice.
_EXPORTS = {
    "KEY_COLUMNS": "batch",
    "DuplicateReadingsError": "batch",
    "compute_features": "batch",
    "FEATURE_NAMES": "catalog",
    "FEATURES": "catalog",
    "FEATURES_BY_NAME": "catalog",
    "FeatureSpec": "catalog",
    "oxygen_saturation_mg_l": "domain",
    "oxygen_saturation_pct": "domain",
    "unionized_ammonia_fraction": "domain",
    "HEALTH_LIMITS": "health",
    "HEALTH_LIMITS_BY_COLUMN": "health",
    "HealthLimit": "health",
    "health_score": "health",
    "health_score_frame": "health",
    "health_subscore": "health",
    "health_subscores_frame": "health",
    "projected_oxygen_features": "on_demand",
    "reading_age_features": "on_demand",
    "request_time_features": "on_demand",
    "PARAMETER_COLUMNS": "parameters",
    "OutOfOrderReadingError": "stream",
    "StreamFeatureEngine": "stream",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'transforms' has no attribute {name!r}")
    return getattr(importlib.import_module(f"transforms.{_EXPORTS[name]}"), name)


__all__ = [
    "FEATURES",
    "FEATURES_BY_NAME",
    "FEATURE_NAMES",
    "HEALTH_LIMITS",
    "HEALTH_LIMITS_BY_COLUMN",
    "KEY_COLUMNS",
    "PARAMETER_COLUMNS",
    "DuplicateReadingsError",
    "FeatureSpec",
    "HealthLimit",
    "OutOfOrderReadingError",
    "StreamFeatureEngine",
    "compute_features",
    "health_score",
    "health_score_frame",
    "health_subscore",
    "health_subscores_frame",
    "oxygen_saturation_mg_l",
    "oxygen_saturation_pct",
    "projected_oxygen_features",
    "reading_age_features",
    "request_time_features",
    "unionized_ammonia_fraction",
]
