"""Every graded exercise passes its solution and fails its wrong answer with a helpful message, and
every notebook has a lesson page naming at least two of its exercises.

Picks up new work by itself: exercises from ``helpers.checks.exercises()``, solutions and wrong answers
from every ``lessons/solutions/*.py`` (each defines ``SOLUTIONS`` and ``WRONG``, dicts keyed by
exercise id), lesson pages ``lessons/<notebook stem>.md`` for every ``notebooks/NN_*.ipynb``.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from helpers.checks import CheckFailed, check, exercises

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"
SOLUTION_FILES = sorted((LESSONS / "solutions").glob("[0-9][0-9]_*.py"))
NOTEBOOK_FILES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXERCISES = exercises()
ID = re.compile(r"(?<![\d.])(\d\d\.\d+)(?![\d.])")


def load_solutions() -> tuple[dict, dict, dict]:
    """SOLUTIONS and WRONG of every solutions file, merged, and which file each id came from."""
    solutions, wrong, origin = {}, {}, {}
    for path in SOLUTION_FILES:
        spec = importlib.util.spec_from_file_location(f"lesson_solutions_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, into in (("SOLUTIONS", solutions), ("WRONG", wrong)):
            table = getattr(module, name, None)
            assert isinstance(table, dict), f"{path.name} must define a dict {name} keyed by exercise id"
            for ex_id, answer in table.items():
                assert ex_id not in into, f"{name}[{ex_id!r}] is defined in {origin.get(ex_id)} and {path.name}"
                into[ex_id] = answer
                origin.setdefault(ex_id, path.name)
    return solutions, wrong, origin


SOLUTIONS, WRONG, ORIGIN = load_solutions()


def test_exercises_are_registered():
    assert "00.1" in EXERCISES and "00.2" in EXERCISES
    for ex_id in EXERCISES:
        assert re.fullmatch(r"\d\d\.\d+", ex_id), f"exercise id {ex_id!r} is not of the form NN.k"


def test_every_exercise_has_a_solution_and_a_wrong_answer():
    assert not set(EXERCISES) - set(SOLUTIONS), "exercises without a solution in lessons/solutions/"
    assert not set(EXERCISES) - set(WRONG), "exercises without a wrong answer in lessons/solutions/"
    assert not (set(SOLUTIONS) | set(WRONG)) - set(EXERCISES), "answers to exercises that are not registered"


def test_solutions_sit_in_their_notebooks_file():
    for ex_id, filename in ORIGIN.items():
        assert filename.startswith(ex_id[:2] + "_"), f"{ex_id} is answered in {filename}"


@pytest.mark.parametrize("ex_id", sorted(EXERCISES))
def test_solution_passes(ex_id, capsys):
    if ex_id not in SOLUTIONS:
        pytest.fail(f"exercise {ex_id} has no solution in lessons/solutions/")
    assert check(ex_id, SOLUTIONS[ex_id]) is None  # a verdict is printed, nothing shows as Out[]
    assert f"Exercise {ex_id} ({EXERCISES[ex_id].title}): correct." in capsys.readouterr().out


@pytest.mark.parametrize("ex_id", sorted(EXERCISES))
def test_wrong_answer_fails_with_a_useful_message(ex_id, capsys):
    if ex_id not in WRONG:
        pytest.fail(f"exercise {ex_id} has no wrong answer in lessons/solutions/")
    with pytest.raises(CheckFailed) as info:
        check(ex_id, WRONG[ex_id])
    message = str(info.value)
    header = f"Exercise {ex_id} ({EXERCISES[ex_id].title}): "
    assert message.startswith(header), message
    detail = message[len(header):].removeprefix("not yet.").strip()
    assert len(detail) >= 20, f"the message for a wrong answer says too little: {message!r}"
    assert "correct." not in capsys.readouterr().out


@pytest.mark.parametrize("notebook", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_has_a_lesson_page_with_graded_exercises(notebook):
    page = LESSONS / f"{notebook.stem}.md"
    assert page.exists(), f"{notebook.name} needs a lesson page {page.relative_to(ROOT)}"
    text = page.read_text(encoding="utf-8")
    number = notebook.name[:2]
    mentioned = sorted({i for i in ID.findall(text) if i.startswith(number + ".")})
    assert len(mentioned) >= 2, f"{page.name} names {mentioned}: it needs at least two exercises of notebook {number}"
    unknown = [i for i in mentioned if i not in EXERCISES]
    assert not unknown, f"{page.name} names exercises with no check in helpers.checks: {unknown}"
    missing = [i for i in EXERCISES if i.startswith(number + ".") and i not in mentioned]
    assert not missing, f"{page.name} does not mention the registered exercises {missing}"
    for heading in ("objectives", "prerequisites", "timing", "discussion", "exercises"):
        assert re.search(rf"^#+ .*{heading}", text, re.I | re.M), f"{page.name} has no '{heading}' section"


def test_lesson_pages_belong_to_notebooks():
    stems = {p.stem for p in NOTEBOOK_FILES}
    strays = [p.name for p in LESSONS.glob("[0-9][0-9]_*.md") if p.stem not in stems]
    assert not strays, f"lesson pages without a notebook of the same name: {strays}"
