"""The README's main job, run twice end to end on the real data, checked by its output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from aquafs.settings import PostgresSettings, Settings

pytestmark = [pytest.mark.services, pytest.mark.slow]

AQUAFS = str(Path(sys.executable).parent / "aquafs")
REPLAY_LIMIT = 2000
E2E_REDIS_DB = 12


def run_main_job(env: dict[str, str], artifacts: Path, data_dir: Path) -> str:
    result = subprocess.run(
        [AQUAFS, "demo", "--data-dir", str(data_dir), "--artifacts-dir", str(artifacts), "--replay-limit", str(REPLAY_LIMIT)],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def summary_value(output: str, label: str) -> str:
    match = re.search(rf"^  {re.escape(label)}\s+(.+)$", output, re.MULTILINE)
    assert match, f"summary line {label!r} missing from:\n{output[-3000:]}"
    return match.group(1).strip()


def test_main_job_twice_on_real_data(
    settings: Settings,
    database_factory: Callable[[], PostgresSettings],
    unique_name: Callable[[str], str],
    data_dir: Path,
    tmp_path: Path,
) -> None:
    database = database_factory()
    env = {
        **os.environ,
        "AQUA_POSTGRES__DATABASE": database.database,
        "AQUA_REDIS__DB": str(E2E_REDIS_DB),
        "AQUA_KAFKA__READINGS_TOPIC": unique_name("e2e_readings"),
        "AQUA_KAFKA__DEAD_LETTER_TOPIC": unique_name("e2e_dlq"),
        "AQUA_KAFKA__CONSUMER_GROUP": unique_name("e2e_group"),
    }

    first = run_main_job(env, tmp_path, data_dir)
    second = run_main_job(env, tmp_path, data_dir)

    for step in range(1, 10):
        assert f"[{step}/9]" in first
    assert summary_value(first, "history rows read") == "26001"
    assert summary_value(first, "history rows loaded now / already stored") == "19389 / 0"
    assert summary_value(second, "history rows loaded now / already stored") == "0 / 19389"
    assert summary_value(first, "history rows rejected").startswith("6612 ")
    assert summary_value(first, "feature rows written now") == "19389"
    assert summary_value(second, "feature rows written now") == "0"
    consumed, new_rows, dead_lettered = summary_value(first, "kafka messages consumed / new offline rows / dead-lettered").split(" / ")
    assert int(consumed) == REPLAY_LIMIT
    assert int(new_rows) == 0  # the CSV load already stored every valid reading
    assert int(consumed) - int(dead_lettered) > 0
    assert summary_value(second, "kafka messages consumed / new offline rows / dead-lettered").split(" / ")[1] == "0"
    assert summary_value(first, "data quality").startswith("8 of 8 suites passed")
    assert (tmp_path / "data_docs" / "index.html").is_file()
    assert (tmp_path / "models" / "water_temp_60m.joblib").is_file()
    assert re.search(r"model: MAE \d+\.\d+ °C", first)
    assert re.search(r"persistence: MAE \d+\.\d+ °C", first)
    forecasts = re.findall(r"^\s*(\S+/\S+/\S+)\s+\S+ \S+\s+(\d+\.\d+)\s+(\d+\.\d+)\s+60\.0$", first, re.MULTILINE)
    assert {sensor for sensor, _, _ in forecasts} == {
        "ku-mwq/pond-1/depth-30cm",
        "ku-mwq/pond-1/depth-60cm",
        "udanor-aquaponics/pond-11/node-1",
        "udanor-aquaponics/pond-12/node-1",
    }
