"""Feature catalogue: one FeatureSpec per engineered feature, in output-column order.

Every feature path (batch, stream, the ``sensor_features`` table) uses this order. Run
``python -m transforms.catalog --markdown`` or ``--sql`` to print the generated docs page or
migration; the tests fail when the committed copies differ from the output.

Conventions that hold for every feature:

- Values are float64. Flags are 0.0/1.0 and NaN when their input is NaN. Categorical ints
  (month, season) are whole floats, so one SQL type (double precision) stores every feature.
- Windows are trailing, time-based and per sensor: (t - w, t], so a reading exactly at t - w is
  excluded and the current reading is included. Gaps only shrink the window's count.
- A feature uses only the sensor's readings with event time >= t - 24.5 h, at most the latest
  20,000 of them (``transforms.parameters``). Batch and stream apply the same limits.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Literal

from transforms.health import HEALTH_LIMITS_BY_COLUMN
from transforms.parameters import (
    ANOMALY_WINDOW,
    CORE_PARAMETERS,
    EWMA_HALF_LIFE_NS,
    FLAT_LINE_MIN_READINGS,
    FLAT_LINE_MIN_SPAN_NS,
    LAGS_NS,
    MISSING_FRACTION_WINDOWS,
    NS_PER_MINUTE,
    PARAMETERS,
    QUANTILE_WINDOWS,
    SLOPE_WINDOW,
    SPIKE_ROBUST_Z_THRESHOLD,
    WINDOWS_NS,
    Parameter,
)

TFamily = Literal["time", "rolling", "trend", "lag", "domain", "anomaly", "health"]
TValueKind = Literal["continuous", "count", "flag", "categorical"]


@dataclass(frozen=True)
class FeatureSpec:
    """One engineered feature as the docs, the SQL table and the Feast schema see it."""

    name: str
    """Column name; ends with its unit where it has one (``_c``, ``_mg_l``, ``_per_h``, ``_s``)."""
    family: TFamily
    unit: str
    """Unit for humans, e.g. ``°C/h``; ``1`` for dimensionless values."""
    description: str
    formula: str
    """Formula or computation rule, with its source where it has one."""
    edge: str
    """Value without enough data: first readings, gaps, missing inputs."""
    value_kind: TValueKind = "continuous"
    dtype: str = "float64"
    """Storage type in every path; ``double precision`` in SQL."""


_STAT_TEXT = {
    "mean": ("mean", "arithmetic mean of the non-missing values"),
    "std": ("sample standard deviation", "standard deviation with ddof=1; exactly 0 when all values are equal"),
    "min": ("minimum", "minimum of the non-missing values"),
    "max": ("maximum", "maximum of the non-missing values"),
    "median": ("median", "50th percentile, linear interpolation between order statistics"),
    "p10": ("10th percentile", "10th percentile, linear interpolation (numpy's default method)"),
    "p90": ("90th percentile", "90th percentile, linear interpolation (numpy's default method)"),
}
ROLLING_STATS = ("mean", "std", "min", "max")
QUANTILE_STATS = ("median", "p10", "p90")


def unit_suffix(parameter: Parameter) -> str:
    """Return ``_<unit>`` for a parameter with a unit, or an empty string for pH."""
    return f"_{parameter.unit}" if parameter.unit else ""


def rolling_name(parameter: Parameter, stat: str, window: str) -> str:
    """Name a rolling-window feature, e.g. ``water_temp_mean_1h_c`` or ``ph_count_24h``."""
    if stat == "count":
        return f"{parameter.base}_count_{window}"
    if stat == "missing_frac":
        return f"{parameter.base}_missing_frac_{window}"
    return f"{parameter.base}_{stat}_{window}{unit_suffix(parameter)}"


def trend_name(parameter: Parameter, kind: str) -> str:
    """Name a trend feature: ``diff_prev``, ``rate``, ``slope`` or ``ewma``."""
    suffix = unit_suffix(parameter)
    names = {
        "diff_prev": f"{parameter.base}_diff_prev{suffix}",
        "rate": f"{parameter.base}_rate{suffix}_per_h",
        "slope": f"{parameter.base}_slope_{SLOPE_WINDOW}{suffix}_per_h",
        "ewma": f"{parameter.base}_ewma_{_EWMA_LABEL}{suffix}",
    }
    return names[kind]


def lag_name(parameter: Parameter, lag: str) -> str:
    """Name a lag feature: ``prev`` (previous reading) or one of ``LAGS_NS``' labels."""
    if lag == "prev":
        return f"{parameter.base}_prev{unit_suffix(parameter)}"
    return f"{parameter.base}_lag_{lag}{unit_suffix(parameter)}"


def anomaly_name(parameter: Parameter, kind: str) -> str:
    """Name an anomaly feature: ``zscore``, ``robust_zscore``, ``spike``, ``flat_line``, ``out_of_range``."""
    names = {
        "zscore": f"{parameter.base}_zscore_{ANOMALY_WINDOW}",
        "robust_zscore": f"{parameter.base}_robust_zscore_{ANOMALY_WINDOW}",
        "spike": f"{parameter.base}_spike_flag",
        "flat_line": f"{parameter.base}_flat_line_flag",
        "out_of_range": f"{parameter.base}_out_of_range_flag",
    }
    return names[kind]


def subscore_name(parameter: Parameter) -> str:
    """Name a health sub-score feature, e.g. ``water_temp_health_subscore``."""
    return f"{parameter.base}_health_subscore"


_EWMA_LABEL = f"hl{EWMA_HALF_LIFE_NS // (60 * NS_PER_MINUTE)}h"


def _time_features() -> list[FeatureSpec]:
    cyclic = "NaN never: every reading has a timestamp"
    return [
        FeatureSpec("event_epoch_s", "time", "s", "event time as seconds since 1970-01-01 UTC",
                    "event_timestamp in UTC nanoseconds / 1e9", cyclic),
        FeatureSpec("hour_of_day_sin", "time", "1", "hour of day (UTC) on the unit circle, sine",
                    "sin(2π·h/24), h = UTC hour + minute/60 + second/3600", cyclic),
        FeatureSpec("hour_of_day_cos", "time", "1", "hour of day (UTC) on the unit circle, cosine",
                    "cos(2π·h/24), h = UTC hour + minute/60 + second/3600", cyclic),
        FeatureSpec("day_of_week_sin", "time", "1", "day of week (UTC, Monday = 0), sine",
                    "sin(2π·d/7), d = 0 (Monday) … 6 (Sunday)", cyclic),
        FeatureSpec("day_of_week_cos", "time", "1", "day of week (UTC, Monday = 0), cosine",
                    "cos(2π·d/7), d = 0 (Monday) … 6 (Sunday)", cyclic),
        FeatureSpec("day_of_year_sin", "time", "1", "day of year (UTC), sine",
                    "sin(2π·(doy - 1)/days_in_year), days_in_year 365 or 366", cyclic),
        FeatureSpec("day_of_year_cos", "time", "1", "day of year (UTC), cosine",
                    "cos(2π·(doy - 1)/days_in_year), days_in_year 365 or 366", cyclic),
        FeatureSpec("month_of_year", "time", "1", "calendar month (UTC), 1-12",
                    "month of event_timestamp in UTC", cyclic, "categorical"),
        FeatureSpec("season_northern", "time", "1",
                    "northern-hemisphere meteorological season (UTC month): 0 winter DJF, 1 spring MAM, "
                    "2 summer JJA, 3 autumn SON",
                    "(month % 12) // 3; southern-hemisphere sites must shift by 2", cyclic, "categorical"),
        FeatureSpec("is_daytime_utc_flag", "time", "1",
                    "1 when the UTC hour is in [06:00, 18:00), a fixed rule without site time zones",
                    "6 <= UTC hour < 18", cyclic, "flag"),
        FeatureSpec("gap_since_prev_s", "time", "s", "seconds since the sensor's previous reading",
                    "t - t_prev", "NaN for the first reading, or when the previous one is older than 24.5 h"),
    ]


def _rolling_features() -> list[FeatureSpec]:
    specs: list[FeatureSpec] = []
    for window in WINDOWS_NS:
        specs.append(FeatureSpec(
            f"readings_count_{window}", "rolling", "count",
            f"readings of the sensor in the trailing {window} window, whatever they measured",
            f"count of readings with event time in (t - {window}, t]", "1 for the first reading", "count",
        ))
    for parameter in CORE_PARAMETERS:
        for window in WINDOWS_NS:
            stats = list(ROLLING_STATS)
            if window in QUANTILE_WINDOWS:
                stats += QUANTILE_STATS
            for stat in stats:
                label, formula = _STAT_TEXT[stat]
                edge = "NaN with fewer than 2 values" if stat == "std" else "NaN when the window has no value"
                specs.append(FeatureSpec(
                    rolling_name(parameter, stat, window), "rolling", parameter.unit_label,
                    f"{label} of {parameter.column} over (t - {window}, t]", formula, edge,
                ))
            specs.append(FeatureSpec(
                rolling_name(parameter, "count", window), "rolling", "count",
                f"non-missing {parameter.column} values in (t - {window}, t]",
                "count of non-NaN values", "0 when the sensor does not measure it", "count",
            ))
            if window in MISSING_FRACTION_WINDOWS:
                specs.append(FeatureSpec(
                    rolling_name(parameter, "missing_frac", window), "rolling", "1",
                    f"share of the sensor's readings in (t - {window}, t] without {parameter.column}",
                    f"1 - {rolling_name(parameter, 'count', window)} / readings_count_{window}",
                    "never NaN: the current reading is always in the window",
                ))
    return specs


def _trend_and_lag_features() -> list[FeatureSpec]:
    specs: list[FeatureSpec] = []
    half_life_h = EWMA_HALF_LIFE_NS / (60 * NS_PER_MINUTE)
    for parameter in CORE_PARAMETERS:
        unit = parameter.unit_label
        specs += [
            FeatureSpec(trend_name(parameter, "diff_prev"), "trend", unit,
                        f"change of {parameter.column} since the sensor's previous reading",
                        "x_t - x_prev", "NaN when either value is missing or there is no previous reading"),
            FeatureSpec(trend_name(parameter, "rate"), "trend", f"{unit}/h",
                        f"change of {parameter.column} per hour since the previous reading",
                        "(x_t - x_prev) / ((t - t_prev) in hours)", "NaN like the difference"),
            FeatureSpec(trend_name(parameter, "slope"), "trend", f"{unit}/h",
                        f"least-squares slope of {parameter.column} against time over (t - {SLOPE_WINDOW}, t]",
                        "Σ(Δt·Δx) / Σ(Δt²) with Δ from the window means, t in hours",
                        "NaN with fewer than 2 values in the window"),
            FeatureSpec(trend_name(parameter, "ewma"), "trend", unit,
                        f"time-aware exponentially weighted mean of {parameter.column}, half-life "
                        f"{half_life_h:g} h",
                        "m_t = m_prev + α·(x_t - m_prev), α = 1 - 2^(-Δt/half-life), Δt since the "
                        "parameter's previous observation; m = x at the first observation",
                        "NaN until the first value; carried over missing values; NaN when the last "
                        "value is older than 24 h. Depends on all earlier readings (recursive)"),
            FeatureSpec(lag_name(parameter, "prev"), "lag", unit,
                        f"{parameter.column} of the sensor's previous reading", "x_prev",
                        "NaN for the first reading, when the previous one lacks the value or is older "
                        "than 24.5 h"),
        ]
        for lag, (_offset_ns, tolerance_ns) in LAGS_NS.items():
            tolerance_min = tolerance_ns // NS_PER_MINUTE
            specs.append(FeatureSpec(
                lag_name(parameter, lag), "lag", unit,
                f"{parameter.column} {lag} ago: the last reading at or before t - {lag}",
                f"value of the latest reading with t - {lag} - {tolerance_min} min <= time <= t - {lag}",
                f"NaN when no reading lies in that {tolerance_min}-minute tolerance or it lacks the value",
            ))
    return specs


def _domain_features() -> list[FeatureSpec]:
    both = "NaN when an input is missing"
    return [
        FeatureSpec("oxygen_saturation_mg_l", "domain", "mg/L",
                    "dissolved-oxygen concentration at air saturation for the water temperature (fresh water)",
                    "Benson & Krause (1984) / APHA 4500-O: ln C = -139.34411 + 1.575701e5/T - 6.642308e7/T² "
                    "+ 1.243800e10/T³ - 8.621949e11/T⁴, T in K, salinity 0, 1 atm",
                    "NaN when water_temp_c is missing"),
        FeatureSpec("dissolved_oxygen_saturation_pct", "domain", "%",
                    "dissolved oxygen as a percentage of the saturation concentration",
                    "100 · dissolved_oxygen_mg_l / oxygen_saturation_mg_l", both),
        FeatureSpec("dissolved_oxygen_deficit_mg_l", "domain", "mg/L",
                    "oxygen missing to saturation (negative when supersaturated)",
                    "oxygen_saturation_mg_l - dissolved_oxygen_mg_l", both),
        FeatureSpec("unionized_ammonia_fraction", "domain", "1",
                    "share of total ammonia present as toxic un-ionised NH3",
                    "1 / (1 + 10^(pKa - pH)), pKa = 0.09018 + 2729.92/(T + 273.15), Emerson et al. (1975)",
                    "NaN when ph or water_temp_c is missing"),
        FeatureSpec("unionized_ammonia_mg_l", "domain", "mg/L",
                    "un-ionised ammonia in the same nitrogen basis as ammonia_mg_l",
                    "ammonia_mg_l · unionized_ammonia_fraction", both),
        FeatureSpec("ph_x_water_temp_c", "domain", "pH·°C",
                    "pH times water temperature of the same sensor; depth differences need two sensors and "
                    "are left to pond-level views",
                    "ph · water_temp_c", both),
    ]


def _anomaly_features() -> list[FeatureSpec]:
    specs: list[FeatureSpec] = []
    flat_minutes = FLAT_LINE_MIN_SPAN_NS // NS_PER_MINUTE
    for parameter in CORE_PARAMETERS:
        mean = rolling_name(parameter, "mean", ANOMALY_WINDOW)
        std = rolling_name(parameter, "std", ANOMALY_WINDOW)
        median = rolling_name(parameter, "median", ANOMALY_WINDOW)
        specs += [
            FeatureSpec(anomaly_name(parameter, "zscore"), "anomaly", "1",
                        f"z-score of {parameter.column} against its trailing {ANOMALY_WINDOW} window "
                        "(the window includes the current reading)",
                        f"(x_t - {mean}) / {std}", "NaN when the value is missing or the std is NaN or 0"),
            FeatureSpec(anomaly_name(parameter, "robust_zscore"), "anomaly", "1",
                        f"robust (modified) z-score of {parameter.column} over the trailing {ANOMALY_WINDOW}",
                        f"(x_t - {median}) / (1.4826 · MAD), MAD = median |x - {median}| over the window",
                        "NaN when the value is missing or MAD is 0 (common for quantised sensors)"),
            FeatureSpec(anomaly_name(parameter, "spike"), "anomaly", "1",
                        f"1 when {parameter.column} is a spike against the trailing {ANOMALY_WINDOW}",
                        f"|robust z-score| > {SPIKE_ROBUST_Z_THRESHOLD} (Iglewicz & Hoaglin)",
                        "NaN when the robust z-score is NaN", "flag"),
            FeatureSpec(anomaly_name(parameter, "flat_line"), "anomaly", "1",
                        f"1 when {parameter.column} has not changed for at least {FLAT_LINE_MIN_READINGS} "
                        f"readings spanning at least {flat_minutes} min",
                        f"run of consecutive readings equal to x_t ending at t: length >= "
                        f"{FLAT_LINE_MIN_READINGS} and t - t_run_start >= {flat_minutes} min; a reading "
                        "without the value ends the run",
                        "NaN when the value is missing; 0 while history is short", "flag"),
        ]
    for parameter in PARAMETERS:
        limit = HEALTH_LIMITS_BY_COLUMN[parameter.column]
        specs.append(FeatureSpec(
            anomaly_name(parameter, "out_of_range"), "anomaly", "1",
            f"1 when {parameter.column} is outside its tolerable range [{limit.tol_lo:g}, {limit.tol_hi:g}]",
            f"x < {limit.tol_lo:g} or x > {limit.tol_hi:g} (transforms.health.HEALTH_LIMITS)",
            "NaN when the value is missing", "flag",
        ))
    return specs


def _health_features() -> list[FeatureSpec]:
    specs = [FeatureSpec(
        "health_score", "health", "points 0-100", "weighted water-quality health score of the reading",
        "100 · Σ(w·s)/Σ(w) over present parameters (transforms.health)", "NaN when no parameter is present",
    )]
    for parameter in PARAMETERS:
        limit = HEALTH_LIMITS_BY_COLUMN[parameter.column]
        specs.append(FeatureSpec(
            subscore_name(parameter), "health", "0-1", f"health sub-score of {parameter.column}",
            f"1 in [{limit.ideal_lo:g}, {limit.ideal_hi:g}], linear to 0 at [{limit.tol_lo:g}, "
            f"{limit.tol_hi:g}], 0 outside; weight {limit.weight:g}; source: {limit.source}",
            "NaN when the value is missing",
        ))
    return specs


FEATURES: tuple[FeatureSpec, ...] = tuple(
    _time_features()
    + _rolling_features()
    + _trend_and_lag_features()
    + _domain_features()
    + _anomaly_features()
    + _health_features()
)
FEATURE_NAMES: tuple[str, ...] = tuple(spec.name for spec in FEATURES)
FEATURES_BY_NAME: dict[str, FeatureSpec] = {spec.name: spec for spec in FEATURES}

if len(FEATURES_BY_NAME) != len(FEATURES):
    raise RuntimeError("transforms.catalog defines a feature name twice")


def main(argv: list[str] | None = None) -> int:
    """Print the generated feature docs (``--markdown``) or the SQL migration (``--sql``)."""
    from transforms.render import render_markdown, render_sql

    parser = argparse.ArgumentParser(prog="python -m transforms.catalog", description=main.__doc__)
    output = parser.add_mutually_exclusive_group(required=True)
    output.add_argument("--markdown", action="store_true", help="write docs/FEATURES.md content to stdout")
    output.add_argument("--sql", action="store_true", help="write sql/020_sensor_features.sql content to stdout")
    args = parser.parse_args(argv)
    sys.stdout.write(render_markdown() if args.markdown else render_sql())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
