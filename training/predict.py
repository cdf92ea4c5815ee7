"""Online inference with the saved forecast model (``aquafs predict``).

Features come from the ``water_quality_inference_v1`` service, which selects the same features as
the training service; :func:`load_model` and :func:`predict_online` check that with the feature
fingerprint saved in the model's metadata. Two read paths:

- in process, through :func:`aquafs.online.read_fresh_features`, which blanks values older than
  their view's TTL and reports each view's age in seconds;
- over HTTP from a ``feast serve`` feature server (``POST /get-online-features``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import joblib
import numpy as np
import pandas as pd
import psycopg
from feast import FeatureStore
from sklearn.ensemble import HistGradientBoostingRegressor

from aquafs.errors import TerminalError, TransientError
from aquafs.online import read_fresh_features
from training.dataset import INFERENCE_SERVICE, TARGET_COLUMN
from training.train import DEFAULT_MODEL_NAME, DEFAULT_MODELS_DIR, predict_frame

logger = logging.getLogger(__name__)

PREDICTION_COLUMN: Final = "predicted_water_temp_c"
HTTP_TIMEOUT_SECONDS: Final = 30.0


@dataclass(frozen=True)
class LoadedModel:
    """A fitted model with the metadata written next to it by :func:`training.train.train_model`."""

    model: HistGradientBoostingRegressor
    metadata: dict[str, Any]

    @property
    def feature_columns(self) -> list[str]:
        return list(self.metadata["feature_columns"])


def load_model(name: str = DEFAULT_MODEL_NAME, models_dir: Path = DEFAULT_MODELS_DIR) -> LoadedModel:
    """Load ``<name>.joblib`` and ``<name>.json`` from ``models_dir``.

    Raises:
        TerminalError: either file is missing (train first with ``aquafs train``).
    """
    model_path, metadata_path = models_dir / f"{name}.joblib", models_dir / f"{name}.json"
    for path in (model_path, metadata_path):
        if not path.is_file():
            raise TerminalError(f"model file {path} not found; train the model first with `aquafs train`")
    return LoadedModel(model=joblib.load(model_path), metadata=json.loads(metadata_path.read_text()))


def sensor_entity_rows(conn: psycopg.Connection, request_time: datetime) -> list[dict[str, Any]]:
    """Return one entity row per sensor in ``water_readings``, with ``request_time``."""
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT sensor_id, site_id, pond_id FROM water_readings ORDER BY sensor_id")
        rows = cur.fetchall()
    return [
        {"sensor_id": sensor_id, "site_id": site_id, "pond_id": pond_id, "request_time": request_time}
        for sensor_id, site_id, pond_id in rows
    ]


def predict_online(
    store: FeatureStore,
    loaded: LoadedModel,
    entity_rows: Sequence[Mapping[str, Any]],
    *,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Forecast each entity row's temperature one horizon ahead from fresh online features.

    Returns:
        One row per entity row: ``sensor_id``, ``site_id``, ``pond_id``, ``request_time``,
        the current ``water_temp_c``, ``predicted_water_temp_c`` (NaN when the current reading is
        missing or older than its view's TTL), ``target_time`` and ``<view>__age_seconds`` per view.
    """
    now = now or datetime.now(UTC)
    service = store.get_feature_service(INFERENCE_SERVICE)
    _check_fingerprint_or_raise(service, loaded)
    rows = [_request_row(row, now) for row in entity_rows]
    features = read_fresh_features(store, service, rows, now=now)
    # On-demand views are computed per request and have no stored event time to age.
    on_demand = {view.name for view in store.list_on_demand_feature_views(allow_cache=True)}
    features = features.drop(columns=[f"{name}__age_seconds" for name in on_demand], errors="ignore")
    return _predictions(loaded, features, rows)


def get_online_features_http(
    base_url: str, entity_rows: Sequence[Mapping[str, Any]], *, feature_service: str = INFERENCE_SERVICE
) -> pd.DataFrame:
    """Read a feature service from a ``feast serve`` server; return one row per entity row.

    Feature columns are named without their view prefix, as in :func:`predict_online`;
    ``<view>__age_seconds`` is computed from the server's event timestamps at the local clock.

    Raises:
        TransientError: the server did not respond or returned an HTTP error.
    """
    rows = [_request_row(row, datetime.now(UTC)) for row in entity_rows]
    entities: dict[str, list[Any]] = {key: [row[key] for row in rows] for key in rows[0]}
    # The server hands the number through to the on-demand views unchanged, and they read a bare
    # number as epoch seconds, the JSON form of a UnixTimestamp.
    entities["request_time"] = [int(pd.Timestamp(value).timestamp()) for value in entities["request_time"]]
    body = json.dumps({"feature_service": feature_service, "entities": entities, "full_feature_names": True}).encode()
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/get-online-features", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            payload = json.loads(response.read())
    except OSError as error:
        raise TransientError(f"feature server {base_url} failed to respond to /get-online-features: {error}") from error
    return _frame_from_server_payload(payload, rows)


def predict_http(base_url: str, loaded: LoadedModel, entity_rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Like :func:`predict_online`, with features read from a ``feast serve`` server.

    NOTE: unlike the in-process path, stale values are not blanked here; the age columns show them.
    """
    rows = [_request_row(row, datetime.now(UTC)) for row in entity_rows]
    return _predictions(loaded, get_online_features_http(base_url, rows), rows)


def _predictions(loaded: LoadedModel, features: pd.DataFrame, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    for column in loaded.feature_columns:
        if column not in features.columns:
            features[column] = np.nan
    horizon = pd.Timedelta(seconds=loaded.metadata["horizon_seconds"])
    request_times = pd.to_datetime([row["request_time"] for row in rows], utc=True)
    result = pd.DataFrame(
        {
            "sensor_id": [row["sensor_id"] for row in rows],
            "site_id": [row["site_id"] for row in rows],
            "pond_id": [row["pond_id"] for row in rows],
            "request_time": request_times,
            TARGET_COLUMN: features[TARGET_COLUMN].astype(float).to_numpy(),
            PREDICTION_COLUMN: predict_frame(loaded.model, loaded.feature_columns, features.astype({TARGET_COLUMN: float})),
            "target_time": request_times + horizon,
        }
    )
    for column in [c for c in features.columns if c.endswith("__age_seconds")]:
        result[column] = features[column].to_numpy()
    return result


def _request_row(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    request = {key: row[key] for key in ("sensor_id", "site_id", "pond_id")}
    request["request_time"] = row.get("request_time") or now
    request["requested_water_temp_c"] = row.get("requested_water_temp_c", float("nan"))
    return request


def _check_fingerprint_or_raise(service: Any, loaded: LoadedModel) -> None:
    refs = [f"{p.name}:{f.name}" for p in service.feature_view_projections for f in p.features]
    fingerprint = hashlib.sha256("\n".join(refs).encode()).hexdigest()[:16]
    if fingerprint != loaded.metadata["feature_service_fingerprint"]:
        message = (
            f"feature service {service.name!r} selects other features than the model "
            f"{loaded.metadata['model_name']!r} was trained on ({loaded.metadata['feature_service']!r}); "
            "retrain the model or pin the matching service version"
        )
        raise TerminalError(message)


def _frame_from_server_payload(payload: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    names: list[str] = payload["metadata"]["feature_names"]
    now = datetime.now(UTC).timestamp()
    columns: dict[str, Any] = {}
    ages: dict[str, Any] = {}
    for name, result in zip(names, payload["results"], strict=True):
        values = pd.Series(result["values"], dtype="object")
        if "__" not in name:
            columns[name] = values
            continue
        view, feature = name.split("__", 1)
        if feature in columns:
            continue
        columns[feature] = values if feature in ("site_id", "pond_id") else pd.to_numeric(values, errors="coerce")
        stamps = pd.to_datetime(pd.Series(result.get("event_timestamps", [None] * len(rows))), utc=True, errors="coerce")
        # The server reports the epoch (1970) for a view without a stored value.
        seconds = stamps.map(lambda stamp: stamp.timestamp() if pd.notna(stamp) and stamp.year > 1970 else np.nan)
        ages.setdefault(f"{view}__age_seconds", (now - seconds.astype(float)).to_numpy())
    return pd.DataFrame({**columns, **ages})
