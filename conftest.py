"""Shared test set-up for tests/ and the nbval run over notebooks/: offline, small, a test-only
cache folder, and the table of notebook execution times printed at the end."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

# seconds per notebook, by runner: {"01_word2vec.ipynb": {"papermill": 31.2, "nbval": 30.8}}
NOTEBOOK_SECONDS: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))


def pytest_configure(config):
    # Set before any kernel starts (papermill's and nbval's inherit it): notebooks run small and
    # offline, and share a test-only cache (kept between runs, ignored by git) so that a corpus
    # is tokenised once per machine rather than once per notebook run.
    os.environ.setdefault("COURSE_SMOKE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("COURSE_CACHE_DIR", str(ROOT / ".cache" / "test"))


@pytest.fixture
def notebook_seconds():
    """Where a test records how long a notebook took: notebook_seconds[name][runner] = seconds."""
    return NOTEBOOK_SECONDS


def pytest_runtest_logreport(report):
    # nbval makes one test item per cell: add the cells' times up per notebook.
    if report.when == "call" and ".ipynb::" in report.nodeid:
        NOTEBOOK_SECONDS[Path(report.nodeid.split("::")[0]).name]["nbval"] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not NOTEBOOK_SECONDS:
        return
    rows = sorted(NOTEBOOK_SECONDS.items(), key=lambda kv: -sum(kv[1].values()))
    tr = terminalreporter
    tr.section("notebook execution times (test mode), slowest first")
    tr.write_line(f"{'notebook':<44} {'papermill s':>12} {'nbval s':>9} {'total s':>9}")
    for name, secs in rows:
        tr.write_line(f"{name:<44} {secs.get('papermill', 0):>12.1f} {secs.get('nbval', 0):>9.1f} "
                      f"{sum(secs.values()):>9.1f}")
