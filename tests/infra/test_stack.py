"""The no-Docker service runner: idempotent start, clear errors, status."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK = [sys.executable, str(REPO_ROOT / "infra" / "stack.py")]


def run_stack(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STACK, *args], capture_output=True, text=True, timeout=180, env={**os.environ, **(env or {})}
    )


@pytest.mark.services
def test_up_twice_changes_nothing() -> None:
    before = run_stack("status")
    again = run_stack("up")
    after = run_stack("status")

    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already running") == 3
    pids_before = re.findall(r"pid (\d+)", before.stdout)
    assert len(pids_before) == 3
    assert re.findall(r"pid (\d+)", after.stdout) == pids_before


def test_port_taken_names_service_and_port(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = run_stack(
            "up", "redis", env={"AQUA_STACK_DIR": str(tmp_path), "AQUA_REDIS__PORT": str(port)}
        )

    assert result.returncode == 1
    assert f"redis: port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "AQUA_REDIS__PORT" in result.stderr


def test_invalid_port_setting_is_reported(tmp_path: Path) -> None:
    result = run_stack(
        "status", env={"AQUA_STACK_DIR": str(tmp_path), "AQUA_KAFKA__PORT": "ninety", "AQUA_REDIS__PORT": "0"}
    )

    assert result.returncode == 1
    assert "AQUA_KAFKA__PORT='ninety' is not an integer port" in result.stderr
    assert "AQUA_REDIS__PORT=0 is outside 1..65535" in result.stderr


def test_down_without_a_stack_stops_nothing(tmp_path: Path) -> None:
    result = run_stack("down", "redis", "kafka", env={"AQUA_STACK_DIR": str(tmp_path)})

    assert result.returncode == 0
    assert "redis not running" in result.stdout
    assert "kafka not running" in result.stdout


def test_unknown_service_is_rejected() -> None:
    result = run_stack("up", "mongodb")

    assert result.returncode == 2
    assert "unknown service 'mongodb'" in result.stderr
