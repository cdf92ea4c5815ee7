"""Request-time features for Feast on-demand feature views (mode "pandas").

Each function takes the DataFrame Feast passes to the view (feature-view columns plus request
data) and returns a new DataFrame with only the output columns, on the same index. Missing
inputs give NaN outputs, never an error, because one bad entity must not fail a whole request.

Timestamps may be timezone-aware datetimes (converted to UTC), naive ones, which are read as UTC
because Feast request sources of type UnixTimestamp arrive naive in some Feast code paths, or
numbers of epoch seconds, as they arrive in JSON requests to `feast serve`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.domain import oxygen_saturation_mg_l
from transforms.parameters import NS_PER_HOUR, NS_PER_SECOND

REQUEST_TIME_INPUTS: tuple[str, ...] = ("request_time",)
REQUEST_TIME_OUTPUTS: tuple[str, ...] = (
    "request_hour_of_day_sin",
    "request_hour_of_day_cos",
    "request_day_of_week_sin",
    "request_day_of_week_cos",
    "request_is_daytime_utc_flag",
)
READING_AGE_INPUTS: tuple[str, ...] = ("request_time", "event_epoch_s")
READING_AGE_OUTPUTS: tuple[str, ...] = ("hours_since_reading_h",)
PROJECTED_OXYGEN_INPUTS: tuple[str, ...] = ("requested_water_temp_c", "dissolved_oxygen_mg_l")
PROJECTED_OXYGEN_OUTPUTS: tuple[str, ...] = (
    "projected_oxygen_saturation_mg_l",
    "projected_dissolved_oxygen_saturation_pct",
)


def request_time_features(df: pd.DataFrame) -> pd.DataFrame:
    """Encode the request time like the reading-time features (UTC hour and weekday on the circle).

    Input: ``request_time``. Output: ``REQUEST_TIME_OUTPUTS``, float64. The formulas equal the
    catalogue's ``hour_of_day_*``, ``day_of_week_*`` and ``is_daytime_utc_flag``.
    """
    request_ns = _utc_nanoseconds(df["request_time"])
    hour = (request_ns % (24 * NS_PER_HOUR)) / NS_PER_HOUR
    weekday = _utc_datetimes(df["request_time"]).dt.weekday.to_numpy(dtype=float)
    hour_angle = 2.0 * np.pi * hour / 24.0
    week_angle = 2.0 * np.pi * weekday / 7.0
    daytime = np.where(np.isnan(hour), np.nan, (hour >= 6.0) & (hour < 18.0))
    return pd.DataFrame(
        {
            "request_hour_of_day_sin": np.sin(hour_angle),
            "request_hour_of_day_cos": np.cos(hour_angle),
            "request_day_of_week_sin": np.sin(week_angle),
            "request_day_of_week_cos": np.cos(week_angle),
            "request_is_daytime_utc_flag": daytime.astype(float),
        },
        index=df.index,
    )


def reading_age_features(df: pd.DataFrame) -> pd.DataFrame:
    """Compute how old the served reading is at request time.

    Input: ``request_time`` and the catalogue feature ``event_epoch_s`` (the event time of the
    feature row Feast served). Output: ``hours_since_reading_h``; negative when the request time
    is before the reading, NaN when either input is missing.
    """
    request_s = _utc_nanoseconds(df["request_time"]) / NS_PER_SECOND
    event_s = pd.to_numeric(df["event_epoch_s"], errors="coerce").to_numpy(dtype=float)
    return pd.DataFrame({"hours_since_reading_h": (request_s - event_s) / 3600.0}, index=df.index)


def projected_oxygen_features(df: pd.DataFrame) -> pd.DataFrame:
    """Project oxygen saturation to a requested water temperature (fresh water, 1 atm).

    Input: ``requested_water_temp_c`` (request data) and optionally ``dissolved_oxygen_mg_l``
    (served feature). Output: ``projected_oxygen_saturation_mg_l`` (Benson and Krause, as the
    catalogue's ``oxygen_saturation_mg_l``) and ``projected_dissolved_oxygen_saturation_pct``,
    the current oxygen as a percentage of that projected saturation (NaN without oxygen).
    """
    temperature = pd.to_numeric(df["requested_water_temp_c"], errors="coerce").to_numpy(dtype=float)
    saturation = np.asarray(oxygen_saturation_mg_l(temperature), dtype=float)
    if "dissolved_oxygen_mg_l" in df:
        oxygen = pd.to_numeric(df["dissolved_oxygen_mg_l"], errors="coerce").to_numpy(dtype=float)
    else:
        oxygen = np.full(len(df), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = 100.0 * oxygen / saturation
    return pd.DataFrame(
        {"projected_oxygen_saturation_mg_l": saturation, "projected_dissolved_oxygen_saturation_pct": percent},
        index=df.index,
    )


def _utc_datetimes(column: pd.Series) -> pd.Series:
    # A bare number is epoch seconds, the JSON form of a Feast UnixTimestamp that `feast serve`
    # passes through unchanged; pandas alone would read it as nanoseconds.
    if pd.api.types.is_numeric_dtype(column):
        return pd.to_datetime(column, unit="s", utc=True, errors="coerce")
    return pd.to_datetime(column, utc=True, errors="coerce")


def _utc_nanoseconds(column: pd.Series) -> np.ndarray:
    timestamps = _utc_datetimes(column).astype("datetime64[ns, UTC]")
    nanoseconds = timestamps.to_numpy(dtype="datetime64[ns]").view(np.int64).astype(float)
    return np.where(timestamps.isna().to_numpy(), np.nan, nanoseconds)
