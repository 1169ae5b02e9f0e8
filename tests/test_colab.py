"""Every notebook opens in Colab and installs the course there; where the course is installed, the
install cell does nothing. New notebooks are picked up by the glob (stamp them with
``python -m tools.colab``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
import pytest

from tools import colab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_FILES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def colab_cells(nb):
    return [c for c in nb.cells if colab.TAG in c.get("metadata", {}).get("tags", [])]


def test_the_repository_is_set_in_pyproject():
    cfg = colab.settings()
    assert cfg["repository"].startswith("https://github.com/")
    url = colab.colab_url(cfg["repository"], cfg["branch"], "00_start_here.ipynb")
    assert url.startswith("https://colab.research.google.com/github/")
    assert url.endswith(f"/blob/{cfg['branch']}/notebooks/00_start_here.ipynb")


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_is_stamped_and_up_to_date(path):
    assert not colab.stamp(path, check=True), (
        f"{path.name} has no Colab link and install cell, or an old one: run `python -m tools.colab`")
    nb = nbformat.read(path, as_version=4)
    badge, install = colab_cells(nb)
    assert nb.cells[0] is badge and badge.cell_type == "markdown"
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells[0] is install, "the install cell must be the first code cell"
    cfg = colab.settings()
    assert colab.colab_url(cfg["repository"], cfg["branch"], path.name) in badge.source
    assert "COURSE_REPOSITORY" in install.source and cfg["repository"] in install.source
    assert "helpers.data" in install.source and "install" in install.source


def test_check_mode_fails_on_an_unstamped_notebook(tmp_path):
    path = tmp_path / "99_new.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), path)
    assert colab.main(["--check", str(path)]) == 1
    assert colab.main([str(path)]) == 0  # stamps it
    once = path.read_text()
    assert colab.main([str(path)]) == 0 and path.read_text() == once, "stamping twice changes nothing"
    assert colab.main(["--check", str(path)]) == 0
    nb = nbformat.read(path, as_version=4)
    assert len(colab_cells(nb)) == 2 and len(nb.cells) == 3 and nb.cells[-1].source == "x = 1"


def test_restamping_replaces_the_cells(tmp_path):
    path = tmp_path / "98_moved.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title")])
    nb = colab.stamped(nb, path.name, "https://github.com/old/place", "main")
    nbformat.write(nb, path)
    assert colab.stamp(path)  # the URL in pyproject differs from the old one
    nb = nbformat.read(path, as_version=4)
    assert len(colab_cells(nb)) == 2 and "old/place" not in nbformat.writes(nb)


def test_install_cell_does_nothing_when_the_course_is_installed(monkeypatch):
    ran = []

    def refuse(*args, **kwargs):
        ran.append(args)
        raise AssertionError(f"the install cell ran {args} although the course is installed")

    for name in ("run", "call", "check_call", "check_output", "Popen"):
        monkeypatch.setattr(subprocess, name, refuse)
    nb = nbformat.read(NOTEBOOK_FILES[0], as_version=4)
    install = colab_cells(nb)[1]
    exec(compile(install.source, "colab-install", "exec"), {"__name__": "__main__"})
    assert ran == []


def run_install_cell(monkeypatch, cwd, returncode=0, env=None):
    """Run notebook 00's install cell as if ``helpers`` were not installed; returns the commands it ran."""
    import builtins

    ran = []
    real_import = builtins.__import__
    installed = {"done": False}

    def fake_import(name, *args, **kwargs):
        if name.split(".")[0] == "helpers" and not installed["done"]:
            raise ImportError("No module named 'helpers'")
        return real_import(name, *args, **kwargs)

    def fake_run(cmd, check=False, **kwargs):
        ran.append(cmd)
        if cmd[1:3] == ["-m", "helpers.data"]:
            installed["done"] = True
        return subprocess.CompletedProcess(cmd, returncode, stdout="", stderr="ERROR: could not reach it")

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.chdir(cwd)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOK_FILES[0], as_version=4)
    exec(compile(colab_cells(nb)[1].source, "colab-install", "exec"), {"__name__": "__main__"})
    return ran


def test_install_cell_installs_from_the_repository_when_the_course_is_missing(monkeypatch, tmp_path):
    """With ``helpers`` unimportable and no checkout around, the cell runs pip on the repository, then the
    data install."""
    ran = run_install_cell(monkeypatch, tmp_path)
    cfg = colab.settings()
    assert ran[0][1:5] == ["-m", "pip", "install", "-q"]
    assert ran[0][-1] == f"git+{cfg['repository']}@{cfg['branch']}"
    assert ran[1][1:] == ["-m", "helpers.data", "install"]


def test_install_cell_prefers_the_checkout_it_sits_in(monkeypatch):
    ran = run_install_cell(monkeypatch, ROOT / "notebooks")
    assert ran[0][-1] == str(ROOT)


def test_install_cell_url_can_be_overridden(monkeypatch, tmp_path):
    ran = run_install_cell(monkeypatch, tmp_path, env={"COURSE_REPOSITORY": "https://github.com/me/fork",
                                                        "COURSE_BRANCH": "dev"})
    assert ran[0][-1] == "git+https://github.com/me/fork@dev"


def test_install_cell_says_what_to_do_when_pip_fails(monkeypatch, tmp_path):
    with pytest.raises(RuntimeError) as info:
        run_install_cell(monkeypatch, tmp_path, returncode=1)
    message = str(info.value)
    assert "could not reach it" in message and "pip install /path/to/the/course" in message
    assert "COURSE_REPOSITORY" in message
