"""Every registered exercise has a cell in its notebook, and that cell holds a stub for the learner,
never the answer: the function it passes to check() is defined in the cell, its body only raises
NotImplementedError, and the check reports it as not attempted (so the notebook runs on to the end).
No cell passes a helpers function to check()."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from helpers.checks import exercises, verdict

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXERCISES = exercises()


def check_calls(path: Path) -> dict[str, tuple[str, ast.Module]]:
    """{exercise id: (name of the function passed to check, the parsed cell)} for one notebook."""
    found = {}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code" or "check(" not in cell.source:
            continue
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check" and len(node.args) == 2
                    and isinstance(node.args[0], ast.Constant)):
                arg = node.args[1]
                found.setdefault(node.args[0].value, (arg.id if isinstance(arg, ast.Name) else ast.unparse(arg), tree))
    return found


def notebook_of(ex_id: str) -> Path:
    matches = sorted(NOTEBOOKS.glob(f"{ex_id[:2]}_*.ipynb"))
    assert len(matches) == 1, f"exercise {ex_id} needs exactly one notebook numbered {ex_id[:2]}, found {matches}"
    return matches[0]


def is_stub(fn: ast.FunctionDef) -> bool:
    body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return (len(body) == 1 and isinstance(body[0], ast.Raise)
            and "NotImplementedError" in ast.unparse(body[0]))


@pytest.mark.parametrize("ex_id", sorted(EXERCISES))
def test_exercise_has_a_stub_cell_in_its_notebook(ex_id):
    path = notebook_of(ex_id)
    calls = check_calls(path)
    assert ex_id in calls, f"{path.name} has no cell calling check({ex_id!r}, your_function)"
    name, tree = calls[ex_id]
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    assert defs, (f"{path.name}: check({ex_id!r}, {name}) must pass a function the learner writes in that cell, "
                  "not one from helpers")
    assert is_stub(defs[0]), f"{path.name}: {name} for exercise {ex_id} must be a stub (raise NotImplementedError)"
    namespace: dict = {}
    exec(compile(ast.Module(body=defs, type_ignores=[]), path.name, "exec"), namespace)
    assert verdict(ex_id, namespace[name]).status == "not attempted"


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.name)
def test_notebook_checks_only_its_registered_exercises(path):
    unknown = [i for i in check_calls(path) if i not in EXERCISES or not i.startswith(path.name[:2])]
    assert not unknown, f"{path.name} checks exercises that are not its own registered ones: {unknown}"
