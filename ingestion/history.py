"""Reading messages from the real sensor history, for ``aqua-producer replay``.

The rows come from :func:`ingestion.sources.iter_dataset_rows`, the batch loader's parser, so the
replay and the loader agree on ids, time zones and units. Values go out as recorded, including
impossible ones: rejecting them is the ingester's job, so a replay exercises the dead-letter path
with real faults. Lines the parser cannot read at all (no timestamp) are skipped.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from ingestion.schema import MEASUREMENT_FIELDS, ReadingMessage
from ingestion.sources import iter_dataset_rows

logger = logging.getLogger(__name__)


def default_data_dir() -> Path:
    """Return the shared data folder next to the repository (``../shared/data``)."""
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def history_messages(data_dir: Path, *, sensors: Iterable[str] | None = None) -> Iterator[ReadingMessage]:
    """Yield every parsed reading of the history in event-time order.

    The message id is derived from the file and line, so replaying the history twice sends the
    same ids.

    Args:
        sensors: only these sensor ids; None yields all.
    """
    wanted = set(sensors) if sensors else None
    messages = []
    skipped = 0
    for row in iter_dataset_rows(data_dir):
        record = row.record
        if record is None or not isinstance(record.get("event_timestamp"), datetime):
            skipped += 1
            continue
        if wanted is not None and record.get("sensor_id") not in wanted:
            continue
        messages.append(
            ReadingMessage(
                site_id=record["site_id"],
                pond_id=record["pond_id"],
                sensor_id=record["sensor_id"],
                event_time=record["event_timestamp"],
                measurements={name: record.get(name) for name in MEASUREMENT_FIELDS},
                source=row.position,
                message_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"aquafs-history:{row.position}")),
            )
        )
    if skipped:
        logger.info("skipped %d history lines that have no parseable record", skipped)
    # A stable sort keeps file order for equal times (several sensors share one logger clock).
    messages.sort(key=lambda message: message.event_time)
    yield from messages
