"""The rendered course (``make render``): widgets become honest static HTML, key results reach the
report, and the page needs no widget script from a CDN."""

from __future__ import annotations

import json

import nbformat
import pytest

from helpers import report
from tools import render_course as rc

IMAGE = {"output_type": "display_data", "metadata": {},
         "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 500x250 with 1 Axes>"}}


def model(name: str, **state) -> dict:
    return {"model_name": name, "model_module": "@jupyter-widgets/controls",
            "model_module_version": "2.0.0", "state": state}


def widget_notebook() -> nbformat.NotebookNode:
    """An executed notebook as nbclient leaves it: an interact (slider + Output) and a tqdm bar."""
    state = {
        "box": model("VBoxModel", children=["IPY_MODEL_slider", "IPY_MODEL_out"]),
        "slider": model("FloatSliderModel", description="temperature", value=1.0, min=0.1, max=5.0,
                        step=0.1, readout_format=".2f"),
        "out": model("OutputModel", outputs=[IMAGE]),
        "bar": model("HBoxModel", children=["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]),
        "l": model("HTMLModel", value="counting words: 100%"),
        "p": model("FloatProgressModel", value=20.0, max=20.0),
        "r": model("HTMLModel", value="20/20 [00:00]"),
    }

    def view(model_id):
        return nbformat.v4.new_output("display_data", data={
            rc.VIEW_MIME: {"model_id": model_id, "version_major": 2, "version_minor": 0},
            "text/plain": "interactive(...)"})

    cells = [nbformat.v4.new_code_cell("interact(...)", outputs=[view("box")]),
             nbformat.v4.new_code_cell("tqdm(...)", outputs=[view("bar")]),
             nbformat.v4.new_code_cell("gone", outputs=[view("missing")])]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["widgets"] = {rc.STATE_MIME: {"state": state, "version_major": 2, "version_minor": 0}}
    return nb


def test_widgets_become_static_outputs():
    nb = rc.static_widgets(widget_notebook())
    assert "widgets" not in nb.metadata
    interact, bar, gone = (c.outputs for c in nb.cells)
    note = interact[0].data["text/html"]
    assert "needs a live kernel" in note and "temperature = 1.00" in note
    assert 'type="range"' in interact[1].data["text/html"] and "1.00" in interact[1].data["text/html"]
    assert interact[2].data["image/png"] == IMAGE["data"]["image/png"], "the figure the widget drew"
    assert len(bar) == 1 and "<progress" in bar[0].data["text/html"] and "counting words" in bar[0].data["text/html"]
    assert "needs a live kernel" not in bar[0].data["text/html"], "a progress bar takes no input"
    assert "state was not saved" in gone[0].data["text/html"]
    assert not any(rc.VIEW_MIME in o.get("data", {}) for c in nb.cells for o in c.outputs)
    nbformat.validate(nb)


def test_html_loads_no_widget_script():
    page = rc.to_html(widget_notebook(), "widgets", banner="*rendered*")
    assert "needs a live kernel" in page and "data:image/png;base64,iVBORw0KGgo=" in page
    assert "embed-amd.js" not in page and "unpkg.com" not in page and rc.VIEW_MIME not in page
    assert "require.min.js" not in page


def test_record_is_a_no_op_outside_the_renderer(tmp_path, monkeypatch):
    monkeypatch.delenv(report.REPORT_ENV, raising=False)
    assert report.record("x", 3) == 3
    path = tmp_path / "r.jsonl"
    monkeypatch.setenv(report.REPORT_ENV, str(path))
    import torch

    report.record("loss", torch.tensor(0.25))
    report.record("accuracy", [0.5, 0.75])
    report.record("loss", 0.125)
    assert report.read(path) == {"loss": 0.125, "accuracy": [0.5, 0.75]}


@pytest.mark.notebook
@pytest.mark.timeout(180)
def test_render_writes_html_and_report(tmp_path):
    """A small notebook through the real renderer: papermill, the llm-course kernel, nbconvert."""
    src = tmp_path / "notebooks" / "99_tiny.ipynb"
    src.parent.mkdir()
    cells = [
        nbformat.v4.new_code_cell('import os\nSMOKE = os.environ.get("COURSE_SMOKE", "0") == "1"',
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import ipywidgets as widgets\nimport matplotlib.pyplot as plt\n"
            "def show(n=3):\n    plt.figure(figsize=(2, 1)); plt.plot(range(n)); plt.title(f'n={n}'); plt.show()\n"
            "widgets.interact(show, n=widgets.IntSlider(value=3, min=1, max=9));"),
        nbformat.v4.new_code_cell('from helpers import report\nreport.record("smoke", SMOKE)\n'
                                  'report.record("answer", 42)'),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": rc.KERNEL, "display_name": "llm-course", "language": "python"}
    nbformat.write(nb, src)
    out = tmp_path / "rendered"
    result = rc.render([src], out, smoke=True, timeout=120)  # a hung cell fails the notebook, not the suite
    row = result["notebooks"][0]
    assert row["status"] == "ok", row["error"]
    assert row["key_results"] == {"smoke": True, "answer": 42}
    assert row["device"] and row["seconds"] > 0
    assert row["cpu_seconds"] > 0 and len(row["load"]) == 2  # the kernel's CPU time, how busy the machine was
    assert json.loads((out / "report.json").read_text())["notebooks"][0]["notebook"] == "99_tiny.ipynb"
    assert "| [99_tiny.ipynb](99_tiny.html) | ok |" in (out / "report.md").read_text()
    page = (out / "99_tiny.html").read_text()
    assert "needs a live kernel" in page and "n = 3" in page and "data:image/png;base64," in page
    assert "embed-amd.js" not in page
    assert (out / "executed" / "99_tiny.ipynb").exists() and (out / "index.html").exists()


def test_record_with_a_stale_report_path_warns_and_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv(report.REPORT_ENV, str(tmp_path / "gone" / "records.jsonl"))
    with pytest.warns(UserWarning, match="could not record 'device'"):
        assert report.record("device", "cpu") == "cpu"


def test_claims_are_silent_in_test_mode_and_warn_in_full_mode(tmp_path, monkeypatch):
    path = tmp_path / "r.jsonl"
    monkeypatch.setenv(report.REPORT_ENV, str(path))
    monkeypatch.setenv("COURSE_SMOKE", "1")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert report.claim("small run", False, "3 steps") is False  # no warning in test mode
    monkeypatch.setenv("COURSE_SMOKE", "0")
    with pytest.warns(UserWarning, match="claim not held at this run's size: big run"):
        report.claim("big run", 0.4 > 0.5, "0.4 vs 0.5")
    assert report.claim("held", True) is True
    assert [(c["claim"], c["held"]) for c in report.read_claims(path)] == [
        ("small run", False), ("big run", False), ("held", True)]
    assert report.read(path) == {}  # claims are not key results


@pytest.mark.notebook
@pytest.mark.timeout(180)
def test_verify_lists_claims_and_fails_when_one_does_not_hold(tmp_path, capsys):
    src = tmp_path / "notebooks" / "98_claims.ipynb"
    src.parent.mkdir()
    cells = [
        nbformat.v4.new_code_cell('import os\nSMOKE = os.environ.get("COURSE_SMOKE", "0") == "1"',
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell('from helpers import report\nreport.claim("two is above one", 2 > 1, "2 vs 1")\n'
                                  'report.claim("one is above two", 1 > 2, "1 vs 2")'),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": rc.KERNEL, "display_name": "llm-course", "language": "python"}
    nbformat.write(nb, src)
    out = tmp_path / "rendered"
    assert rc.main([str(src), "--out", str(out), "--cell-timeout", "120"]) == 1  # full mode: a claim failed
    text = (out / "report.md").read_text()
    assert "| 98_claims.ipynb | two is above one | held | 2 vs 1 |" in text
    assert "| 98_claims.ipynb | one is above two | **FAILED** | 1 vs 2 |" in text
    assert "claims: 1/2 held" in capsys.readouterr().out
