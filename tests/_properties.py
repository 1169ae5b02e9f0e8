"""Shared pieces of the property-based tests (tests/test_properties_*.py): strategies for bad
arguments, ``refuses`` (the course's own error, naming the argument), the settings that keep the
suite fast, and the list of a module's public functions that each must have a property test."""

from __future__ import annotations

import inspect
import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from helpers.validation import CourseError

# Few examples, no deadline (a busy 2-core machine), the same examples on every run, no database.
FAST = settings(max_examples=8, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FEW = settings(FAST, max_examples=3)  # for valid calls that train or load something

TALLY = Counter()  # bad inputs tried, and how many got a clear error


def refuses(call, *names, error=CourseError):
    """``call()`` must raise the course's own error (``error``) whose message names the argument
    (one of ``names``)."""
    TALLY["tried"] += 1
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert any(n in message for n in names), f"the message does not name {names}: {message}"
    TALLY["clear"] += 1
    return info.value


def one_bad(**strategies):
    """One argument at a time given a bad value: draws (name, value)."""
    return st.one_of(*[st.tuples(st.just(name), s) for name, s in strategies.items()])


# --- bad values ------------------------------------------------------------------------------

def _not_whole(x: float) -> bool:
    return not (math.isfinite(x) and float(x).is_integer())


NOT_A_NUMBER = st.one_of(st.text(max_size=3), st.lists(st.integers(), max_size=2), st.just({}))


def bad_int(low: int = 1, high: int | None = None, optional: bool = False):
    """Not a whole number in [low, high]: too small or big, a fraction, a string, a bool, (None)."""
    options = [st.integers(max_value=low - 1), st.floats(allow_nan=True).filter(_not_whole), NOT_A_NUMBER,
               st.booleans()]
    if high is not None:
        options.append(st.integers(min_value=high + 1))
    if not optional:
        options.append(st.none())
    return st.one_of(*options)


def bad_real(low: float | None = None, high: float | None = None, low_open: bool = False,
             optional: bool = False):
    """Not a finite number in the range: out of range, NaN, infinite, a string, a bool, (None)."""
    options = [st.just(float("nan")), st.just(float("inf")), NOT_A_NUMBER, st.booleans()]
    if low is not None:
        options.append(st.floats(max_value=low, exclude_max=not low_open, allow_nan=False))
    if high is not None:
        options.append(st.floats(min_value=high, exclude_min=True, allow_nan=False))
    if not optional:
        options.append(st.none())
    return st.one_of(*options)


BAD_PROBABILITY = bad_real(0.0, 1.0)
BAD_POSITIVE = bad_real(0.0, low_open=True)
BAD_BOOL = st.one_of(st.integers(), st.text(max_size=3), st.none())
BAD_STR_LIST = st.one_of(st.text(min_size=1, max_size=8), st.lists(st.integers(), min_size=1, max_size=3),
                         st.just([]), st.integers())
WORD = st.text(alphabet="abcdefghij", min_size=2, max_size=6)


def arrays(dtype=np.int64, min_size=1, max_size=30, low=0, high=9):
    return st.lists(st.integers(low, high), min_size=min_size, max_size=max_size).map(
        lambda xs: np.array(xs, dtype=dtype))


# --- which public names need a property test -------------------------------------------------


def public_functions(module, exempt: dict[str, str]) -> set[str]:
    """The public functions and classes a module offers (``__all__`` where it has one, else what it
    defines without a leading underscore), less the exempt ones (each with its reason). Functions
    wrapped by a decorator (``functools.lru_cache``) count too."""
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    out = set()
    for name in names:
        obj = getattr(module, name)
        if not (inspect.isfunction(obj) or inspect.isclass(obj) or hasattr(obj, "__wrapped__")):
            continue  # constants: tables, environment variable names
        if not getattr(obj, "__module__", "").startswith(module.__name__):
            continue  # imported from elsewhere
        out.add(name)
    return out - set(exempt)
