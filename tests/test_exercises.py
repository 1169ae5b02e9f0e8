"""Every graded exercise passes its solution and fails each wrong answer with a message that names the
specific mistake; every known mistake of an exercise is recognised by name; the stronger hints give no
solution code; and every notebook has a lesson page naming at least two of its exercises.

Picks up new work by itself: exercises (and their known mistakes) from ``helpers.checks.exercises()``,
solutions and wrong answers from every ``lessons/solutions/*.py`` (each defines ``SOLUTIONS`` and ``WRONG``,
dicts keyed by exercise id; a WRONG entry is one function or a list of them), lesson pages
``lessons/<notebook stem>.md`` for every ``notebooks/NN_*.ipynb``.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path

import pytest

from helpers.checks import CheckFailed, check, exercises, verdict

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


def wrong_answers(ex_id: str) -> list:
    answers = WRONG.get(ex_id, [])
    return list(answers) if isinstance(answers, (list, tuple)) else [answers]


@pytest.mark.parametrize("ex_id", sorted(EXERCISES))
def test_wrong_answers_fail_naming_their_mistake(ex_id, capsys):
    answers = wrong_answers(ex_id)
    if not answers:
        pytest.fail(f"exercise {ex_id} has no wrong answer in lessons/solutions/")
    known = {m.name for m in EXERCISES[ex_id].mistakes}
    assert len(known) >= 1, f"exercise {ex_id} lists no known mistakes (Mistake(name, hint, wrong))"
    header = f"Exercise {ex_id} ({EXERCISES[ex_id].title}): "
    named = []
    for answer in answers:
        with pytest.raises(CheckFailed) as info:
            check(ex_id, answer)
        message = str(info.value)
        assert message.startswith(header + "not yet."), message
        result = verdict(ex_id, answer)
        assert result.mistake in known, (f"{ex_id}: the wrong answer {answer.__name__} gets a message that names "
                                         f"no known mistake:\n{message}")
        assert f"Likely mistake: {result.mistake}." in message, message
        assert "Traceback" not in message and 'File "' not in message, message
        named.append(result.mistake)
    assert len(set(named)) == len(named), f"{ex_id}: different wrong answers get the same mistake {named}"
    assert "correct." not in capsys.readouterr().out


KNOWN = [(ex_id, m.name) for ex_id, ex in sorted(EXERCISES.items()) for m in ex.mistakes if m.wrong is not None]


@pytest.mark.parametrize("ex_id, name", KNOWN, ids=[f"{i}-{n}" for i, n in KNOWN])
def test_each_known_mistake_is_recognised_by_name(ex_id, name):
    mistake = next(m for m in EXERCISES[ex_id].mistakes if m.name == name)
    result = verdict(ex_id, mistake.wrong)
    assert result.status == "failed" and result.mistake == name, result.message
    assert mistake.hint in result.message


def _code_lines(fn) -> list[str]:
    lines = [line.split("#")[0].strip() for line in inspect.getsource(fn).splitlines()[1:]]
    return [line for line in lines if len(line) >= 20 and not line.startswith(('"', "'"))]


@pytest.mark.parametrize("ex_id", sorted(EXERCISES))
def test_hints_teach_without_giving_the_code(ex_id):
    ex = EXERCISES[ex_id]
    assert len(ex.hint) >= 60, f"exercise {ex_id} needs a stronger hint for hint({ex_id!r})"
    texts = [ex.hint] + [m.hint for m in ex.mistakes]
    for line in _code_lines(SOLUTIONS[ex_id]):
        assert not any(line in text for text in texts), f"a hint of {ex_id} quotes the solution: {line!r}"


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
    run_time = re.findall(r"^\*\*Run time:\*\* .*$", text, re.M)
    assert len(run_time) == 1 and RUN_TIME.fullmatch(run_time[0]), (
        f"{page.name} needs exactly one line like {RUN_TIME_EXAMPLE!r} in its Timing section, got {run_time}")


RUN_TIME = re.compile(r"\*\*Run time:\*\* full mode (\?|[\d,.]+) s, test mode (\?|[\d,.]+) s \(.+\)\.")
RUN_TIME_EXAMPLE = "**Run time:** full mode 412 s, test mode 38 s (rendered/report.md, `make verify`, 2 idle cores)."


def test_lesson_pages_belong_to_notebooks():
    stems = {p.stem for p in NOTEBOOK_FILES}
    strays = [p.name for p in LESSONS.glob("[0-9][0-9]_*.md") if p.stem not in stems]
    assert not strays, f"lesson pages without a notebook of the same name: {strays}"
