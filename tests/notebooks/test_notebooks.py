"""Execute each notebook against a throwaway database holding the real history."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.training.conftest import PreparedStore

pytestmark = pytest.mark.services

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
CELL_TIMEOUT_SECONDS = 120


def run_notebook(name: str) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    # The kernel is the venv's python3 kernelspec and inherits this process's environment.
    NotebookClient(notebook, timeout=CELL_TIMEOUT_SECONDS, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}).execute()
    return notebook


def outputs_text(notebook: nbformat.NotebookNode) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def image_count(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", []))


@pytest.fixture
def notebook_env(prepared_store: PreparedStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AQUA_POSTGRES__DATABASE", prepared_store.settings.postgres.database)
    monkeypatch.setenv("AQUA_FEAST_PROJECT", prepared_store.project)
    monkeypatch.setenv("AQUA_MODELS_DIR", str(tmp_path))
    return tmp_path


def test_explore_notebook_runs(notebook_env: Path) -> None:
    notebook = run_notebook("01_explore_sensor_data.ipynb")

    text = outputs_text(notebook)
    assert "ku-mwq/pond-1/depth-30cm" in text
    assert "expect_column_values_to_be_between" in text
    assert image_count(notebook) >= 2


def test_train_and_online_notebooks_run(notebook_env: Path) -> None:
    trained = run_notebook("02_train_water_quality_model.ipynb")
    online = run_notebook("03_online_predictions.ipynb")

    assert (notebook_env / "water_temp_60m.joblib").is_file()
    assert "persistence" in outputs_text(trained)
    assert image_count(trained) >= 2
    assert "predicted_water_temp_c" in outputs_text(online)
    assert image_count(online) >= 1
