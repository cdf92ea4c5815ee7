"""Per-reading feature kernel shared by the batch backfill and the stream engine.

Both paths hand :func:`compute_row` the same two arrays for a reading: the event times and
parameter values of the sensor's retained history, ending with the reading itself. The
history is every reading of the sensor with event time >= t - ``RETENTION_NS``, at most the
latest ``MAX_HISTORY_READINGS``. Because the arrays are equal, the features are equal; only the
EWMA is recursive, and both paths advance it with :func:`advance_ewma`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from transforms import catalog as cat
from transforms.domain import oxygen_saturation_mg_l, unionized_ammonia_fraction
from transforms.health import HEALTH_LIMITS_BY_COLUMN, health_score, health_subscore
from transforms.parameters import (
    ANOMALY_WINDOW,
    CORE_PARAMETER_COUNT,
    CORE_PARAMETERS,
    EWMA_HALF_LIFE_NS,
    EWMA_STALE_AFTER_NS,
    FLAT_LINE_MIN_READINGS,
    FLAT_LINE_MIN_SPAN_NS,
    LAGS_NS,
    MAD_TO_SIGMA,
    MISSING_FRACTION_WINDOWS,
    NS_PER_HOUR,
    NS_PER_SECOND,
    PARAMETERS,
    QUANTILE_WINDOWS,
    SLOPE_WINDOW,
    SPIKE_ROBUST_Z_THRESHOLD,
    WINDOWS_NS,
)

TFloatArray = npt.NDArray[np.float64]
TTimeArray = npt.NDArray[np.int64]

FEATURE_COUNT = len(cat.FEATURE_NAMES)
_INDEX = {name: position for position, name in enumerate(cat.FEATURE_NAMES)}
_CORE_COLUMNS = np.arange(CORE_PARAMETER_COUNT)
_NS_PER_DAY = 24 * NS_PER_HOUR
_COLUMN = {parameter.column: position for position, parameter in enumerate(PARAMETERS)}


def _positions(names: list[str]) -> npt.NDArray[np.intp]:
    return np.array([_INDEX[name] for name in names], dtype=np.intp)


def _rolling_positions(stat: str, window: str) -> npt.NDArray[np.intp]:
    return _positions([cat.rolling_name(p, stat, window) for p in CORE_PARAMETERS])


_ROLLING = {
    (stat, window): _rolling_positions(stat, window)
    for window in WINDOWS_NS
    for stat in (*cat.ROLLING_STATS, *cat.QUANTILE_STATS, "count", "missing_frac")
    if (stat not in cat.QUANTILE_STATS or window in QUANTILE_WINDOWS)
    and (stat != "missing_frac" or window in MISSING_FRACTION_WINDOWS)
}
_TREND = {kind: _positions([cat.trend_name(p, kind) for p in CORE_PARAMETERS])
          for kind in ("diff_prev", "rate", "slope", "ewma")}
_LAG = {lag: _positions([cat.lag_name(p, lag) for p in CORE_PARAMETERS]) for lag in ("prev", *LAGS_NS)}
_ANOMALY = {kind: _positions([cat.anomaly_name(p, kind) for p in CORE_PARAMETERS])
            for kind in ("zscore", "robust_zscore", "spike", "flat_line")}
_OUT_OF_RANGE = _positions([cat.anomaly_name(p, "out_of_range") for p in PARAMETERS])
_SUBSCORE = _positions([cat.subscore_name(p) for p in PARAMETERS])
_QUANTILES = {"median": 0.5, "p10": 0.1, "p90": 0.9}


def new_ewma_state() -> tuple[TFloatArray, TTimeArray]:
    """Return the EWMA state of a sensor before its first reading: no value, no observation time."""
    return np.full(CORE_PARAMETER_COUNT, np.nan), np.zeros(CORE_PARAMETER_COUNT, dtype=np.int64)


def advance_ewma(
    ewma: TFloatArray, observed_ns: TTimeArray, values: TFloatArray, time_ns: int
) -> TFloatArray:
    """Fold one reading into the per-parameter EWMA state in place and return the reported EWMA.

    ``alpha = 1 - 2^(-gap / half-life)`` with the gap since the parameter's previous
    observation, so irregular sampling weights old values by their age, not their count. A
    missing value leaves the state unchanged. The reported value is NaN before the first
    observation and once the last one is older than ``EWMA_STALE_AFTER_NS``.
    """
    reported = np.full(CORE_PARAMETER_COUNT, np.nan)
    for k in range(CORE_PARAMETER_COUNT):
        value = float(values[k])
        if not math.isnan(value):
            if math.isnan(ewma[k]):
                ewma[k] = value
            else:
                gap_ns = time_ns - int(observed_ns[k])
                alpha = 1.0 - 2.0 ** (-(gap_ns / EWMA_HALF_LIFE_NS))
                ewma[k] = ewma[k] + alpha * (value - ewma[k])
            observed_ns[k] = time_ns
        if not math.isnan(ewma[k]) and time_ns - int(observed_ns[k]) <= EWMA_STALE_AFTER_NS:
            reported[k] = ewma[k]
    return reported


def compute_row(times_ns: TTimeArray, values: TFloatArray, ewma: TFloatArray, out: TFloatArray) -> None:
    """Write every catalogue feature of the last reading in ``times_ns``/``values`` into ``out``.

    Args:
        times_ns: event times in UTC nanoseconds, strictly increasing, last = current reading.
        values: shape (len(times_ns), 6), parameter values in ``PARAMETERS`` order, NaN = missing.
        ewma: reported EWMA of the current reading, from :func:`advance_ewma`.
        out: float64 array of ``FEATURE_COUNT`` slots in ``catalog.FEATURE_NAMES`` order.
    """
    time_ns = int(times_ns[-1])
    current = values[-1]
    has_prev = len(times_ns) >= 2

    _write_time_features(time_ns, out)
    out[_INDEX["gap_since_prev_s"]] = (time_ns - int(times_ns[-2])) / NS_PER_SECOND if has_prev else math.nan

    core = values[:, :CORE_PARAMETER_COUNT]
    for window, width_ns in WINDOWS_NS.items():
        start = int(np.searchsorted(times_ns, time_ns - width_ns, side="right"))
        _write_window_features(window, times_ns[start:], core[start:], current, out)

    _write_trend_and_lag_features(times_ns, core, ewma, out)
    _write_flat_line_flags(times_ns, core, out)
    _write_domain_features(current, out)
    _write_health_features(current, out)


def _write_time_features(time_ns: int, out: TFloatArray) -> None:
    moment = datetime.fromtimestamp(time_ns // NS_PER_SECOND, tz=UTC)
    hour = (time_ns % _NS_PER_DAY) / NS_PER_HOUR
    day_of_year = moment.timetuple().tm_yday
    days_in_year = 366 if _is_leap_year(moment.year) else 365
    hour_angle = 2.0 * math.pi * hour / 24.0
    week_angle = 2.0 * math.pi * moment.weekday() / 7.0
    year_angle = 2.0 * math.pi * (day_of_year - 1) / days_in_year

    out[_INDEX["event_epoch_s"]] = time_ns / NS_PER_SECOND
    out[_INDEX["hour_of_day_sin"]] = math.sin(hour_angle)
    out[_INDEX["hour_of_day_cos"]] = math.cos(hour_angle)
    out[_INDEX["day_of_week_sin"]] = math.sin(week_angle)
    out[_INDEX["day_of_week_cos"]] = math.cos(week_angle)
    out[_INDEX["day_of_year_sin"]] = math.sin(year_angle)
    out[_INDEX["day_of_year_cos"]] = math.cos(year_angle)
    out[_INDEX["month_of_year"]] = moment.month
    out[_INDEX["season_northern"]] = (moment.month % 12) // 3
    out[_INDEX["is_daytime_utc_flag"]] = 1.0 if 6.0 <= hour < 18.0 else 0.0


def _is_leap_year(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _write_window_features(
    window: str, times_ns: TTimeArray, window_values: TFloatArray, current: TFloatArray, out: TFloatArray
) -> None:
    readings = window_values.shape[0]
    present = ~np.isnan(window_values)
    count = present.sum(axis=0)

    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(present, window_values, 0.0).sum(axis=0) / count
        deviation = np.where(present, window_values - mean, 0.0)
        variance = (deviation * deviation).sum(axis=0) / (count - 1)
    minimum = np.fmin.reduce(window_values, axis=0)
    maximum = np.fmax.reduce(window_values, axis=0)
    # Equal values give exactly 0, not rounding noise, so z-scores of flat signals are NaN in
    # both paths instead of huge numbers of either sign.
    std = np.where(count >= 2, np.where(minimum == maximum, 0.0, np.sqrt(np.maximum(variance, 0.0))), np.nan)

    out[_INDEX[f"readings_count_{window}"]] = readings
    out[_ROLLING["mean", window]] = mean
    out[_ROLLING["std", window]] = std
    out[_ROLLING["min", window]] = minimum
    out[_ROLLING["max", window]] = maximum
    out[_ROLLING["count", window]] = count
    if window in MISSING_FRACTION_WINDOWS:
        out[_ROLLING["missing_frac", window]] = 1.0 - count / readings

    median = None
    if window in QUANTILE_WINDOWS:
        ordered = np.sort(window_values, axis=0)
        for stat, q in _QUANTILES.items():
            quantile = _sorted_quantile(ordered, count, q)
            out[_ROLLING[stat, window]] = quantile
            if stat == "median":
                median = quantile

    if window == SLOPE_WINDOW:
        out[_TREND["slope"]] = _slopes_per_hour(times_ns, window_values, present, count, mean)

    if window == ANOMALY_WINDOW and median is not None:
        _write_anomaly_scores(window_values, count, current[:CORE_PARAMETER_COUNT], mean, std, median, out)


def _sorted_quantile(ordered: TFloatArray, count: npt.NDArray[np.int64], q: float) -> TFloatArray:
    # Linear interpolation between order statistics (numpy's default "linear" method); NaNs
    # sort last, so the first `count` rows of each column are its values.
    position = q * (count - 1)
    lower = np.maximum(np.floor(position).astype(np.intp), 0)
    upper = np.minimum(lower + 1, np.maximum(count - 1, 0))
    below = ordered[lower, _CORE_COLUMNS]
    above = ordered[upper, _CORE_COLUMNS]
    result = below + (above - below) * (position - lower)
    return np.where(count > 0, result, np.nan)


def _slopes_per_hour(
    times_ns: TTimeArray, window_values: TFloatArray, present: npt.NDArray[np.bool_],
    count: npt.NDArray[np.int64], mean: TFloatArray,
) -> TFloatArray:
    hours = ((times_ns - times_ns[-1]) / NS_PER_HOUR)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_hours = np.where(present, hours, 0.0).sum(axis=0) / count
        hours_deviation = np.where(present, hours - mean_hours, 0.0)
        value_deviation = np.where(present, window_values - mean, 0.0)
        slope = (hours_deviation * value_deviation).sum(axis=0) / (hours_deviation * hours_deviation).sum(axis=0)
    return np.where(count >= 2, slope, np.nan)


def _write_anomaly_scores(
    window_values: TFloatArray, count: npt.NDArray[np.int64], current: TFloatArray,
    mean: TFloatArray, std: TFloatArray, median: TFloatArray, out: TFloatArray,
) -> None:
    absolute_deviation = np.sort(np.abs(window_values - median), axis=0)
    mad = _sorted_quantile(absolute_deviation, count, 0.5)
    with np.errstate(invalid="ignore", divide="ignore"):
        zscore = np.where(std > 0, (current - mean) / std, np.nan)
        robust = np.where(mad > 0, (current - median) / (MAD_TO_SIGMA * mad), np.nan)
    out[_ANOMALY["zscore"]] = zscore
    out[_ANOMALY["robust_zscore"]] = robust
    out[_ANOMALY["spike"]] = np.where(np.isnan(robust), np.nan, np.abs(robust) > SPIKE_ROBUST_Z_THRESHOLD)


def _write_trend_and_lag_features(
    times_ns: TTimeArray, core: TFloatArray, ewma: TFloatArray, out: TFloatArray
) -> None:
    time_ns = int(times_ns[-1])
    current = core[-1]
    if len(times_ns) >= 2:
        previous = core[-2]
        gap_hours = (time_ns - int(times_ns[-2])) / NS_PER_HOUR
        out[_LAG["prev"]] = previous
        out[_TREND["diff_prev"]] = current - previous
        out[_TREND["rate"]] = (current - previous) / gap_hours
    else:
        out[_LAG["prev"]] = np.nan
        out[_TREND["diff_prev"]] = np.nan
        out[_TREND["rate"]] = np.nan
    out[_TREND["ewma"]] = ewma

    for lag, (offset_ns, tolerance_ns) in LAGS_NS.items():
        target_ns = time_ns - offset_ns
        position = int(np.searchsorted(times_ns, target_ns, side="right")) - 1
        if position >= 0 and int(times_ns[position]) >= target_ns - tolerance_ns:
            out[_LAG[lag]] = core[position]
        else:
            out[_LAG[lag]] = np.nan


def _write_flat_line_flags(times_ns: TTimeArray, core: TFloatArray, out: TFloatArray) -> None:
    time_ns = int(times_ns[-1])
    flags = np.full(CORE_PARAMETER_COUNT, np.nan)
    for k in range(CORE_PARAMETER_COUNT):
        value = core[-1, k]
        if math.isnan(value):
            continue
        # NaN != value, so a reading without the parameter ends the run as a change would.
        changed = np.flatnonzero(core[:, k] != value)
        run_start = int(changed[-1]) + 1 if changed.size else 0
        run_length = len(times_ns) - run_start
        run_span_ns = time_ns - int(times_ns[run_start])
        flags[k] = float(run_length >= FLAT_LINE_MIN_READINGS and run_span_ns >= FLAT_LINE_MIN_SPAN_NS)
    out[_ANOMALY["flat_line"]] = flags


def _write_domain_features(current: TFloatArray, out: TFloatArray) -> None:
    temperature = float(current[_COLUMN["water_temp_c"]])
    ph = float(current[_COLUMN["ph"]])
    oxygen = float(current[_COLUMN["dissolved_oxygen_mg_l"]])
    ammonia = float(current[_COLUMN["ammonia_mg_l"]])

    saturation = float(oxygen_saturation_mg_l(temperature))
    fraction = float(unionized_ammonia_fraction(ph, temperature))
    out[_INDEX["oxygen_saturation_mg_l"]] = saturation
    out[_INDEX["dissolved_oxygen_saturation_pct"]] = 100.0 * oxygen / saturation
    out[_INDEX["dissolved_oxygen_deficit_mg_l"]] = saturation - oxygen
    out[_INDEX["unionized_ammonia_fraction"]] = fraction
    out[_INDEX["unionized_ammonia_mg_l"]] = ammonia * fraction
    out[_INDEX["ph_x_water_temp_c"]] = ph * temperature


def _write_health_features(current: TFloatArray, out: TFloatArray) -> None:
    values = {parameter.column: float(current[k]) for k, parameter in enumerate(PARAMETERS)}
    for k, parameter in enumerate(PARAMETERS):
        limit = HEALTH_LIMITS_BY_COLUMN[parameter.column]
        value = values[parameter.column]
        out[_SUBSCORE[k]] = health_subscore(value, limit)
        out[_OUT_OF_RANGE[k]] = math.nan if math.isnan(value) else float(value < limit.tol_lo or value > limit.tol_hi)
    out[_INDEX["health_score"]] = health_score(values)
