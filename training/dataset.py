"""Label events and point-in-time training frames for the water-temperature forecast.

The label of an entity row at time t is the sensor's first reading in [t + horizon, t + horizon +
tolerance], read from ``water_readings``. Features come only from Feast
(``get_historical_features`` with the training feature service), so they are what the store knew
at t. Two baselines ride along in the entity frame: persistence (the current reading, a feature)
and seasonal-naive (the reading one day before the label time, which is known at t).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import numpy as np
import pandas as pd
import psycopg
from feast import FeatureService, FeatureStore

from aquafs.backfill import read_readings

logger = logging.getLogger(__name__)

TRAINING_SERVICE: Final = "water_quality_training_v1"
INFERENCE_SERVICE: Final = "water_quality_inference_v1"
TARGET_COLUMN: Final = "water_temp_c"
ENTITY_KEYS: Final = ("sensor_id", "site_id", "pond_id")
# Columns of the services that are not model inputs: ids, and the absolute epoch, which only
# tells the model where in the calendar the training data sat and cannot generalise to later times.
NON_MODEL_FEATURES: Final = frozenset({"site_id", "pond_id", "event_epoch_s"})
SEASONAL_PERIOD: Final = timedelta(hours=24)


@dataclass(frozen=True)
class LabelSpec:
    """How far ahead the target lies and how entity rows are spaced."""

    horizon: timedelta = timedelta(minutes=60)
    tolerance: timedelta = timedelta(minutes=5)
    """Maximum wait after t + horizon for a reading to serve as the label. Rows without one are dropped."""
    step: timedelta = timedelta(minutes=5)
    """Spacing of entity rows per sensor."""


def label_events(conn: psycopg.Connection, spec: LabelSpec, sensor_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Build entity rows with labels from ``water_readings``.

    Returns:
        Columns ``sensor_id``, ``site_id``, ``pond_id``, ``event_timestamp`` (= ``request_time``),
        ``requested_water_temp_c`` (NaN, the request source needs the column), ``label``,
        ``label_timestamp`` and ``seasonal_naive``; one row per sensor and step that has a label.
    """
    readings = read_readings(conn, sensor_ids)
    frames = [
        _sensor_events(group, spec)
        for _, group in readings.groupby("sensor_id", sort=True)
        if group[TARGET_COLUMN].notna().any()
    ]
    if not frames:
        return pd.DataFrame(
            columns=[*ENTITY_KEYS, "event_timestamp", "request_time", "label", "label_timestamp", "seasonal_naive"]
        )
    events = pd.concat(frames, ignore_index=True)
    logger.info("built %d label events for %d sensor(s)", len(events), events["sensor_id"].nunique())
    return events


def feature_frame(store: FeatureStore, entity_df: pd.DataFrame, service_name: str = TRAINING_SERVICE) -> pd.DataFrame:
    """Join the service's features to ``entity_df`` as of each row's ``event_timestamp``.

    Returns:
        ``entity_df``'s columns plus one column per feature, named as in the view (no view prefix),
        in ``entity_df``'s row order.
    """
    service = store.get_feature_service(service_name)
    entities = entity_df.reset_index(drop=True).assign(_row=lambda frame: np.arange(len(frame)))
    joined = store.get_historical_features(entity_df=entities, features=service, full_feature_names=True).to_df()
    joined = joined.sort_values("_row").drop(columns="_row").reset_index(drop=True)
    return strip_view_prefixes(joined)


def strip_view_prefixes(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename ``view__feature`` columns to ``feature``, keeping the entity columns when names meet."""
    renamed: dict[str, str] = {}
    dropped: list[str] = []
    for column in frame.columns:
        if "__" not in column:
            continue
        feature = column.split("__", 1)[1]
        if feature in frame.columns or feature in renamed.values():
            dropped.append(column)
        else:
            renamed[column] = feature
    return frame.drop(columns=dropped).rename(columns=renamed)


def model_feature_names(service: FeatureService) -> list[str]:
    """Return the numeric model inputs of ``service``, in the service's order."""
    names: list[str] = []
    for projection in service.feature_view_projections:
        for feature in projection.features:
            if feature.name not in NON_MODEL_FEATURES and feature.name not in names:
                names.append(feature.name)
    return names


def _sensor_events(readings: pd.DataFrame, spec: LabelSpec) -> pd.DataFrame:
    observed = readings.dropna(subset=[TARGET_COLUMN]).sort_values("event_timestamp")
    first = observed["event_timestamp"].iloc[0].ceil(pd.Timedelta(spec.step))
    last = observed["event_timestamp"].iloc[-1] - pd.Timedelta(spec.horizon)
    if last < first:
        return pd.DataFrame()
    grid = pd.DataFrame({"event_timestamp": pd.date_range(first, last, freq=pd.Timedelta(spec.step))})
    grid["target_time"] = grid["event_timestamp"] + pd.Timedelta(spec.horizon)
    grid["seasonal_time"] = grid["target_time"] - pd.Timedelta(SEASONAL_PERIOD)

    values = observed[["event_timestamp", TARGET_COLUMN]].rename(columns={"event_timestamp": "reading_time"})
    labelled = pd.merge_asof(
        grid, values, left_on="target_time", right_on="reading_time",
        direction="forward", tolerance=pd.Timedelta(spec.tolerance),
    ).rename(columns={TARGET_COLUMN: "label", "reading_time": "label_timestamp"})
    # The reading at or just before the same time one day earlier: known at t, because t + horizon
    # minus a day lies before t for any horizon shorter than a day.
    seasonal = pd.merge_asof(
        grid[["seasonal_time"]].reset_index(), values, left_on="seasonal_time", right_on="reading_time",
        direction="backward", tolerance=pd.Timedelta(spec.tolerance),
    ).set_index("index")
    labelled["seasonal_naive"] = seasonal[TARGET_COLUMN]

    labelled = labelled.dropna(subset=["label"])
    first_row = readings.iloc[0]
    events = pd.DataFrame(
        {
            "sensor_id": first_row["sensor_id"],
            "site_id": first_row["site_id"],
            "pond_id": first_row["pond_id"],
            "event_timestamp": labelled["event_timestamp"],
            "request_time": labelled["event_timestamp"],
            "requested_water_temp_c": np.nan,
            "label": labelled["label"].astype("float64"),
            "label_timestamp": labelled["label_timestamp"],
            "seasonal_naive": labelled["seasonal_naive"].astype("float64"),
        }
    )
    return events.reset_index(drop=True)
