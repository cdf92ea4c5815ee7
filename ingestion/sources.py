"""CSV parsers of the two bundled sensor datasets, turning each line into a record or a rejection.

Every data line yields one :class:`SourceRow`: the original bytes, its ``file:line`` position and
either a flat record for :func:`ingestion.validation.validate_reading` or the parse error. Nothing
is skipped, so the loader can account for every line.

KU-MWQ (``ku_mwq_fish_pond_depths/``)
    Two files, one per sensor depth, with identical ``Date`` columns. Timestamps carry no zone. The
    dataset is cited as collected at Khulna University, Bangladesh, so they are read as Asia/Dhaka
    local time (UTC+6 all year). That is an inference, not a fact of the files; pass another zone
    to :func:`iter_dataset_rows` if it proves wrong. The 60 cm file has no pH column, so its pH is
    NULL. Cells such as ``20`` are integers in the workbook and are read as numbers like any other.

IoTPond (``sensor_aquaponics_fish_ponds/``)
    One file per pond (``IoTPond11.csv`` -> pond ``pond-11``), one node per pond. ``created_at``
    comes in two forms. Part A is ``YYYY-MM-DD HH:MM:SS CET``, and the zone abbreviation is mapped
    through :data:`ZONE_ABBREVIATIONS` (an unknown abbreviation is rejected, never dropped). Part B is
    a day-first date without a time of day. A reading time cannot be recovered from it, so those
    rows are rejected as ``timestamp_without_time`` and kept in ``rejected_readings``. The unit of
    DO, ammonia and nitrate is not stated by the source; the values are stored in the ``_mg_l``
    columns as given. ``Population``, ``Length`` (spelt ``Lenght`` in pond 11) and ``Weight``
    describe the fish, not the water, and are not part of a reading.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aquafs.errors import ConfigError, InvalidReadingError, TerminalError

logger = logging.getLogger(__name__)

KU_MWQ_DIR: Final = "ku_mwq_fish_pond_depths"
IOTPOND_DIR: Final = "sensor_aquaponics_fish_ponds"

KU_MWQ_SITE: Final = "ku-mwq"
KU_MWQ_POND: Final = "pond-1"
KU_MWQ_DEFAULT_TIMEZONE: Final = "Asia/Dhaka"
# File name -> sensor position; both files are the same logger records read at two depths.
KU_MWQ_FILES: Final = {"sensor_data_30cm.csv": "depth-30cm", "sensor_data_60cm.csv": "depth-60cm"}
KU_MWQ_COLUMNS: Final = {"Temperature": "water_temp_c", "pH": "ph", "Turbidity": "turbidity_ntu"}

IOTPOND_SITE: Final = "udanor-aquaponics"
IOTPOND_SENSOR_POSITION: Final = "node-1"
IOTPOND_COLUMNS: Final = {
    "TEMPERATURE": "water_temp_c",
    "TURBIDITY": "turbidity_ntu",
    "DISOLVED OXYGEN": "dissolved_oxygen_mg_l",  # sic: the source header is misspelt
    "pH": "ph",
    "AMMONIA": "ammonia_mg_l",
    "NITRATE": "nitrate_mg_l",
}

ZONE_ABBREVIATIONS: Final[dict[str, timezone]] = {
    # Fixed offsets on purpose: the IoTPond timestamps are labelled CET from June to October, when
    # Central Europe observes CEST, so the label is taken literally as UTC+1 instead of as a region.
    "UTC": UTC,
    "GMT": UTC,
    "CET": timezone(timedelta(hours=1), "CET"),
    "CEST": timezone(timedelta(hours=2), "CEST"),
}
"""Time-zone abbreviations accepted in IoTPond timestamps and their fixed UTC offsets."""

REASON_TIMESTAMP_WITHOUT_TIME: Final = "timestamp_without_time"
REASON_MALFORMED_ROW: Final = "malformed_row"
SOURCE_REASONS: Final = frozenset({REASON_TIMESTAMP_WITHOUT_TIME, REASON_MALFORMED_ROW})
"""Reason codes raised while parsing a line, before validation."""

_PART_A = re.compile(r"^(?P<local>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?P<zone>[A-Za-z]{2,5})$")
_DATE_ONLY = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_POND_FILE = re.compile(r"^IoTPond(?P<number>\d+)\.csv$")


@dataclass(frozen=True)
class SourceRow:
    """One data line of a source file, parsed or not."""

    source: str
    """File path relative to the data folder, e.g. ``ku_mwq_fish_pond_depths/sensor_data_30cm.csv``."""
    line: int
    """1-based line number in the file; line 1 is the header."""
    payload: bytes
    """The line's original bytes, without the line ending."""
    record: dict[str, Any] | None
    """Flat record for ``validate_reading``, or ``None`` when parsing failed."""
    error: InvalidReadingError | None = None

    @property
    def position(self) -> str:
        """``file:line``, as stored in ``rejected_readings.source_position``."""
        return f"{self.source}:{self.line}"


def iter_dataset_rows(
    data_dir: Path, *, ku_mwq_timezone: str = KU_MWQ_DEFAULT_TIMEZONE
) -> Iterator[SourceRow]:
    """Yield every data line of both datasets under ``data_dir``, in file order.

    Raises:
        TerminalError: a dataset folder or file is missing, or a header lacks an expected column.
        ConfigError: ``ku_mwq_timezone`` is not an IANA time-zone name.
    """
    yield from iter_ku_mwq_rows(data_dir, timezone_name=ku_mwq_timezone)
    yield from iter_iotpond_rows(data_dir)


def iter_ku_mwq_rows(data_dir: Path, *, timezone_name: str = KU_MWQ_DEFAULT_TIMEZONE) -> Iterator[SourceRow]:
    """Yield the lines of the KU-MWQ files, timestamps read as local time in ``timezone_name``."""
    try:
        zone = ZoneInfo(timezone_name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigError(
            f"KU-MWQ time zone {timezone_name!r} is not an IANA zone name; use e.g. Asia/Dhaka"
        ) from error

    for file_name, position in KU_MWQ_FILES.items():
        relative = f"{KU_MWQ_DIR}/{file_name}"
        sensor_id = f"{KU_MWQ_SITE}/{KU_MWQ_POND}/{position}"
        header, lines = _read_lines(data_dir, relative)
        _require_columns(relative, header, ["Date", "Temperature", "Turbidity"])
        for line_number, raw in lines:
            cells, split_error = _split(relative, line_number, raw, header)
            if split_error is not None:
                yield SourceRow(relative, line_number, raw, None, split_error)
                continue
            record: dict[str, Any] = {
                "site_id": KU_MWQ_SITE,
                "pond_id": KU_MWQ_POND,
                "sensor_id": sensor_id,
                "source": relative,
            }
            try:
                record["event_timestamp"] = _parse_local_timestamp(cells["Date"], zone)
                for column, field in KU_MWQ_COLUMNS.items():
                    if column in cells:
                        record[field] = _parse_number(column, cells[column])
            except InvalidReadingError as parse_error:
                yield SourceRow(relative, line_number, raw, None, parse_error)
                continue
            yield SourceRow(relative, line_number, raw, record)


def iter_iotpond_rows(data_dir: Path) -> Iterator[SourceRow]:
    """Yield the lines of every ``IoTPond<N>.csv`` file, pond ``pond-<N>``."""
    folder = data_dir / IOTPOND_DIR
    if not folder.is_dir():
        raise TerminalError(f"dataset folder {folder} is missing; check --data-dir or AQUA_DATA_DIR")
    files = sorted(
        (path for path in folder.iterdir() if _POND_FILE.match(path.name)),
        key=lambda path: int(_POND_FILE.match(path.name)["number"]),  # type: ignore[index]
    )
    if not files:
        raise TerminalError(f"no IoTPond<N>.csv file in {folder}")

    for path in files:
        number = int(_POND_FILE.match(path.name)["number"])  # type: ignore[index]
        pond_id = f"pond-{number}"
        sensor_id = f"{IOTPOND_SITE}/{pond_id}/{IOTPOND_SENSOR_POSITION}"
        relative = f"{IOTPOND_DIR}/{path.name}"
        header, lines = _read_lines(data_dir, relative)
        _require_columns(relative, header, ["created_at", *IOTPOND_COLUMNS])
        for line_number, raw in lines:
            cells, split_error = _split(relative, line_number, raw, header)
            if split_error is not None:
                yield SourceRow(relative, line_number, raw, None, split_error)
                continue
            record: dict[str, Any] = {
                "site_id": IOTPOND_SITE,
                "pond_id": pond_id,
                "sensor_id": sensor_id,
                "source": relative,
            }
            try:
                record["event_timestamp"] = _parse_iotpond_timestamp(cells["created_at"])
                for column, field in IOTPOND_COLUMNS.items():
                    record[field] = _parse_number(column, cells[column])
            except InvalidReadingError as parse_error:
                yield SourceRow(relative, line_number, raw, None, parse_error)
                continue
            yield SourceRow(relative, line_number, raw, record)


def _read_lines(data_dir: Path, relative: str) -> tuple[list[str], list[tuple[int, bytes]]]:
    path = data_dir / relative
    if not path.is_file():
        raise TerminalError(f"source file {path} is missing; check --data-dir or AQUA_DATA_DIR")
    raw_lines = path.read_bytes().split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()  # the newline that ends the last line
    if not raw_lines:
        raise TerminalError(f"source file {path} is empty; expected a header line")
    header = next(csv.reader([raw_lines[0].decode("utf-8-sig").rstrip("\r")]))
    lines = [(index, raw) for index, raw in enumerate(raw_lines[1:], start=2)]
    return header, lines


def _require_columns(relative: str, header: list[str], required: list[str]) -> None:
    missing = [column for column in required if column not in header]
    if missing:
        raise TerminalError(
            f"{relative}: header lacks column(s) {', '.join(missing)}; found {', '.join(header)}"
        )


def _split(
    relative: str, line_number: int, raw: bytes, header: list[str]
) -> tuple[dict[str, str], InvalidReadingError | None]:
    try:
        text = raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as error:
        return {}, InvalidReadingError(
            REASON_MALFORMED_ROW, f"{relative}:{line_number} is not UTF-8: {error}"
        )
    cells = next(csv.reader([text]), [])
    if len(cells) != len(header):
        detail = f"{relative}:{line_number} has {len(cells)} cells, the header has {len(header)}"
        return {}, InvalidReadingError(REASON_MALFORMED_ROW, detail)
    return dict(zip(header, cells, strict=True)), None


def _parse_number(column: str, cell: str) -> int | float | None:
    text = cell.strip()
    if not text:
        return None
    if _INTEGER.match(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        raise InvalidReadingError("wrong_type", f"column {column!r}: {cell!r} is not a number") from None


def _parse_local_timestamp(cell: str, zone: ZoneInfo) -> datetime:
    try:
        local = datetime.strptime(cell.strip(), "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 - zone attached below
    except ValueError:
        raise InvalidReadingError(
            "timestamp_unparseable", f"Date {cell!r} is not YYYY-MM-DD HH:MM:SS"
        ) from None
    return local.replace(tzinfo=zone)


def _parse_iotpond_timestamp(cell: str) -> datetime:
    text = cell.strip()
    match = _PART_A.match(text)
    if match is not None:
        zone = ZONE_ABBREVIATIONS.get(match["zone"].upper())
        if zone is None:
            raise InvalidReadingError(
                "timestamp_unparseable",
                f"created_at {cell!r}: unknown time-zone abbreviation {match['zone']!r}; "
                f"known: {', '.join(ZONE_ABBREVIATIONS)}",
            )
        try:
            local = datetime.strptime(match["local"], "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 - zone attached below
        except ValueError:
            raise InvalidReadingError(
                "timestamp_unparseable", f"created_at {cell!r} is not a valid date-time"
            ) from None
        return local.replace(tzinfo=zone)
    if _DATE_ONLY.match(text):
        raise InvalidReadingError(
            REASON_TIMESTAMP_WITHOUT_TIME,
            f"created_at {cell!r} is a date (D/M/YYYY) without a time of day; the reading time is unknown",
        )
    raise InvalidReadingError(
        "timestamp_unparseable",
        f"created_at {cell!r} matches neither 'YYYY-MM-DD HH:MM:SS ZONE' nor 'D/M/YYYY'",
    )
