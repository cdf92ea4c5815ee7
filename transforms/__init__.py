"""Pure feature transforms shared by the batch backfill, the stream ingester and on-demand views.

Batch: ``compute_features(readings_df)``. Stream: ``StreamFeatureEngine().update(reading)``.
Both return the features of ``FEATURE_NAMES`` with equal values for equal input; see
docs/FEATURES.md for the catalogue.
"""

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
