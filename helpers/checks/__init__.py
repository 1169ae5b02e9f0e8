"""Graded exercises: checks a learner calls on their own code, with messages that help.

Each exercise is a function registered with ``@exercise("04.1", "title")``. It takes the learner's
answer (usually a function), runs it against the course's reference on inputs it makes, and either
returns quietly or raises ``CheckFailed`` saying what was expected, what came back and a hint that
names the likely mistake. Checks for notebook NN live in ``helpers/checks/<topic>.py``; the solutions
and the wrong answers live in ``lessons/solutions/``, and the tests run both through each check.

Known mistakes. Each exercise lists the two or three mistakes learners really make as ``Mistake(name,
hint, wrong)``: ``wrong`` has the learner's signature and makes that mistake. ``compare(answer, reference,
args)`` runs the learner's function and the reference on one input; when they differ it runs each known
mistake on the same input, and if the learner's output equals one, the verdict names that mistake (its
name and hint, never the code). A mistake that a check can only recognise by a property of the output
(a frequency, a length) is raised by name with ``blame(name, detail)``.

In a notebook::

    from helpers.checks import check
    check("00.1", my_softmax)   # prints a one-line verdict; a wrong answer is shown without a traceback

``verdict(id, answer)`` gives the same result as data (for the class grader, ``tools/grade.py``).
"""

from __future__ import annotations

import contextvars
import difflib
import importlib
import math
import pkgutil
import signal
import threading
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np
import torch

from .. import validation as validate

TIME_LIMIT_S = 30.0  # a learner's function that runs longer than this is stopped (a loop that never ends)


class CheckFailed(AssertionError):
    """The learner's answer is not right yet; the message says how. ``mistake`` names the known mistake
    the answer makes, when the check recognised one."""

    def __init__(self, message: str, mistake: str | None = None):
        super().__init__(message)
        self.mistake = mistake

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of a traceback through the course's checking code.
        return [f"\x1b[31m{line}\x1b[0m" if i == 0 else line for i, line in enumerate(str(self).splitlines())]


class UnknownExercise(validate.ArgumentValueError):
    """check() was given an id that no exercise has."""

    _render_traceback_ = CheckFailed._render_traceback_


@dataclass(frozen=True)
class Mistake:
    """A mistake learners really make: a short name ("missing scale"), a hint that points at it in words
    (never the code), and ``wrong``, a function with the learner's signature that makes it (None when the
    check recognises it by a property of the output and calls ``blame``)."""

    name: str
    hint: str
    wrong: Callable | None = None


@dataclass(frozen=True)
class Exercise:
    id: str  # "NN.k": notebook number, exercise number
    title: str
    grade: Callable  # grade(answer) raises CheckFailed, or returns None
    hint: str = ""  # a stronger hint, shown on request: hint("04.1")
    mistakes: tuple[Mistake, ...] = ()  # the known mistakes, tried in this order


class Verdict(NamedTuple):
    status: str  # "correct", "not attempted" or "failed"
    message: str
    mistake: str | None = None  # the name of the known mistake the answer makes, when recognised

    @property
    def passed(self) -> bool:
        return self.status == "correct"


REGISTRY: dict[str, Exercise] = {}


_CURRENT: contextvars.ContextVar[Exercise | None] = contextvars.ContextVar("exercise", default=None)


def exercise(id: str, title: str, hint: str = "", mistakes: list[Mistake] | tuple[Mistake, ...] = ()):
    """Register ``grade(answer)`` as the check of exercise ``id``; ``hint`` is the stronger hint that
    ``hint(id)`` prints for a learner who is stuck (the way there, never the code); ``mistakes`` are the
    known mistakes that ``compare`` and ``blame`` name."""

    def register(grade: Callable) -> Callable:
        if id in REGISTRY:
            raise validate.ArgumentValueError(f"Exercise {id} is registered twice.")
        names = [m.name for m in mistakes]
        if len(set(names)) != len(names):
            raise validate.ArgumentValueError(f"Exercise {id} names a mistake twice: {names}.")
        REGISTRY[id] = Exercise(id, title, grade, hint, tuple(mistakes))
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


class _TimeLimit(BaseException):  # not an Exception: neither a learner's `except Exception` nor a check swallows it
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
    token = _CURRENT.set(ex)
    try:
        _run_with_time_limit(ex.grade, recorder, time_limit)
    except NotImplementedError:
        return Verdict("not attempted", f"{head} not attempted yet: replace `raise NotImplementedError` "
                                        "with your code and run the cell again.")
    except CheckFailed as err:
        more = f"\n(Stuck? hint({id!r}) gives a stronger hint.)" if ex.hint else ""
        return Verdict("failed", f"{head} not yet.\n{err}{more}", err.mistake)
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
    finally:
        _CURRENT.reset(token)
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


def same(got, want, atol: float = 1e-5, equal_nan: bool = False) -> bool:
    """Whether two answers agree: tensors and arrays by shape and values (within ``atol``), numbers within
    ``atol`` (and a relative 1e-6), lists, tuples and dicts item by item, anything else by ``==``."""
    if isinstance(want, (torch.Tensor, np.ndarray)) or isinstance(got, (torch.Tensor, np.ndarray)):
        try:
            g, w = (torch.as_tensor(np.asarray(x) if isinstance(x, np.ndarray) else x) for x in (got, want))
        except (TypeError, ValueError, RuntimeError):
            return False
        if g.shape != w.shape:
            return False
        if g.dtype == torch.bool or w.dtype == torch.bool:
            return g.dtype == w.dtype and torch.equal(g, w)
        g, w = g.detach().double(), w.detach().double()
        return bool(torch.allclose(g, w, rtol=1e-6, atol=atol, equal_nan=equal_nan))
    if isinstance(want, bool) or isinstance(got, bool):
        return type(got) is type(want) and got == want
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        if equal_nan and math.isnan(got) and math.isnan(want):
            return True
        return math.isclose(got, want, rel_tol=1e-6, abs_tol=atol)
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(
            same(got[k], want[k], atol, equal_nan) for k in want)
    if isinstance(want, (list, tuple)):
        return isinstance(got, (list, tuple)) and len(got) == len(want) and all(
            same(a, b, atol, equal_nan) for a, b in zip(got, want))
    return got == want


def describe(value, limit: int = 200) -> str:
    """An answer written small enough to read: small tensors as rounded nested lists, big ones by shape."""
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if isinstance(value, torch.Tensor):
        if value.numel() > 24:
            return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)}"
        return _rounded(value) if value.is_floating_point() else str(value.tolist())
    if isinstance(value, float):
        return f"{value:.5g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {describe(v, limit)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)) and any(isinstance(v, (torch.Tensor, np.ndarray, list, tuple)) for v in value):
        inner = ", ".join(describe(v, limit) for v in value)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _copy(value):
    """A fresh copy of an input, so that a function that changes its arguments cannot spoil the next run."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return value.clone() if isinstance(value, torch.Tensor) else value.copy()
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_copy(v) for v in value)
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def known_mistakes() -> tuple[Mistake, ...]:
    """The known mistakes of the exercise being checked (empty outside a check)."""
    ex = _CURRENT.get()
    return ex.mistakes if ex else ()


def blame(name: str, detail: str) -> CheckFailed:
    """The failure for the known mistake ``name`` of the exercise being checked: ``detail`` (what was tried
    and what came back) followed by the mistake's name and hint. Use as ``raise blame(name, detail)``."""
    found = [m for m in known_mistakes() if m.name == name]
    if not found:
        raise KeyError(f"{name!r} is not a known mistake of this exercise: add Mistake({name!r}, ...) to it.")
    return CheckFailed(f"{detail}\nLikely mistake: {name}. {found[0].hint}", mistake=name)


def compare(answer: Callable, reference: Callable, args: tuple = (), kwargs: dict | None = None, *,
            what: str, shown: str = "", atol: float = 1e-5, hint: str = "", mistakes=None):
    """Run ``answer`` and ``reference`` on one input (each on its own copy); return the answer's output
    when the two agree, else raise CheckFailed with the input (``shown``: written small enough to read),
    both outputs, and the known mistake (``mistakes``, by default the exercise's own) whose output the
    answer's equals, or else ``hint``."""
    kwargs = kwargs or {}
    want = reference(*_copy(args), **_copy(kwargs))
    got = answer(*_copy(args), **_copy(kwargs))
    if same(got, want, atol):
        return got
    detail = f"{what}:" + (f"\n  input:    {shown}" if shown else "")
    detail += f"\n  yours:    {describe(got)}\n  expected: {describe(want)}"
    for m in known_mistakes() if mistakes is None else mistakes:
        if m.wrong is None:
            continue
        try:
            wrong = m.wrong(*_copy(args), **_copy(kwargs))
        except Exception:  # this mistake cannot even run on this input: it is not the one
            continue
        if same(got, wrong, atol, equal_nan=True) and not same(wrong, want, atol):
            raise CheckFailed(f"{detail}\nLikely mistake: {m.name}. {m.hint}", mistake=m.name)
    shape = _shape_note(got, want)
    raise CheckFailed(f"{detail}{shape}" + (f"\nHint: {hint}" if hint else ""))


def _shape_note(got, want) -> str:
    if isinstance(want, torch.Tensor):
        if not isinstance(got, (torch.Tensor, np.ndarray)):
            return f"\nThe answer should be a tensor of shape {tuple(want.shape)}, not a {type(got).__name__}."
        if tuple(got.shape) != tuple(want.shape):
            return f"\nThe shapes differ: yours {tuple(got.shape)}, expected {tuple(want.shape)}."
    return ""


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
    """A small tensor as nested lists with 4 significant digits, one line."""
    def fmt(x):
        return "[" + ", ".join(fmt(y) for y in x) + "]" if isinstance(x, list) else f"{x:.4g}"

    return fmt(t.detach().double().tolist())
