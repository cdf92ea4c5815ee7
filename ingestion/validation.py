"""Validation of one sensor reading, shared by the CSV history loader and the Kafka ingester.

API (kept small and stable):

- ``validate_reading(record, *, now) -> Reading`` checks a flat mapping with the keys
  ``site_id``, ``pond_id``, ``sensor_id``, ``event_timestamp`` and any of the measurement columns
  in :data:`MEASUREMENT_FIELDS` (plus an optional ``source``). Other keys are ignored.
- :class:`Reading` is the frozen result: ids, a UTC ``event_timestamp`` and float measurements
  (``None`` where not measured). Writers add ``available_at`` themselves, because the loader and the
  ingester define it differently (see docs/ARCHITECTURE.md).
- Failures raise :class:`aquafs.errors.InvalidReadingError` with ``reason`` from :data:`REASONS`.

Rules:

- The whole reading is rejected with the first failing check, in this order: required ids, id
  form, timestamp, then each measurement in the order of :data:`MEASUREMENT_FIELDS`. A reading
  with one impossible value is not stored with that value blanked, because the other values of a
  faulty record are suspect too and a half-blank row would look like a sensor that measures less.
- Numbers must be ``int`` or ``float`` (``bool`` is not a number, and a numeric string is
  ``wrong_type``: a JSON producer that quotes numbers has a bug worth seeing).
- ``event_timestamp`` is an aware ``datetime`` or an ISO 8601 string with an offset.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aquafs.errors import InvalidReadingError

__all__ = [
    "FAULT_CODES",
    "FUTURE_TOLERANCE",
    "MEASUREMENT_FIELDS",
    "PLAUSIBLE_RANGES",
    "REASONS",
    "Reading",
    "validate_reading",
]

MEASUREMENT_FIELDS: Final = (
    "water_temp_c",
    "ph",
    "turbidity_ntu",
    "dissolved_oxygen_mg_l",
    "ammonia_mg_l",
    "nitrate_mg_l",
)

REASON_MISSING_FIELD: Final = "missing_field"
REASON_WRONG_TYPE: Final = "wrong_type"
REASON_NOT_FINITE: Final = "not_finite"
REASON_OUT_OF_RANGE: Final = "out_of_range"
REASON_SENSOR_FAULT: Final = "sensor_fault"
REASON_TIMESTAMP_UNPARSEABLE: Final = "timestamp_unparseable"
REASON_TIMESTAMP_NAIVE: Final = "timestamp_naive"
REASON_TIMESTAMP_IN_FUTURE: Final = "timestamp_in_future"
REASON_UNKNOWN_ENTITY: Final = "unknown_entity"
REASON_NO_MEASUREMENT: Final = "no_measurement"

REASONS: Final = frozenset(
    {
        REASON_MISSING_FIELD,
        REASON_WRONG_TYPE,
        REASON_NOT_FINITE,
        REASON_OUT_OF_RANGE,
        REASON_SENSOR_FAULT,
        REASON_TIMESTAMP_UNPARSEABLE,
        REASON_TIMESTAMP_NAIVE,
        REASON_TIMESTAMP_IN_FUTURE,
        REASON_UNKNOWN_ENTITY,
        REASON_NO_MEASUREMENT,
    }
)
"""Reason codes that :func:`validate_reading` raises. Parsers of the sources add their own
(``timestamp_without_time``, ``duplicate``)."""

PLAUSIBLE_RANGES: Final[Mapping[str, tuple[float, float]]] = {
    # Liquid water in a pond: slightly supercooled brine to the hottest tropical ponds, °C.
    "water_temp_c": (-5.0, 45.0),
    # The pH scale as glass electrodes report it.
    "ph": (0.0, 14.0),
    # NTU. 4,000 NTU is an estimate of the top of common turbidimeter ranges, not the spec of the
    # sensors here. Readings above it are taken as saturation or faults.
    "turbidity_ntu": (0.0, 4000.0),
    # mg/L. Saturation in fresh water is 14.6 mg/L at 0 °C. Algal blooms supersaturate ponds by day,
    # and 25 mg/L is an estimate that leaves room for that.
    "dissolved_oxygen_mg_l": (0.0, 25.0),
    # mg/L total ammonia nitrogen. Fish die above a few mg/L, so 100 mg/L is far beyond any pond
    # that still contains fish (an estimate with a wide margin).
    "ammonia_mg_l": (0.0, 100.0),
    # mg/L nitrate. Recirculating and aquaponic systems run up to a few hundred mg/L.
    "nitrate_mg_l": (0.0, 1000.0),
}
"""Inclusive plausible range per measurement, in the column's unit."""

FAULT_CODES: Final[Mapping[str, Mapping[float, str]]] = {
    "water_temp_c": {
        # DS18B20 probes: the DallasTemperature library returns -127 °C for a disconnected probe,
        # and the sensor reports +85 °C after a power-on reset before its first conversion.
        -127.0: "DS18B20 disconnected-probe code -127 °C",
        85.0: "DS18B20 power-on reset value 85 °C",
    },
    "nitrate_mg_l": {
        # 4095 = 2^12 - 1, the top of a saturated 12-bit ADC.
        4095.0: "saturated 12-bit ADC value 4095",
    },
}
"""Exact values that sensors emit as error codes; reported as ``sensor_fault``."""

FUTURE_TOLERANCE: Final = timedelta(minutes=5)
"""Clock skew allowed between a sensor and the validating host before a reading counts as future."""

# Lowercase slug: letters, digits and inner hyphens, as in ku-mwq, pond-11, depth-30cm.
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


@dataclass(frozen=True)
class Reading:
    """A validated reading of one sensor at one time, in the units of the column names."""

    site_id: str
    pond_id: str
    sensor_id: str
    """``site_id/pond_id/position``."""
    event_timestamp: datetime
    """When the sensor measured, converted to UTC."""
    water_temp_c: float | None = None
    ph: float | None = None
    turbidity_ntu: float | None = None
    dissolved_oxygen_mg_l: float | None = None
    ammonia_mg_l: float | None = None
    nitrate_mg_l: float | None = None
    source: str | None = None
    """File, topic or device the reading came from, for audit."""

    def measurements(self) -> dict[str, float | None]:
        """Return the six measurement columns by name."""
        return {name: getattr(self, name) for name in MEASUREMENT_FIELDS}


def validate_reading(record: Mapping[str, Any], *, now: datetime) -> Reading:
    """Check one reading and return it in canonical form.

    Args:
        record: flat mapping of the reading's fields (see the module docstring).
        now: the current time, aware; readings later than ``now + FUTURE_TOLERANCE`` are rejected.

    Raises:
        InvalidReadingError: the first failed check, with a reason from :data:`REASONS` and a
            detail naming the field and the value found.
        ValueError: ``now`` is naive (a bug in the caller, not in the data).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")

    site_id = _required_text(record, "site_id")
    pond_id = _required_text(record, "pond_id")
    sensor_id = _required_text(record, "sensor_id")
    if "event_timestamp" not in record or record["event_timestamp"] is None:
        raise InvalidReadingError(REASON_MISSING_FIELD, "field 'event_timestamp' is missing")
    _check_entities(site_id, pond_id, sensor_id)

    event_timestamp = _parse_timestamp(record["event_timestamp"])
    if event_timestamp > now + FUTURE_TOLERANCE:
        raise InvalidReadingError(
            REASON_TIMESTAMP_IN_FUTURE,
            f"event_timestamp {event_timestamp.isoformat()} is later than now ({now.astimezone(UTC).isoformat()}) "
            f"plus {FUTURE_TOLERANCE}",
        )

    values = {name: _measurement(name, record.get(name)) for name in MEASUREMENT_FIELDS}
    if all(value is None for value in values.values()):
        raise InvalidReadingError(
            REASON_NO_MEASUREMENT, f"none of {', '.join(MEASUREMENT_FIELDS)} has a value"
        )

    source = record.get("source")
    if source is not None and not isinstance(source, str):
        raise InvalidReadingError(
            REASON_WRONG_TYPE, f"field 'source' must be text, got {type(source).__name__}"
        )

    return Reading(
        site_id=site_id,
        pond_id=pond_id,
        sensor_id=sensor_id,
        event_timestamp=event_timestamp,
        source=source,
        **values,
    )


def _required_text(record: Mapping[str, Any], name: str) -> str:
    value = record.get(name)
    if value is None:
        raise InvalidReadingError(REASON_MISSING_FIELD, f"field {name!r} is missing")
    if not isinstance(value, str):
        raise InvalidReadingError(
            REASON_WRONG_TYPE, f"field {name!r} must be text, got {type(value).__name__}"
        )
    return value


def _check_entities(site_id: str, pond_id: str, sensor_id: str) -> None:
    for name, value in (("site_id", site_id), ("pond_id", pond_id)):
        if not _SLUG.match(value):
            raise InvalidReadingError(
                REASON_UNKNOWN_ENTITY,
                f"{name} {value!r} is malformed; expected lowercase letters, digits and hyphens",
            )
    parts = sensor_id.split("/")
    if len(parts) != 3 or not _SLUG.match(parts[2]):
        raise InvalidReadingError(
            REASON_UNKNOWN_ENTITY,
            f"sensor_id {sensor_id!r} is malformed; expected site/pond/position, e.g. ku-mwq/pond-1/depth-30cm",
        )
    if parts[0] != site_id or parts[1] != pond_id:
        raise InvalidReadingError(
            REASON_UNKNOWN_ENTITY,
            f"sensor_id {sensor_id!r} does not belong to site {site_id!r}, pond {pond_id!r}",
        )


def _parse_timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidReadingError(
                REASON_TIMESTAMP_UNPARSEABLE,
                f"event_timestamp {value!r} is not an ISO 8601 date-time",
            ) from None
    else:
        raise InvalidReadingError(
            REASON_WRONG_TYPE,
            f"event_timestamp must be a datetime or ISO 8601 text, got {type(value).__name__}",
        )
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidReadingError(
            REASON_TIMESTAMP_NAIVE,
            f"event_timestamp {parsed.isoformat()} has no time zone; attach the sensor's UTC offset",
        )
    return parsed.astimezone(UTC)


def _measurement(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidReadingError(
            REASON_WRONG_TYPE, f"{name} must be a number, got {type(value).__name__} {value!r}"
        )
    try:
        number = float(value)
    except OverflowError:
        # Only an int too large for a float gets here.
        number = math.inf if value > 0 else -math.inf  # type: ignore[operator]
    if not math.isfinite(number):
        raise InvalidReadingError(REASON_NOT_FINITE, f"{name} is {number}")

    fault = FAULT_CODES.get(name, {}).get(number)
    if fault is not None:
        raise InvalidReadingError(REASON_SENSOR_FAULT, f"{name} = {value!r}: {fault}")

    low, high = PLAUSIBLE_RANGES[name]
    if not low <= number <= high:
        raise InvalidReadingError(
            REASON_OUT_OF_RANGE, f"{name} = {value!r} is outside the plausible range {low:g}..{high:g}"
        )
    return number
