"""Feast offline-store plugin for TimescaleDB and PostgreSQL with idempotent offline writes."""

from feast_timescale.offline_store import (
    OfflineWriteError,
    TimescaleOfflineStore,
    TimescaleOfflineStoreConfig,
    write_arrow_table,
)

__all__ = ["OfflineWriteError", "TimescaleOfflineStore", "TimescaleOfflineStoreConfig", "write_arrow_table"]
