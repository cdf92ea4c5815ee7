"""Batch feature computation over a DataFrame of readings (backfill and training sets)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from aquafs.errors import TerminalError
from transforms.catalog import FEATURE_NAMES
from transforms.kernel import FEATURE_COUNT, advance_ewma, compute_row, new_ewma_state
from transforms.parameters import MAX_HISTORY_READINGS, PARAMETER_COLUMNS, RETENTION_NS

logger = logging.getLogger(__name__)

KEY_COLUMNS: tuple[str, ...] = ("site_id", "pond_id", "sensor_id", "event_timestamp")


class DuplicateReadingsError(TerminalError):
    """The readings contain one (sensor_id, event_timestamp) more than once."""


def compute_features(readings: pd.DataFrame) -> pd.DataFrame:
    """Compute every catalogue feature for every reading.

    Rows are sorted by (sensor_id, event_timestamp) with a stable sort. The features of a row
    use only that reading and earlier readings of its sensor, so they equal what
    :class:`transforms.stream.StreamFeatureEngine` returns for the same rows in time order. The EWMA features start from the first row
    of each sensor in ``readings``, so a backfill should start with the sensor's first reading,
    or at least one day of it earlier than the rows it keeps.

    NOTE: the loop runs the kernel once per row in Python: the 9,623-row KU-MWQ 30 cm file took
    about 7 s on one core in a test run. Split long backfills by sensor across processes.

    Args:
        readings: the wide reading contract: ``site_id``, ``pond_id``, ``sensor_id``,
            ``event_timestamp`` (timezone-aware) and any of the parameter columns. Absent
            parameter columns count as not measured; None counts as NaN.

    Returns:
        One row per input row, sorted by (sensor_id, event_timestamp) with a fresh index:
        the key columns (event_timestamp in UTC) followed by ``FEATURE_NAMES``, all float64.

    Raises:
        TerminalError: a key column is missing or event_timestamp is not timezone-aware.
        DuplicateReadingsError: a (sensor_id, event_timestamp) pair occurs more than once.
    """
    frame = _prepare_or_raise(readings)
    times_ns = frame["event_timestamp"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    values = np.ascontiguousarray(frame[list(PARAMETER_COLUMNS)].to_numpy(dtype=np.float64))
    features = np.empty((len(frame), FEATURE_COUNT))

    sensor_codes = pd.factorize(frame["sensor_id"], sort=False)[0]
    boundaries = np.flatnonzero(np.diff(sensor_codes)) + 1
    for start, stop in zip(np.r_[0, boundaries], np.r_[boundaries, len(frame)], strict=True):
        _compute_sensor(times_ns[start:stop], values[start:stop], features[start:stop])

    logger.debug("computed %d features for %d readings", FEATURE_COUNT, len(frame))
    keys = frame[list(KEY_COLUMNS)].reset_index(drop=True)
    return pd.concat([keys, pd.DataFrame(features, columns=list(FEATURE_NAMES))], axis=1)


def _compute_sensor(times_ns: np.ndarray, values: np.ndarray, features: np.ndarray) -> None:
    ewma, observed_ns = new_ewma_state()
    history_starts = np.searchsorted(times_ns, times_ns - RETENTION_NS, side="left")
    for i in range(len(times_ns)):
        first = max(int(history_starts[i]), i + 1 - MAX_HISTORY_READINGS)
        reported = advance_ewma(ewma, observed_ns, values[i, :4], int(times_ns[i]))
        compute_row(times_ns[first : i + 1], values[first : i + 1], reported, features[i])


def _prepare_or_raise(readings: pd.DataFrame) -> pd.DataFrame:
    missing = [column for column in KEY_COLUMNS if column not in readings.columns]
    if missing:
        raise TerminalError(f"readings lack the key columns {missing}; expected {list(KEY_COLUMNS)}")
    timestamps = readings["event_timestamp"]
    if not isinstance(timestamps.dtype, pd.DatetimeTZDtype):
        message = (
            f"readings.event_timestamp must be timezone-aware datetimes, got dtype {timestamps.dtype}; "
            "convert with pd.to_datetime(..., utc=True) if the values are UTC"
        )
        raise TerminalError(message)

    frame = readings[[c for c in KEY_COLUMNS if c != "event_timestamp"]].copy()
    frame["event_timestamp"] = timestamps.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    for column in PARAMETER_COLUMNS:
        if column in readings.columns:
            frame[column] = pd.to_numeric(readings[column], errors="coerce").astype(np.float64)
        else:
            frame[column] = np.nan
    frame = frame.sort_values(["sensor_id", "event_timestamp"], kind="mergesort")

    duplicated = frame.duplicated(["sensor_id", "event_timestamp"], keep=False)
    if duplicated.any():
        examples = frame.loc[duplicated, ["sensor_id", "event_timestamp"]].drop_duplicates().head(5)
        pairs = ", ".join(f"({row.sensor_id!r}, {row.event_timestamp.isoformat()})" for row in examples.itertuples())
        message = (
            f"readings contain {int(duplicated.sum())} rows that share a (sensor_id, event_timestamp), "
            f"e.g. {pairs}; deduplicate them before computing features (the stores keep one row per key)"
        )
        raise DuplicateReadingsError(message)
    return frame
