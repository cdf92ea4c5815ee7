"""Reading messages from the real sensor history, for ``aqua-producer replay``.

TODO: parse through ingestion.sources (the batch loader's parser) once it exists, so that replay
and the loader agree on ids, time zones and units; remove the minimal parser below then.
"""

from __future__ import annotations

import csv
import heapq
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ingestion.schema import ReadingMessage

# NOTE: assumptions of the minimal parser. The KU-MWQ logger times have no zone; Khulna is UTC+6,
# which the dataset's description suggests but does not state. The aquaponics Part A times carry
# a literal "CET" (UTC+1) all year. Part B rows have a date only and are skipped here.
KU_MWQ_ZONE = timezone(timedelta(hours=6))
CET = timezone(timedelta(hours=1))

_KU_MWQ_FILES = {
    "sensor_data_30cm.csv": "depth-30cm",
    "sensor_data_60cm.csv": "depth-60cm",
}
_AQUAPONICS_FILES = {"IoTPond11.csv": "pond-11", "IoTPond12.csv": "pond-12"}


def default_data_dir() -> Path:
    """Return the shared data folder next to the repository (``../shared/data``)."""
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def history_messages(data_dir: Path, *, sensors: Iterable[str] | None = None) -> Iterator[ReadingMessage]:
    """Yield every timed reading of the history, merged across files in event-time order.

    Values are passed on as recorded, including impossible ones: rejecting them is the
    ingester's job, so a replay exercises the dead-letter path with real faults.

    Args:
        sensors: only these sensor ids; None yields all.
    """
    wanted = set(sensors) if sensors else None
    streams = [
        stream
        for stream in (*_ku_mwq_streams(data_dir), *_aquaponics_streams(data_dir))
        if wanted is None or stream[0] in wanted
    ]
    # Each file is nearly sorted already; sort each one so the merge is exact (KU-MWQ has two
    # rows out of order).
    merged = heapq.merge(
        *(sorted(messages, key=lambda message: message.event_time) for _, messages in streams),
        key=lambda message: message.event_time,
    )
    yield from merged


def _ku_mwq_streams(data_dir: Path) -> list[tuple[str, list[ReadingMessage]]]:
    folder = data_dir / "ku_mwq_fish_pond_depths"
    streams = []
    for file_name, position in _KU_MWQ_FILES.items():
        path = folder / file_name
        if not path.is_file():
            continue
        sensor_id = f"ku-mwq/pond-1/{position}"
        messages = []
        with path.open(newline="", encoding="utf-8") as handle:
            for line_number, row in enumerate(csv.DictReader(handle), start=2):
                event_time = datetime.strptime(row["Date"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=KU_MWQ_ZONE)
                messages.append(
                    ReadingMessage(
                        site_id="ku-mwq",
                        pond_id="pond-1",
                        sensor_id=sensor_id,
                        event_time=event_time,
                        measurements={
                            "water_temp_c": _number(row.get("Temperature")),
                            "ph": _number(row.get("pH")),
                            "turbidity_ntu": _number(row.get("Turbidity")),
                        },
                        source=f"ku_mwq_fish_pond_depths/{file_name}:{line_number}",
                    )
                )
        streams.append((sensor_id, messages))
    return streams


def _aquaponics_streams(data_dir: Path) -> list[tuple[str, list[ReadingMessage]]]:
    folder = data_dir / "sensor_aquaponics_fish_ponds"
    streams = []
    for file_name, pond_id in _AQUAPONICS_FILES.items():
        path = folder / file_name
        if not path.is_file():
            continue
        sensor_id = f"udanor-aquaponics/{pond_id}/node-1"
        messages = []
        with path.open(newline="", encoding="utf-8") as handle:
            for line_number, row in enumerate(csv.DictReader(handle), start=2):
                stamp = row["created_at"]
                if not stamp.endswith(" CET"):
                    continue  # Part B: a date without a time of day
                event_time = datetime.strptime(stamp[:-4], "%Y-%m-%d %H:%M:%S").replace(tzinfo=CET)
                messages.append(
                    ReadingMessage(
                        site_id="udanor-aquaponics",
                        pond_id=pond_id,
                        sensor_id=sensor_id,
                        event_time=event_time,
                        measurements={
                            "water_temp_c": _number(row.get("TEMPERATURE")),
                            "ph": _number(row.get("pH")),
                            "turbidity_ntu": _number(row.get("TURBIDITY")),
                            "dissolved_oxygen_mg_l": _number(row.get("DISOLVED OXYGEN")),
                            "ammonia_mg_l": _number(row.get("AMMONIA")),
                            "nitrate_mg_l": _number(row.get("NITRATE")),
                        },
                        source=f"sensor_aquaponics_fish_ponds/{file_name}:{line_number}",
                    )
                )
        streams.append((sensor_id, messages))
    return streams


def _number(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    return float(text)
