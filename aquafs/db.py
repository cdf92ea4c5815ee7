"""PostgreSQL connections for the project's own SQL (migrations, loaders, the offline-store plugin)."""

from __future__ import annotations

import logging

import psycopg

from aquafs.errors import TransientError
from aquafs.settings import PostgresSettings

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10


def connect(settings: PostgresSettings, *, autocommit: bool = False) -> psycopg.Connection:
    """Open a connection whose session time zone is UTC.

    Raises:
        TransientError: the server refused or did not answer; the message names host and port
            but never the password.
    """
    try:
        return psycopg.connect(
            settings.conninfo(), autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_SECONDS
        )
    except psycopg.OperationalError as error:
        message = (
            f"cannot connect to PostgreSQL at {settings.host}:{settings.port} "
            f"(database {settings.database!r}, user {settings.user!r}): {error}. "
            "Is the server up? Locally, run `python3 infra/stack.py up postgres`."
        )
        raise TransientError(message) from error
