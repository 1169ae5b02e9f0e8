"""The class grader: a CSV grade book from a folder of learners' notebooks, surviving broken ones."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat

from tools.grade import grade_class, summary

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "00_start_here.ipynb"
SOLVED = '''def my_softmax(x):
    z = x - x.max(dim=-1, keepdim=True).values
    return z.exp() / z.exp().sum(dim=-1, keepdim=True)'''


def learner_copy(folder: Path, learner: str, edit=None) -> Path:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    if edit:
        edit(nb.cells)
    path = folder / learner / NOTEBOOK.name
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return path


def solve_00_1(cells):
    for c in cells:
        if 'check("00.1", my_softmax)' in c.source:
            start = c.source.index("def my_softmax")
            end = c.source.index('check("00.1"')
            c.source = c.source[:start] + SOLVED + "\n\n\n" + c.source[end:]


def test_grade_book_for_a_class(tmp_path):
    subs = tmp_path / "subs"
    learner_copy(subs, "ada", solve_00_1)
    learner_copy(subs, "ben")  # the untouched notebook
    learner_copy(subs, "cy", lambda cells: cells.append(nbformat.v4.new_code_cell(
        "import not_a_real_module\ndef my_device():\n    return 1\ncheck('00.2', my_device)")))
    (subs / "dee").mkdir()
    (subs / "dee" / "00_start_here.ipynb").write_text("{ this is not a notebook")
    rows = grade_class(subs, tmp_path / "grades.csv", time_limit=120)

    book = list(csv.DictReader((tmp_path / "grades.csv").open()))
    assert {r["learner"] for r in book} == {"ada", "ben", "cy", "dee"}
    got = {(r["learner"], r["exercise"]): r for r in book}
    assert got["ada", "00.1"]["passed"] == "True" and got["ada", "00.1"]["status"] == "correct"
    assert got["ada", "00.2"]["status"] == "not attempted"
    assert got["ben", "00.1"]["status"] == "not attempted" and got["ben", "00.1"]["passed"] == "False"
    assert got["cy", "00.2"]["status"] == "failed" and "not_a_real_module" in got["cy", "00.2"]["message"]
    assert got["dee", "*"]["status"] == "error" and "could not be graded" in got["dee", "*"]["message"]
    lines = summary(rows)
    assert "ada: 1/2 correct (1 not attempted)" in lines
    assert any(line.startswith("dee: 0/0 correct (1 error)") for line in lines)
