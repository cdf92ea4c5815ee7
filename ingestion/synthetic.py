"""Synthetic reading messages for load tests, with optional injected faults.

Each sensor follows a bounded random walk around plausible pond values. Faults are drawn per
message with the given probabilities; at most one fault applies to a message.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta

from ingestion.schema import (
    MEASUREMENT_FIELDS,
    ReadingMessage,
    encode_message,
    message_headers,
    message_key,
)

# Start value, lowest and highest value and walk step of each parameter, in its column's unit.
_WALKS: dict[str, tuple[float, float, float, float]] = {
    "water_temp_c": (26.0, 20.0, 32.0, 0.05),
    "ph": (7.4, 6.5, 8.5, 0.01),
    "turbidity_ntu": (40.0, 5.0, 120.0, 0.5),
    "dissolved_oxygen_mg_l": (7.0, 3.0, 11.0, 0.05),
    "ammonia_mg_l": (0.2, 0.0, 1.5, 0.01),
    "nitrate_mg_l": (20.0, 0.0, 80.0, 0.2),
}


@dataclass(frozen=True)
class OutgoingMessage:
    """Bytes ready for the broker: key, value and headers."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class FaultRates:
    """Probability per message, 0 to 1, of each injected fault."""

    malformed: float = 0.0
    wrong_type: float = 0.0
    nan: float = 0.0
    duplicate: float = 0.0
    late: float = 0.0
    out_of_order: float = 0.0

    @staticmethod
    def descriptions() -> dict[str, str]:
        """Return each fault's field name with what it injects, for help text."""
        return {
            "malformed": "a body that is not valid JSON (truncated)",
            "wrong_type": "a measurement sent as a string instead of a number",
            "nan": "a measurement sent as the bare token NaN, which JSON does not allow",
            "duplicate": "sending the previous message of the same sensor again",
            "late": "an event time --late-by-seconds behind the clock",
            "out_of_order": "an event time a few seconds before the sensor's previous message",
        }

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not 0 <= value <= 1:
                raise ValueError(f"fault probability {item.name} must be from 0 to 1, got {value}")
        if sum(getattr(self, item.name) for item in fields(self)) > 1:
            raise ValueError("fault probabilities must add up to at most 1")


@dataclass(frozen=True)
class SyntheticConfig:
    """Shape and length of a synthetic run; ``count`` or ``duration_seconds`` ends it."""

    site_id: str = "synthetic"
    ponds: int = 2
    sensors_per_pond: int = 2
    count: int | None = 100
    duration_seconds: float | None = None
    seed: int | None = None
    late_by_seconds: float = 3600.0
    faults: FaultRates = field(default_factory=FaultRates)
    start: datetime | None = None
    """Event time of the first message; None uses the clock for every message."""
    interval_seconds: float = 1.0
    """Event-time step between messages when ``start`` is given."""


def sensor_ids(config: SyntheticConfig) -> list[tuple[str, str]]:
    """Return (pond_id, sensor_id) of every synthetic sensor."""
    return [
        (f"pond-{pond}", f"{config.site_id}/pond-{pond}/probe-{probe}")
        for pond in range(1, config.ponds + 1)
        for probe in range(1, config.sensors_per_pond + 1)
    ]


def synthetic_messages(config: SyntheticConfig) -> Iterator[OutgoingMessage]:
    """Yield messages round-robin over the sensors until ``count`` or ``duration_seconds`` is reached."""
    rng = random.Random(config.seed)
    sensors = sensor_ids(config)
    state = {sensor_id: {name: walk[0] for name, walk in _WALKS.items()} for _, sensor_id in sensors}
    previous: dict[str, tuple[OutgoingMessage, datetime]] = {}
    deadline = time.monotonic() + config.duration_seconds if config.duration_seconds is not None else None
    index = 0
    while (config.count is None or index < config.count) and (deadline is None or time.monotonic() < deadline):
        pond_id, sensor_id = sensors[index % len(sensors)]
        now = _event_time(config, index)
        _walk(state[sensor_id], rng)
        fault = _draw_fault(config.faults, rng)

        if fault == "duplicate" and sensor_id in previous:
            yield previous[sensor_id][0]
            index += 1
            continue
        event_time = now
        if fault == "late":
            event_time = now - timedelta(seconds=config.late_by_seconds)
        elif fault == "out_of_order" and sensor_id in previous:
            event_time = previous[sensor_id][1] - timedelta(seconds=rng.uniform(1, 5))

        message = ReadingMessage(
            site_id=config.site_id,
            pond_id=pond_id,
            sensor_id=sensor_id,
            event_time=event_time,
            measurements=dict(state[sensor_id]),
            source="aqua-producer synthetic",
        )
        outgoing = OutgoingMessage(key=message_key(message), value=encode_message(message), headers=message_headers())
        if fault in ("malformed", "wrong_type", "nan"):
            outgoing = _corrupt(outgoing, fault, rng)
        else:
            previous[sensor_id] = (outgoing, event_time)
        yield outgoing
        index += 1


def _event_time(config: SyntheticConfig, index: int) -> datetime:
    if config.start is None:
        return datetime.now(UTC)
    return config.start + timedelta(seconds=index * config.interval_seconds)


def _walk(values: dict[str, float], rng: random.Random) -> None:
    for name, (_, low, high, step) in _WALKS.items():
        values[name] = round(min(high, max(low, values[name] + rng.uniform(-step, step))), 4)


def _draw_fault(rates: FaultRates, rng: random.Random) -> str | None:
    draw = rng.random()
    for item in fields(rates):
        probability = getattr(rates, item.name)
        if draw < probability:
            return item.name
        draw -= probability
    return None


def _corrupt(message: OutgoingMessage, fault: str, rng: random.Random) -> OutgoingMessage:
    value = message.value
    name = rng.choice(MEASUREMENT_FIELDS)
    token = f'"{name}":'.encode()
    start = value.index(token) + len(token)
    # The value ends at the next comma or closing brace; measurements are numbers, never strings.
    end = min(position for position in (value.find(b",", start), value.find(b"}", start)) if position >= 0)
    if fault == "malformed":
        value = value[: rng.randint(1, len(value) - 2)]
    elif fault == "wrong_type":
        value = value[:start] + b'"' + value[start:end] + b'"' + value[end:]
    else:
        value = value[:start] + b"NaN" + value[end:]
    return OutgoingMessage(key=message.key, value=value, headers=message.headers)


def fault_names() -> Sequence[str]:
    """Return the names of the faults the generator can inject."""
    return [item.name for item in fields(FaultRates)]
