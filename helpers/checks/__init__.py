"""Graded exercises: checks a learner calls on their own code, with messages that help.

Each exercise is a function registered with ``@exercise("04.1", "title")``. It takes the learner's
answer (usually a function), runs it against the course's reference on inputs it makes, and either
prints a short success line or raises ``CheckFailed`` saying what was expected, what came back and
a hint. Checks for notebook NN live in ``helpers/checks/<topic>.py``; the solutions and one wrong
answer per exercise live in ``lessons/solutions/``, and the tests run both through each check.

In a notebook::

    from helpers.checks import check
    check("00.1", my_softmax)
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

import torch


class CheckFailed(AssertionError):
    """The learner's answer is not right yet; the message says how."""


@dataclass(frozen=True)
class Exercise:
    id: str  # "NN.k": notebook number, exercise number
    title: str
    grade: Callable  # grade(answer) raises CheckFailed, or returns None


REGISTRY: dict[str, Exercise] = {}


def exercise(id: str, title: str):
    """Register ``grade(answer)`` as the check of exercise ``id``."""

    def register(grade: Callable) -> Callable:
        if id in REGISTRY:
            raise ValueError(f"Exercise {id} is registered twice.")
        REGISTRY[id] = Exercise(id, title, grade)
        return grade

    return register


def _load_all() -> None:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")


def exercises() -> dict[str, Exercise]:
    """Every registered exercise, by id."""
    _load_all()
    return dict(sorted(REGISTRY.items()))


def check(id: str, answer) -> bool:
    """Grade ``answer`` for exercise ``id``: prints a success line, or raises CheckFailed with a hint."""
    known = exercises()
    if id not in known:
        raise KeyError(f"No exercise {id!r}; known exercises: {', '.join(known)}.")
    ex = known[id]
    try:
        ex.grade(answer)
    except CheckFailed as err:
        raise CheckFailed(f"Exercise {id} ({ex.title}): not yet.\n{err}") from None
    except Exception as err:  # the learner's code crashed: say so plainly, keep their traceback
        raise CheckFailed(
            f"Exercise {id} ({ex.title}): your code raised {type(err).__name__}: {err}"
        ) from err
    print(f"Exercise {id} ({ex.title}): correct.")
    return True


def expect_close(got, want, what: str, atol: float = 1e-5, hint: str = "") -> None:
    """Raise CheckFailed unless tensors ``got`` and ``want`` have the same shape and values."""
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{what}: expected a torch.Tensor, got {type(got).__name__}.")
    if got.shape != want.shape:
        raise CheckFailed(f"{what}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}. {hint}")
    err = (got.detach().float() - want.float()).abs().max().item()
    if not err <= atol:  # also catches NaN
        raise CheckFailed(f"{what}: values differ from the reference by up to {err:.3g} "
                          f"(allowed {atol:g}). {hint}")
