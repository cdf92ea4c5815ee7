"""One ``ingestion_audit`` row per ingester batch."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime

import psycopg

from aquafs.db import connect
from aquafs.errors import TransientError
from aquafs.settings import PostgresSettings

logger = logging.getLogger(__name__)

JOB_NAME = "ingester"


def record_batch(
    postgres: PostgresSettings,
    *,
    source: str,
    rows_read: int,
    rows_written: int,
    rows_rejected: int,
    rows_duplicate: int,
    started_at: datetime,
    finished_at: datetime,
    offsets: dict[str, int],
) -> None:
    """Insert the audit row of a committed batch; a failure is logged, not raised.

    The batch is already in both stores and committed when this runs, so a missing audit row must
    not make the ingester repeat it.
    """
    try:
        with connect(postgres) as conn:
            conn.execute(
                """
                INSERT INTO ingestion_audit (batch_id, job, source, rows_read, rows_written, rows_rejected,
                                             rows_duplicate, started_at, finished_at, offsets)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)
                """,
                (
                    uuid.uuid4(), JOB_NAME, source, rows_read, rows_written, rows_rejected,
                    rows_duplicate, started_at, finished_at, json.dumps(offsets),
                ),
            )
    except (TransientError, psycopg.Error) as error:
        logger.warning("cannot record the audit row of a batch from %s: %s", source, error)
