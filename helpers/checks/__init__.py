"""Graded exercises: checks a learner calls on their own code, with messages that help.

Each exercise is a function registered with ``@exercise("04.1", "title")``. It takes the learner's
answer (usually a function), runs it against the course's reference on inputs it makes, and either
returns quietly or raises ``CheckFailed`` saying what was expected, what came back and a hint that
names the likely mistake. Checks for notebook NN live in ``helpers/checks/<topic>.py``; the solutions
and one wrong answer per exercise live in ``lessons/solutions/``, and the tests run both through each
check.

In a notebook::

    from helpers.checks import check
    check("00.1", my_softmax)   # prints a one-line verdict; a wrong answer is shown without a traceback

``verdict(id, answer)`` gives the same result as data (for the class grader, ``tools/grade.py``).
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import signal
import threading
from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch

from .. import validation as validate

TIME_LIMIT_S = 30.0  # a learner's function that runs longer than this is stopped (a loop that never ends)


class CheckFailed(AssertionError):
    """The learner's answer is not right yet; the message says how."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of a traceback through the course's checking code.
        return [f"\x1b[31m{line}\x1b[0m" if i == 0 else line for i, line in enumerate(str(self).splitlines())]


class UnknownExercise(validate.ArgumentValueError):
    """check() was given an id that no exercise has."""

    _render_traceback_ = CheckFailed._render_traceback_


@dataclass(frozen=True)
class Exercise:
    id: str  # "NN.k": notebook number, exercise number
    title: str
    grade: Callable  # grade(answer) raises CheckFailed, or returns None
    hint: str = ""  # a stronger hint, shown on request: hint("04.1")


class Verdict(NamedTuple):
    status: str  # "correct", "not attempted" or "failed"
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "correct"


REGISTRY: dict[str, Exercise] = {}


def exercise(id: str, title: str, hint: str = ""):
    """Register ``grade(answer)`` as the check of exercise ``id``; ``hint`` is the stronger hint that
    ``hint(id)`` prints for a learner who is stuck (the way there, never the code)."""

    def register(grade: Callable) -> Callable:
        if id in REGISTRY:
            raise validate.ArgumentValueError(f"Exercise {id} is registered twice.")
        REGISTRY[id] = Exercise(id, title, grade, hint)
        return grade

    return register


def _load_all() -> None:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")


def exercises() -> dict[str, Exercise]:
    """Every registered exercise, by id."""
    _load_all()
    return dict(sorted(REGISTRY.items()))


def _show(value, limit: int = 160) -> str:
    """A short, readable description of one argument the check passed to the learner's code."""
    if isinstance(value, torch.Tensor):
        text = f"a {value.dtype} tensor of shape {tuple(value.shape)}"
        return text + (f" = {value.tolist()}" if value.numel() <= 12 else "")
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


class _Recorder:
    """Wraps the learner's function to remember the last input, so a crash can say what input caused it."""

    def __init__(self, fn: Callable):
        self.fn, self.last = fn, None

    def __call__(self, *args, **kwargs):
        self.last = (args, kwargs)
        return self.fn(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.fn, name)

    def described_input(self) -> str:
        if self.last is None:
            return ""
        args, kwargs = self.last
        parts = [_show(a) for a in args] + [f"{k}={_show(v)}" for k, v in kwargs.items()]
        return "\nIt was called with: " + ", ".join(parts)


class _TimeLimit(Exception):
    pass


def _run_with_time_limit(grade: Callable, answer, seconds: float) -> None:
    """Run grade(answer), stopping it after ``seconds`` where a signal timer is available (the main
    thread on Linux and macOS: a notebook's kernel); elsewhere without a limit."""
    if seconds is None or not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        return grade(answer)

    def stop(signum, frame):
        raise _TimeLimit

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return grade(answer)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def verdict(id: str, answer, time_limit: float | None = TIME_LIMIT_S) -> Verdict:
    """Grade ``answer`` for exercise ``id`` and return the verdict instead of printing it."""
    time_limit = validate.positive("time_limit", time_limit, optional=True)
    ex = _known(id)
    head = f"Exercise {id} ({ex.title}):"
    if answer is None or answer is Ellipsis:
        return Verdict("not attempted", f"{head} not attempted yet: pass your function to check().")
    recorder = _Recorder(answer) if callable(answer) and not isinstance(answer, type) else answer
    try:
        _run_with_time_limit(ex.grade, recorder, time_limit)
    except NotImplementedError:
        return Verdict("not attempted", f"{head} not attempted yet: replace `raise NotImplementedError` "
                                        "with your code and run the cell again.")
    except CheckFailed as err:
        more = f"\n(Stuck? hint({id!r}) gives a stronger hint.)" if ex.hint else ""
        return Verdict("failed", f"{head} not yet.\n{err}{more}")
    except _TimeLimit:
        where = recorder.described_input() if isinstance(recorder, _Recorder) else ""
        return Verdict("failed", f"{head} your code did not finish within {time_limit:g} s: is there a loop "
                                 f"that never ends?{where}")
    except TypeError as err:
        if not callable(answer):
            return Verdict("failed", f"{head} check() needs your function itself (for example "
                                     f"check({id!r}, my_function)), not a {type(answer).__name__}.")
        where = recorder.described_input() if isinstance(recorder, _Recorder) else ""
        return Verdict("failed", f"{head} your code raised TypeError: {err}{where}\n"
                                 "Check the number and order of your function's arguments.")
    except Exception as err:  # the learner's code crashed: what it raised and on which input
        where = recorder.described_input() if isinstance(recorder, _Recorder) else ""
        return Verdict("failed", f"{head} your code raised {type(err).__name__}: {err}{where}")
    return Verdict("correct", f"{head} correct.")


def _known(id) -> Exercise:
    """The exercise ``id`` ("07.1"), or UnknownExercise with the closest ids."""
    known = exercises()
    if id not in known:
        close = difflib.get_close_matches(str(id).zfill(4), list(known), n=2, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownExercise(f"There is no exercise {id!r}.{hint} The exercises are: {', '.join(known)}.")
    return known[id]


def hint(id: str) -> None:
    """Print the stronger hint of exercise ``id``."""
    ex = _known(id)
    print(f"Exercise {id} ({ex.title}), a stronger hint:\n{ex.hint or 'none for this one: re-read the markdown above it.'}")


def check(id: str, answer, time_limit: float | None = TIME_LIMIT_S) -> None:
    """Grade ``answer`` for exercise ``id``: prints a one-line verdict, or raises CheckFailed with a hint
    (shown without a traceback in a notebook). An untouched stub is reported as not attempted."""
    result = verdict(id, answer, time_limit)
    if result.status == "failed":
        raise CheckFailed(result.message)
    print(result.message)


def expect_close(got, want, what: str, atol: float = 1e-5, hint: str = "",
                 mistakes: dict[str, torch.Tensor] | None = None, shown: str = "") -> None:
    """Raise CheckFailed unless tensors ``got`` and ``want`` have the same shape and values.

    mistakes: {hint: what a typical mistake returns}; when ``got`` matches one, that hint names the mistake
    instead of the general ``hint``. shown: the input, written small enough to read, for the message."""
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{what}: expected a torch.Tensor, got {type(got).__name__}.")
    if got.shape != want.shape:
        raise CheckFailed(f"{what}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}. {hint}")
    err = (got.detach().float() - want.float()).abs().max().item()
    if err <= atol:  # (a NaN compares False, so it fails)
        return
    for mistake, wrong in (mistakes or {}).items():
        if wrong.shape == got.shape and torch.allclose(got.detach().float(), wrong.float(), atol=atol, equal_nan=True):
            hint = mistake
            break
    detail = ""
    if shown and want.numel() <= 16:
        detail = (f"\n  input:    {shown}\n  yours:    {_rounded(got)}\n  expected: {_rounded(want)}")
    raise CheckFailed(f"{what}: values differ from the reference by up to {err:.3g} (allowed {atol:g}).{detail}\n{hint}")


def _rounded(t: torch.Tensor) -> str:
    """A small tensor as nested lists with 3 decimals, one line."""
    def fmt(x):
        return "[" + ", ".join(fmt(y) for y in x) + "]" if isinstance(x, list) else f"{x:.3f}"

    return fmt(t.detach().double().tolist())
