"""The ingester's one write step: push a batch of readings and features to both Feast stores."""

from __future__ import annotations

import logging
from typing import Final

import pandas as pd
import psycopg
import redis.exceptions
import sqlalchemy.exc
from feast import FeatureStore
from feast.errors import DataSourceObjectNotFoundException

from aquafs.errors import TransientError
from aquafs.feast_store import push_to_both_stores

logger = logging.getLogger(__name__)

READINGS_PUSH_SOURCE: Final = "water_readings_push"
FEATURES_PUSH_SOURCE: Final = "sensor_features_push"

# Failures of the network or of a server that is starting or stopping; a retry can cure them.
_TRANSIENT_ERRORS: Final = (
    ConnectionError,
    TimeoutError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    psycopg.OperationalError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.DisconnectionError,
)


class StoreWriter:
    """Writes validated readings and streamed features to the offline and online stores.

    Both frames go to every feature view fed by their push source, offline first and then online,
    through :func:`aquafs.feast_store.push_to_both_stores` (the effect of Feast's
    ``push(..., to=PushMode.ONLINE_AND_OFFLINE)`` in the order that keeps history ahead of Redis).
    The offline store is idempotent on (sensor, event time), and Feast's Redis store skips a row
    whose event time is not newer than the stored one, so writing a batch again after a partial
    failure is safe and the online value never goes back in time.
    """

    def __init__(
        self,
        store: FeatureStore,
        *,
        readings_push_source: str = READINGS_PUSH_SOURCE,
        features_push_source: str | None = FEATURES_PUSH_SOURCE,
    ) -> None:
        """Args:
        features_push_source: None skips the features push, for a feature repo without it.
        """
        self.store = store
        self._readings_push_source = readings_push_source
        self._features_push_source = features_push_source
        if features_push_source is not None and not self._has_push_source(features_push_source):
            logger.warning(
                "push source %r is not registered in Feast project %r; streamed features will not be "
                "written. Apply a feature repo that defines it to store them.",
                features_push_source,
                store.project,
            )
            self._features_push_source = None

    @property
    def writes_features(self) -> bool:
        """Whether ``write`` pushes the features frame too."""
        return self._features_push_source is not None

    def write(self, readings: pd.DataFrame, features: pd.DataFrame | None) -> int:
        """Push ``readings`` (columns of ``water_readings``) and ``features`` to both stores.

        Returns:
            How many readings were new to the offline store; the rest it already held.

        Raises:
            TransientError: Redis, PostgreSQL or the registry did not respond; nothing needs undoing
                before calling again with the same frames.
        """
        try:
            new_readings = push_to_both_stores(self.store, self._readings_push_source, readings)
            if self._features_push_source is not None and features is not None and not features.empty:
                push_to_both_stores(self.store, self._features_push_source, features)
        except _TRANSIENT_ERRORS as error:
            message = f"cannot write {len(readings)} reading(s) to the feature store: {type(error).__name__}: {error}"
            raise TransientError(message) from error
        return new_readings

    def _has_push_source(self, name: str) -> bool:
        try:
            self.store.get_data_source(name)
        except DataSourceObjectNotFoundException:
            return False
        return True
