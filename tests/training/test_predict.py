"""Online inference: one forecast per sensor with freshness, in process and through `feast serve`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from aquafs.errors import TerminalError
from aquafs.feast_store import FEATURE_REPO
from tests.training.conftest import PreparedStore
from training.predict import (
    PREDICTION_COLUMN,
    LoadedModel,
    get_online_features_http,
    load_model,
    predict_http,
    predict_online,
    sensor_entity_rows,
)
from training.train import train_model

pytestmark = pytest.mark.services

KU_SENSORS = {"ku-mwq/pond-1/depth-30cm", "ku-mwq/pond-1/depth-60cm"}
SERVER_START_TIMEOUT_SECONDS = 90


@pytest.fixture(scope="module")
def online(prepared_store: PreparedStore, tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadedModel, datetime]:
    """Train a small model and materialise the last three hours of history into Redis."""
    models_dir = tmp_path_factory.mktemp("models")
    with prepared_store.connect() as conn:
        train_model(prepared_store.store, conn, models_dir=models_dir, max_iter=40)
    end = prepared_store.ku_mwq_end
    prepared_store.store.materialize(end - timedelta(hours=3), end + timedelta(seconds=1))
    return load_model(models_dir=models_dir), end + timedelta(minutes=2)


def test_one_prediction_per_sensor_with_age(prepared_store: PreparedStore, online: tuple[LoadedModel, datetime]) -> None:
    loaded, now = online
    with prepared_store.connect() as conn:
        rows = sensor_entity_rows(conn, now)

    predictions = predict_online(prepared_store.store, loaded, rows, now=now)

    assert len(rows) == 4
    assert list(predictions["sensor_id"]) == [row["sensor_id"] for row in rows]
    fresh = predictions[predictions["sensor_id"].isin(KU_SENSORS)]
    assert fresh[PREDICTION_COLUMN].between(15.0, 26.0).all()
    assert (fresh["sensor_readings__age_seconds"] <= 120.0 + 60.0).all()
    assert (fresh["target_time"] - fresh["request_time"] == timedelta(hours=1)).all()
    # The aquaponics sensors stopped a year later but were not materialised: no value, no forecast.
    stale = predictions[~predictions["sensor_id"].isin(KU_SENSORS)]
    assert stale[PREDICTION_COLUMN].isna().all()
    assert "request_time_features__age_seconds" not in predictions.columns


def test_stale_features_give_no_prediction(prepared_store: PreparedStore, online: tuple[LoadedModel, datetime]) -> None:
    loaded, now = online
    later = now + timedelta(hours=2)
    with prepared_store.connect() as conn:
        rows = [row for row in sensor_entity_rows(conn, later) if row["sensor_id"] in KU_SENSORS]

    predictions = predict_online(prepared_store.store, loaded, rows, now=later)

    assert predictions[PREDICTION_COLUMN].isna().all()
    assert (predictions["sensor_readings__age_seconds"] > 3600).all()


def test_changed_feature_list_is_rejected(prepared_store: PreparedStore, online: tuple[LoadedModel, datetime]) -> None:
    loaded, now = online
    tampered = LoadedModel(model=loaded.model, metadata={**loaded.metadata, "feature_service_fingerprint": "0" * 16})

    with pytest.raises(TerminalError, match="retrain the model"):
        predict_online(prepared_store.store, tampered, [], now=now)


@pytest.fixture(scope="module")
def feature_server(prepared_store: PreparedStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run `feast serve` on a free loopback port against the test's database and project."""
    config_dir = tmp_path_factory.mktemp("feast_config")
    yaml_text = (FEATURE_REPO / "feature_store.yaml").read_text()
    (config_dir / "feature_store.yaml").write_text(
        yaml_text.replace("project: aquaculture", f"project: {prepared_store.project}")
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, **prepared_store.settings.feast_environment()}
    feast = Path(sys.executable).parent / "feast"
    process = subprocess.Popen(
        [str(feast), "-f", str(config_dir / "feature_store.yaml"), "serve", "-h", "127.0.0.1", "-p", str(port), "--no-access-log"],
        cwd=FEATURE_REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port_or_fail(process, port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_feature_server_matches_in_process(
    prepared_store: PreparedStore, online: tuple[LoadedModel, datetime], feature_server: str
) -> None:
    loaded, now = online
    with prepared_store.connect() as conn:
        rows = [row for row in sensor_entity_rows(conn, now) if row["sensor_id"] in KU_SENSORS]

    served = get_online_features_http(feature_server, rows)
    in_process = predict_online(prepared_store.store, loaded, rows, now=now)
    over_http = predict_http(feature_server, loaded, rows)

    assert list(served["water_temp_c"]) == list(in_process["water_temp_c"])
    assert served["sensor_readings__age_seconds"].notna().all()
    np.testing.assert_allclose(over_http[PREDICTION_COLUMN], in_process[PREDICTION_COLUMN], rtol=0, atol=1e-9)


def _wait_for_port_or_fail(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            pytest.fail(f"feast serve exited with {process.returncode}:\n{output[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    pytest.fail(f"feast serve did not listen on 127.0.0.1:{port} within {SERVER_START_TIMEOUT_SECONDS} s")

