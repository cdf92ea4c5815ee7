"""Great Expectations (1.x) suites for raw readings, engineered features and training sets.

Each builder returns a fresh :class:`great_expectations.ExpectationSuite` that is not yet attached
to a context; :mod:`quality.runner` attaches and runs them. Ranges carry their unit and source in
each expectation's ``meta`` so the Data Docs show why a bound is what it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import great_expectations as gx
from great_expectations import expectations as gxe

from ingestion.validation import FUTURE_TOLERANCE, MEASUREMENT_FIELDS, PLAUSIBLE_RANGES
from transforms.catalog import FEATURES

RAW_READINGS_SUITE: Final = "water_readings_raw"
TRAINING_SET_SUITE: Final = "training_set"
FEATURE_FAMILIES: Final = ("time", "rolling", "trend", "lag", "domain", "anomaly", "health")

KEY_COLUMNS: Final = ("site_id", "pond_id", "sensor_id", "event_timestamp")
# site/pond/position, each a lowercase slug, as ingestion.validation accepts them.
SENSOR_ID_PATTERN: Final = r"^[a-z0-9][a-z0-9-]*/[a-z0-9][a-z0-9-]*/[a-z0-9][a-z0-9-]*$"
# Loggers whose real-time clock lost power restart at their epoch (1970 or 2000); no reading in this
# project predates 2019, so anything before it is a clock fault, not history.
EARLIEST_PLAUSIBLE_TIMESTAMP: Final = datetime.fromisoformat("2019-01-01T00:00:00+00:00")
# Name of the expectation parameter that contains the latest accepted event time in the suite built
# without a fixed ``now``; pass it to each run as ``now + FUTURE_TOLERANCE``.
LATEST_EVENT_TIMESTAMP_PARAMETER: Final = "latest_event_timestamp"
# Every sensor of both datasets measures water temperature, so a batch where more than 5 % of rows
# lack it points at a broken probe or a mapping bug rather than at a sensor without the parameter.
MAX_WATER_TEMP_NULL_FRACTION: Final = 0.05

_UNITS: Final = {
    "water_temp_c": "°C",
    "ph": "pH",
    "turbidity_ntu": "NTU",
    "dissolved_oxygen_mg_l": "mg/L",
    "ammonia_mg_l": "mg/L (total ammonia nitrogen)",
    "nitrate_mg_l": "mg/L",
}


def raw_readings_suite(now: datetime | None = None) -> gx.ExpectationSuite:
    """Build the suite of ``water_readings`` rows as checked at ``now`` (timezone-aware).

    With ``now`` None the latest accepted event time is the expectation parameter
    :data:`LATEST_EVENT_TIMESTAMP_PARAMETER`, so one suite serves every run (see
    :func:`raw_readings_parameters`). Row-level expectations (every one with ``mostly`` 1.0) name the rows that break them, so a
    batch can dead-letter exactly those rows; the water-temperature null rate is a batch statistic.
    """
    suite = gx.ExpectationSuite(name=RAW_READINGS_SUITE)
    for column in (*KEY_COLUMNS, "available_at", *MEASUREMENT_FIELDS):
        suite.add_expectation(gxe.ExpectColumnToExist(column=column))
    for column in KEY_COLUMNS:
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(gxe.ExpectColumnValuesToMatchRegex(column="sensor_id", regex=SENSOR_ID_PATTERN))
    suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=["sensor_id", "event_timestamp"]))
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="event_timestamp",
            min_value=EARLIEST_PLAUSIBLE_TIMESTAMP,
            max_value=(
                {"$PARAMETER": LATEST_EVENT_TIMESTAMP_PARAMETER} if now is None else now + FUTURE_TOLERANCE
            ),
            meta={"notes": f"not in the future beyond {FUTURE_TOLERANCE} of clock skew; not before 2019 (clock reset)"},
        )
    )
    for column in MEASUREMENT_FIELDS:
        low, high = PLAUSIBLE_RANGES[column]
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=["float64", "Float64", "float32", "int64"])
        )
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=low,
                max_value=high,
                meta={
                    "unit": _UNITS[column],
                    "source": "ingestion.validation.PLAUSIBLE_RANGES (the reason for each bound is noted there)",
                },
            )
        )
    suite.add_expectation(
        gxe.ExpectColumnValuesToNotBeNull(
            column="water_temp_c",
            mostly=1.0 - MAX_WATER_TEMP_NULL_FRACTION,
            meta={"notes": "every sensor of both datasets measures temperature"},
        )
    )
    return suite


def raw_readings_parameters(now: datetime) -> dict[str, datetime]:
    """Return the expectation parameters of the suite built by ``raw_readings_suite()`` at ``now``."""
    return {LATEST_EVENT_TIMESTAMP_PARAMETER: now + FUTURE_TOLERANCE}


def feature_family_suite(family: str) -> gx.ExpectationSuite:
    """Build the suite of one ``sensor_<family>_features`` view's rows in ``sensor_features``.

    Bounds come from each feature's definition: sine and cosine encodings in [-1, 1], flags in
    {0, 1}, fractions and sub-scores in [0, 1], the health score in [0, 100], counts, standard
    deviations and gaps non-negative.
    """
    if family not in FEATURE_FAMILIES:
        raise ValueError(f"unknown feature family {family!r}; expected one of {FEATURE_FAMILIES}")
    suite = gx.ExpectationSuite(name=f"sensor_{family}_features")
    for column in KEY_COLUMNS:
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=["sensor_id", "event_timestamp"]))
    suite.add_expectation(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="available_at",
            column_B="event_timestamp",
            or_equal=True,
            meta={"notes": "a feature cannot become readable before the reading it is computed from"},
        )
    )
    for spec in FEATURES:
        if spec.family != family:
            continue
        suite.add_expectation(gxe.ExpectColumnToExist(column=spec.name))
        for expectation in _bounds_of(spec.name, spec.unit):
            suite.add_expectation(expectation)
    if family == "time":
        # Calendar encodings depend only on the timestamp, so they are never missing.
        for spec in FEATURES:
            if spec.family == "time" and spec.name != "gap_since_prev_s":
                suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=spec.name))
    return suite


def training_set_suite(min_rows: int = 100) -> gx.ExpectationSuite:
    """Build the suite of a labelled training frame (one row per entity row, with ``label``).

    The split check runs on a one-row summary frame (see :func:`split_summary_suite`).
    """
    suite = gx.ExpectationSuite(name=TRAINING_SET_SUITE)
    suite.add_expectation(gxe.ExpectTableRowCountToBeBetween(min_value=min_rows))
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="label"))
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="label",
            min_value=PLAUSIBLE_RANGES["water_temp_c"][0],
            max_value=PLAUSIBLE_RANGES["water_temp_c"][1],
            meta={"unit": "°C", "source": "ingestion.validation.PLAUSIBLE_RANGES"},
        )
    )
    suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=["sensor_id", "event_timestamp"]))
    suite.add_expectation(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="label_timestamp",
            column_B="event_timestamp",
            meta={"notes": "the label lies after the features' time, or it leaks into them"},
        )
    )
    # Half of the rows without a current reading means the features are mostly stale or absent.
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="water_temp_c", mostly=0.5))
    return suite


def split_summary_suite() -> gx.ExpectationSuite:
    """Build the suite of the one-row split summary: test features start after the last train label."""
    suite = gx.ExpectationSuite(name=f"{TRAINING_SET_SUITE}_split")
    suite.add_expectation(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="test_min_event_timestamp",
            column_B="train_max_label_timestamp",
            meta={"notes": "no train label may be observed after the first test feature time"},
        )
    )
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="train_rows", min_value=1))
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="test_rows", min_value=1))
    return suite


def _bounds_of(name: str, unit: str) -> list[gxe.Expectation]:
    if name.endswith(("_sin", "_cos")):
        return [gxe.ExpectColumnValuesToBeBetween(column=name, min_value=-1.0, max_value=1.0)]
    if name.endswith("_flag"):
        return [gxe.ExpectColumnValuesToBeInSet(column=name, value_set=[0.0, 1.0])]
    if name == "season_northern":
        return [gxe.ExpectColumnValuesToBeInSet(column=name, value_set=[0.0, 1.0, 2.0, 3.0])]
    if name == "health_score":
        return [gxe.ExpectColumnValuesToBeBetween(column=name, min_value=0.0, max_value=100.0, meta={"unit": unit})]
    if name.endswith(("_subscore", "_missing_frac_1h", "_missing_frac_24h", "_fraction")):
        return [gxe.ExpectColumnValuesToBeBetween(column=name, min_value=0.0, max_value=1.0)]
    if name == "month_of_year":
        return [gxe.ExpectColumnValuesToBeBetween(column=name, min_value=1.0, max_value=12.0)]
    if "_count_" in name or name.startswith("readings_count") or "_std_" in name or name == "gap_since_prev_s":
        return [gxe.ExpectColumnValuesToBeBetween(column=name, min_value=0.0)]
    return []

