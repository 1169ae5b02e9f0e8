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

COVERED: dict[str, set[str]] = {}  # module name -> the public names a property test covers


def covers(module, *names):
    """Mark a test as the property test of ``module.name`` for each name (tests/test_properties_coverage.py
    then knows it has one). A name re-exported by a package counts for the module that defines it."""
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{module.__name__} has no {missing}"

    def mark(fn):
        COVERED.setdefault(module.__name__, set()).update(names)
        return fn
    return mark


# Public names that need no property test of their own, each with the reason. Keys are the module that
# defines the name, a dot, and the name. A whole module is exempt by its name in EXEMPT_MODULES.
EXEMPT: dict[str, str] = {
    **{f"helpers.validation.errors.{n}": "an error type (the property tests check they are raised)"
       for n in ("CourseError", "ArgumentTypeError", "ArgumentValueError", "ShapeError", "PathError",
                 "MissingFileError", "UnknownNameError", "NotAvailableError", "TrainingError")},
    "helpers.data.assets.Asset": "a row of the asset table",
    "helpers.posttraining.sentiment_judge": "fine-tunes MiniLM for minutes: notebook 12 and bench/posttraining.py run it",
    "helpers.posttraining.judge_rewards": "needs the trained judge: notebook 12 and bench/posttraining.py use it",
    "helpers.selection.Paper": "a record (dataclass) that aclsum_papers returns",
    "helpers.selection.Pair": "a record (dataclass) that selection_pairs returns",
    **{f"helpers.checks.{n}": "the exercise machinery: tests/test_checks.py and tests/test_exercises.py run it on "
                              "every exercise's solution and wrong answers"
       for n in ("Mistake", "blame", "compare", "describe", "known_mistakes", "same")},
    "helpers.data.assets.Package": "a row of the package table",
    "helpers.data.assets.UnknownAssetError": "an error type",
    "helpers.data.assets.MissingAssetError": "an error type",
    "helpers.data.loaders.LabelledTexts": "a record that sentiment() returns",
    "helpers.data.entities.TaggedSentences": "a record that spacy_tag() returns",
    "helpers.embeddings.word2vec.Word2Vec": "the result train_word2vec() returns",
    "helpers.embeddings.glove.GloVe": "the result train_glove() returns",
    "helpers.checks.CheckFailed": "an error type (a wrong answer raises it)",
    "helpers.checks.UnknownExercise": "an error type (an unknown id raises it)",
}
EXEMPT_PREFIXES: dict[str, str] = {  # every module whose name starts so
    "helpers.checks.": "graded exercises: tests/test_exercises.py runs each against its solution and a typical "
                       "wrong answer",
    "helpers.data.__main__": "the command line of helpers.data (tests/test_validation.py runs it)",
}


def public_functions(module, exempt: dict[str, str] | None = None) -> set[str]:
    """The public functions and classes a module defines itself (no leading underscore; imported names
    are left to the module that defines them; ``__all__`` where it has one), less the exempt ones.
    Functions wrapped by a decorator (``functools.lru_cache``) count too."""
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    out = set()
    for name in names:
        obj = getattr(module, name)
        if not (inspect.isfunction(obj) or inspect.isclass(obj) or hasattr(obj, "__wrapped__")):
            continue  # constants: tables, environment variable names
        if getattr(obj, "__module__", None) != module.__name__:
            continue  # imported from elsewhere: counted where it is defined
        out.add(name)
    return out - set(exempt or ())


def defined_in(module, name: str) -> str:
    """``module.name`` as "<the module that defines it>.<name>", following a re-export."""
    obj = getattr(module, name)
    return f"{getattr(obj, '__module__', module.__name__)}.{getattr(obj, '__name__', name)}"
