"""Train the 60-minute water-temperature forecast (``aquafs train``).

Steps: label events from ``water_readings``; features from Feast's point-in-time join with the
``water_quality_training_v1`` service; a time split with a gap of one horizon; the training-set
checkpoint (stops on bad data); a :class:`~sklearn.ensemble.HistGradientBoostingRegressor` on the
change from the current temperature; metrics against persistence and seasonal-naive baselines on
the test period; the model (joblib) and its metadata (JSON) under ``artifacts/models/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import joblib
import numpy as np
import pandas as pd
import psycopg
from feast import FeatureStore
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from aquafs.errors import TerminalError
from quality.checkpoints import check_training_set_or_raise
from training.dataset import (
    TARGET_COLUMN,
    TRAINING_SERVICE,
    LabelSpec,
    feature_frame,
    label_events,
    model_feature_names,
)

logger = logging.getLogger(__name__)

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
DEFAULT_MODELS_DIR: Final = REPO_ROOT / "artifacts" / "models"
DEFAULT_MODEL_NAME: Final = "water_temp_60m"
DEFAULT_SITE: Final = "ku-mwq"


@dataclass(frozen=True)
class Metrics:
    """Errors on the test period, °C (R² is dimensionless)."""

    mae: float
    rmse: float
    r2: float
    rows: int


@dataclass(frozen=True)
class TrainingResult:
    """Paths and metadata of a model saved by :func:`train_model`."""

    model_path: Path
    metadata_path: Path
    metadata: dict[str, Any]


def train_model(
    store: FeatureStore,
    conn: psycopg.Connection,
    *,
    model_name: str = DEFAULT_MODEL_NAME,
    sensor_ids: Sequence[str] | None = None,
    site_id: str | None = DEFAULT_SITE,
    spec: LabelSpec | None = None,
    train_fraction: float = 0.7,
    models_dir: Path = DEFAULT_MODELS_DIR,
    events: pd.DataFrame | None = None,
    max_iter: int = 150,
) -> TrainingResult:
    """Train, evaluate and save the forecast model.

    Args:
        sensor_ids: sensors to train on; default: every sensor of ``site_id``. A single time split
            over sensors of different periods would test one dataset on another, so by default
            only the KU-MWQ site (one week, two depths) is used.
        events: label events to use instead of building them from ``water_readings``.
        max_iter: boosting iterations; fitting time grows linearly with it.

    Raises:
        DataQualityError: the labelled frame or its split failed the training-set suite.
        TerminalError: there are no label events at all.
    """
    spec = spec or LabelSpec()
    if events is None:
        if sensor_ids is None and site_id is not None:
            sensor_ids = _sensors_of_site(conn, site_id)
        events = label_events(conn, spec, sensor_ids)
    if events.empty:
        raise TerminalError(f"no label events for sensors {sensor_ids}: is water_readings loaded (`aquafs load`)?")

    frame = feature_frame(store, events, TRAINING_SERVICE)
    is_train, is_test, cutoff = time_split(frame, spec, train_fraction)
    used = frame[is_train | is_test].reset_index(drop=True)
    check_training_set_or_raise(used, is_train[is_train | is_test].reset_index(drop=True))
    train, test = frame[is_train], frame[is_test]

    service = store.get_feature_service(TRAINING_SERVICE)
    fit_rows = train[train[TARGET_COLUMN].notna()]
    # Features that the training sensors never measure (no dissolved oxygen at KU-MWQ) carry no
    # information, and scikit-learn's binning fails on a column without any value.
    columns = [name for name in model_feature_names(service) if fit_rows[name].notna().any()]
    model = HistGradientBoostingRegressor(max_iter=max_iter, learning_rate=0.1, random_state=0)
    # The target is the change from the current reading: persistence is a strong forecast at this
    # horizon, and trees extrapolate poorly in absolute temperature.
    model.fit(fit_rows[columns].to_numpy(dtype=float), (fit_rows["label"] - fit_rows[TARGET_COLUMN]).to_numpy())

    predicted = predict_frame(model, columns, test)
    metrics = {
        "model": _metrics(test["label"], predicted),
        "persistence": _metrics(test["label"], test[TARGET_COLUMN]),
        "seasonal_naive_24h": _metrics(test["label"], test["seasonal_naive"]),
    }
    metadata = _metadata(model_name, service, columns, spec, train, test, cutoff, metrics)
    return _save(model, metadata, models_dir, model_name)


def time_split(frame: pd.DataFrame, spec: LabelSpec, train_fraction: float) -> tuple[pd.Series, pd.Series, pd.Timestamp]:
    """Split by time: train labels end before ``cutoff``, test rows start one horizon after it.

    Rows between are dropped, so the latest train label lies before the earliest test feature time.
    """
    start, end = frame["event_timestamp"].min(), frame["event_timestamp"].max()
    cutoff = start + (end - start) * train_fraction
    is_train = frame["label_timestamp"] < cutoff
    is_test = frame["event_timestamp"] >= cutoff + pd.Timedelta(spec.horizon)
    return is_train, is_test, cutoff


def predict_frame(model: HistGradientBoostingRegressor, columns: Sequence[str], frame: pd.DataFrame) -> np.ndarray:
    """Return forecast temperatures (°C): the current reading plus the predicted change.

    Rows without a current reading get NaN, because the model predicts a change from it.
    """
    change = model.predict(frame[list(columns)].to_numpy(dtype=float))
    return frame[TARGET_COLUMN].to_numpy(dtype=float) + change


def _metrics(actual: pd.Series, predicted: pd.Series | np.ndarray) -> dict[str, float]:
    actual_values = np.asarray(actual, dtype=float)
    predicted_values = np.asarray(predicted, dtype=float)
    mask = ~(np.isnan(actual_values) | np.isnan(predicted_values))
    if not mask.any():
        return asdict(Metrics(mae=float("nan"), rmse=float("nan"), r2=float("nan"), rows=0))
    y, y_hat = actual_values[mask], predicted_values[mask]
    return asdict(
        Metrics(
            mae=float(mean_absolute_error(y, y_hat)),
            rmse=float(np.sqrt(mean_squared_error(y, y_hat))),
            r2=float(r2_score(y, y_hat)),
            rows=int(mask.sum()),
        )
    )


def _metadata(
    model_name: str,
    service: Any,
    columns: list[str],
    spec: LabelSpec,
    train: pd.DataFrame,
    test: pd.DataFrame,
    cutoff: pd.Timestamp,
    metrics: dict[str, dict[str, float]],
) -> dict[str, Any]:
    feature_refs = [f"{p.name}:{f.name}" for p in service.feature_view_projections for f in p.features]
    return {
        "model_name": model_name,
        "trained_at": datetime.now(UTC).isoformat(),
        "target": f"{TARGET_COLUMN} {int(spec.horizon.total_seconds() // 60)} min ahead at the sensor, °C",
        "model_output": "current water_temp_c + predicted change",
        "horizon_seconds": spec.horizon.total_seconds(),
        "label_tolerance_seconds": spec.tolerance.total_seconds(),
        "entity_step_seconds": spec.step.total_seconds(),
        "feature_service": service.name,
        "feature_service_version": service.name.rsplit("_", 1)[-1],
        "feature_service_fingerprint": hashlib.sha256("\n".join(feature_refs).encode()).hexdigest()[:16],
        "feature_refs": feature_refs,
        "feature_columns": columns,
        "sensors": sorted(set(train["sensor_id"]) | set(test["sensor_id"])),
        "train_range": [train["event_timestamp"].min().isoformat(), train["label_timestamp"].max().isoformat()],
        "test_range": [test["event_timestamp"].min().isoformat(), test["label_timestamp"].max().isoformat()],
        "split_cutoff": cutoff.isoformat(),
        "train_rows": len(train),
        "test_rows": len(test),
        "metrics": metrics,
    }


def _save(model: HistGradientBoostingRegressor, metadata: dict[str, Any], models_dir: Path, name: str) -> TrainingResult:
    models_dir.mkdir(parents=True, exist_ok=True)
    model_path = models_dir / f"{name}.joblib"
    metadata_path = models_dir / f"{name}.json"
    joblib.dump(model, model_path)
    metadata_path.write_text(json.dumps(metadata, indent=2, allow_nan=True) + "\n")
    logger.info(
        "saved model %s: test MAE %.3f °C (persistence %.3f, seasonal-naive %.3f)",
        model_path,
        metadata["metrics"]["model"]["mae"],
        metadata["metrics"]["persistence"]["mae"],
        metadata["metrics"]["seasonal_naive_24h"]["mae"],
    )
    return TrainingResult(model_path=model_path, metadata_path=metadata_path, metadata=metadata)


def _sensors_of_site(conn: psycopg.Connection, site_id: str) -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT sensor_id FROM water_readings WHERE site_id = %s ORDER BY sensor_id", (site_id,))
        return [row[0] for row in cur.fetchall()]
