"""Every notebook in notebooks/ runs top to bottom in test mode under papermill.

New notebooks are picked up by the glob: nothing to edit here. nbval runs them a second time
(``make test`` passes ``notebooks --nbval-lax``). Executed copies go to a temporary folder.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOK_FILES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
# Whole-notebook limit in test mode; the course's target is 90 s on 2 cores, this leaves headroom
# for a busy CI machine. Override with COURSE_NOTEBOOK_LIMIT_S.
LIMIT_S = int(os.environ.get("COURSE_NOTEBOOK_LIMIT_S", "180"))
# One cell's limit. No cell takes over 25 s in test mode; a cell that builds ipywidgets (an Output widget
# written to from the kernel) has twice stalled for about 170 s under papermill in CI while the same
# cell ran at once under nbval and in 3 isolated papermill runs: the known, open nbclient issue
# jupyter/nbclient#312. Such a stall ends the attempt here, and the notebook is run once more with a
# fresh kernel; a notebook that fails or stalls twice fails the test.
CELL_LIMIT_S = int(os.environ.get("COURSE_CELL_LIMIT_S", "60"))
KERNEL = "llm-course"


def parameters_cell(nb):
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    return cells[0] if len(cells) == 1 else None


def test_notebooks_are_found():
    assert NOTEBOOKS / "00_start_here.ipynb" in NOTEBOOK_FILES


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_is_clean_and_parameterised(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert not [c for c in nb.cells if c.cell_type == "code" and c.outputs], "store notebooks without outputs"
    cell = parameters_cell(nb)
    assert cell is not None, "exactly one cell must carry the 'parameters' tag"
    assert "SMOKE" in cell.source and "COURSE_SMOKE" in cell.source, (
        "the parameters cell must define SMOKE from $COURSE_SMOKE so nbval runs the notebook small too")
    assert nb.metadata.kernelspec.name == KERNEL


@pytest.mark.notebook
@pytest.mark.timeout(LIMIT_S)
@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_runs_in_test_mode(path, tmp_path, notebook_seconds):
    import papermill as pm

    before = hashlib.sha256(path.read_bytes()).hexdigest()
    for attempt in (1, 2):
        start = time.perf_counter()
        try:
            pm.execute_notebook(
                str(path), str(tmp_path / path.name), parameters={"SMOKE": True}, kernel_name=KERNEL,
                cwd=str(NOTEBOOKS), progress_bar=False, execution_timeout=CELL_LIMIT_S, start_timeout=120,
            )
            break
        except TimeoutError as stall:  # nbclient's CellTimeoutError: a cell ran past CELL_LIMIT_S
            if attempt == 2:
                raise
            warnings.warn(f"{path.name}: a cell stalled past {CELL_LIMIT_S} s ({stall}); running it again")
    notebook_seconds[path.name]["papermill"] = time.perf_counter() - start
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before, "the source notebook was modified"
    executed = nbformat.read(tmp_path / path.name, as_version=4)
    assert any(c.get("outputs") for c in executed.cells if c.cell_type == "code")
