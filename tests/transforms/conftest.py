"""Helpers for the transforms tests: small hand-made reading frames of one sensor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

BASE_TIME = datetime(2024, 3, 1, tzinfo=UTC)
SENSOR_ID = "test-site/pond-1/probe-1"


def make_readings(minutes: list[float], sensor_id: str = SENSOR_ID, **columns: list[Any]) -> pd.DataFrame:
    """Build readings of one sensor at BASE_TIME + minutes, with the given parameter columns."""
    return pd.DataFrame({
        "site_id": "test-site",
        "pond_id": "pond-1",
        "sensor_id": sensor_id,
        "event_timestamp": [BASE_TIME + timedelta(minutes=m) for m in minutes],
        **columns,
    })


@pytest.fixture
def readings_factory() -> Callable[..., pd.DataFrame]:
    return make_readings
