"""The TimescaleDB variant of the migrations, run in PGlite by sql/timescale_check/check.mjs."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from aquafs.migrations import SQL_DIR

CHECK_DIR = SQL_DIR / "timescale_check"


def test_timescale_variant_passes_pglite_check() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the TimescaleDB check needs Node.js 20 or later", pytrace=False)
    if not (CHECK_DIR / "node_modules" / "@unni-craftsman" / "pglite").is_dir():
        pytest.fail(
            f"PGlite is not installed; run `npm ci --prefix {CHECK_DIR}` (or `npm ci` in {CHECK_DIR})",
            pytrace=False,
        )

    completed = subprocess.run(
        [node, "check.mjs"], cwd=CHECK_DIR, capture_output=True, text=True, timeout=300, check=False
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "timescale check passed" in completed.stdout
