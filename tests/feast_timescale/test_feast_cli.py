"""The Feast CLI from the repo folder against the local stack: apply, plan, materialize, serve."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from aquafs.feast_store import FEATURE_REPO
from aquafs.migrations import apply_migrations
from aquafs.settings import PostgresSettings, Settings
from feast_timescale import write_arrow_table
from tests.feast_timescale.test_point_in_time import SENSOR_30, T0, reading_rows

pytestmark = [pytest.mark.services, pytest.mark.slow]

FEAST = str(Path(sys.executable).parent / "feast")
# A Redis database of its own: the CLI uses the project name from feature_store.yaml, so its
# online keys would otherwise meet those of the demo.
CLI_TEST_REDIS_DB = 13


@pytest.fixture
def cli_env(settings: Settings, database_factory: Callable[[], PostgresSettings]) -> dict[str, str]:
    database = database_factory()
    apply_migrations(database)
    local = settings.model_copy(
        update={"postgres": database, "redis": settings.redis.model_copy(update={"db": CLI_TEST_REDIS_DB})}
    )
    import psycopg
    import pyarrow as pa

    with psycopg.connect(database.conninfo()) as conn:
        frame = reading_rows(SENSOR_30, [T0, T0 + timedelta(minutes=1)], [20.0, 21.5])
        write_arrow_table(conn, "water_readings", pa.Table.from_pandas(frame, preserve_index=False))
    return {**os.environ, **local.feast_environment()}


def feast(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FEAST, *args], cwd=FEATURE_REPO, env=env, capture_output=True, text=True, timeout=240)


def test_apply_plan_and_materialize(cli_env: dict[str, str]) -> None:
    applied = feast(cli_env, "apply")
    assert applied.returncode == 0, applied.stderr[-3000:]

    planned = feast(cli_env, "plan")
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert "No changes to registry" in planned.stdout

    start, end = T0 - timedelta(hours=1), T0 + timedelta(hours=1)
    materialized = feast(cli_env, "materialize", start.isoformat(), end.isoformat(), "--views", "sensor_readings")
    assert materialized.returncode == 0, materialized.stderr[-3000:]

    incremental = feast(cli_env, "materialize-incremental", (end + timedelta(hours=1)).isoformat(), "--views", "sensor_readings")
    assert incremental.returncode == 0, incremental.stderr[-3000:]


def test_serve_answers_online_requests(cli_env: dict[str, str]) -> None:
    assert feast(cli_env, "apply").returncode == 0
    start, end = T0 - timedelta(hours=1), T0 + timedelta(hours=1)
    assert feast(cli_env, "materialize", start.isoformat(), end.isoformat(), "--views", "sensor_readings").returncode == 0
    port = _free_port()
    server = subprocess.Popen(
        [FEAST, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        cwd=FEATURE_REPO, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        _wait_for_http(f"http://127.0.0.1:{port}/health", server)
        body = json.dumps({"features": ["sensor_readings:water_temp_c"], "entities": {"sensor_id": [SENSOR_30]}})
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/get-online-features", data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
    finally:
        server.terminate()
        server.wait(timeout=30)

    names = answer["metadata"]["feature_names"]
    values = answer["results"][names.index("water_temp_c")]["values"]
    assert values == [21.5]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_http(url: str, server: subprocess.Popen[str], timeout_seconds: float = 90) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = server.stdout.read() if server.stdout else ""
            pytest.fail(f"feast serve exited with {server.returncode}:\n{output[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"feast serve did not respond at {url} within {timeout_seconds:.0f} s")
