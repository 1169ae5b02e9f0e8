"""Checks of numbers, flags, choices and callables (part of helpers.validation)."""

from __future__ import annotations

import difflib
import numbers

import numpy as np
import torch

from .errors import ArgumentTypeError, ArgumentValueError, _show


def _range_words(low, high) -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}"
    return f">= {low}" if low is not None else f"<= {high}"


def integer(name: str, value, low: int | None = None, high: int | None = None, optional: bool = False):
    """``value`` as an ``int`` in [low, high]; NumPy integers and whole floats (``1e3``) are fine.

    ``optional=True`` lets None through (meaning "no limit" or "the default").
    """
    if value is None and optional:
        return None
    whole = None
    if isinstance(value, (bool, np.bool_)):
        whole = None
    elif isinstance(value, numbers.Integral):
        whole = int(value)
    elif isinstance(value, numbers.Real) and np.isfinite(value) and float(value).is_integer():
        whole = int(value)
    elif isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point() \
            and value.dtype != torch.bool:
        whole = int(value.item())
    what = "a whole number" + (f" {_range_words(low, high)}" if low is not None or high is not None else "")
    if whole is None:
        none = " (or None)" if optional else ""
        # 2.5 is a number with the wrong value; "5" or [5] is the wrong type
        is_number = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
        error = ArgumentValueError if is_number else ArgumentTypeError
        raise error(f"{name} must be {what}{none}; got {_show(value)} ({type(value).__name__}).")
    if (low is not None and whole < low) or (high is not None and whole > high):
        raise ArgumentValueError(f"{name} must be {what}; got {whole}.")
    return whole


def positive_int(name: str, value, high: int | None = None, optional: bool = False):
    """A whole number >= 1 (at most ``high``): sizes, counts, epochs, batch sizes."""
    return integer(name, value, 1, high, optional)


def non_negative_int(name: str, value, high: int | None = None, optional: bool = False):
    """A whole number >= 0: seeds, warm-up calls, indices."""
    return integer(name, value, 0, high, optional)


def real(name: str, value, low: float | None = None, high: float | None = None, low_open: bool = False,
         high_open: bool = False, optional: bool = False):
    """``value`` as a finite ``float`` in the range (open ends where asked); NumPy numbers are fine."""
    if value is None and optional:
        return None
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype != torch.bool:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a number; got {_show(value)} ({type(value).__name__}).")
    x = float(value)
    if not np.isfinite(x):
        raise ArgumentValueError(f"{name} must be a finite number; got {x}.")
    bad_low = low is not None and (x <= low if low_open else x < low)
    bad_high = high is not None and (x >= high if high_open else x > high)
    if bad_low or bad_high:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high}"
        raise ArgumentValueError(f"{name} must be {' and '.join(p for p in (lo, hi) if p)}; got {x}.")
    return x


def positive(name: str, value, optional: bool = False):
    """A finite number > 0: learning rates, temperatures, scales."""
    return real(name, value, low=0, low_open=True, optional=optional)


def non_negative(name: str, value, optional: bool = False):
    """A finite number >= 0: thresholds where 0 turns something off."""
    return real(name, value, low=0, optional=optional)


def probability(name: str, value, optional: bool = False):
    """A number in [0, 1]: dropout, fractions, shares."""
    return real(name, value, low=0, high=1, optional=optional)


def boolean(name: str, value) -> bool:
    """True or False (NumPy booleans too); 0/1 or "yes" are refused, as they are often mistakes."""
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name} must be True or False; got {_show(value)} ({type(value).__name__}).")
    return bool(value)


def one_of(name: str, value, choices: Iterable):
    """``value`` if it is one of ``choices``; otherwise the choices, and close matches for a string."""
    choices = list(choices)
    try:
        if value in choices:
            return value
    except TypeError:  # an unhashable value against a dict's keys
        pass
    close = difflib.get_close_matches(value, [str(c) for c in choices], n=3, cutoff=0.6) \
        if isinstance(value, str) else []
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ArgumentValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got "
                             f"{_show(value)}.{hint}")


def callable_(name: str, value):
    """Something to call (a function, a lambda)."""
    if not callable(value):
        raise ArgumentTypeError(f"{name} must be a function to call; got {_show(value)} "
                                f"({type(value).__name__}).")
    return value


def config_fields(config, positive_ints=(), non_negative_ints=(), positives=(), probabilities=(), booleans=(),
                  optional=()):
    """Check the fields of a dataclass config in ``__post_init__`` (NumPy numbers become Python ones), each
    error naming ``ConfigClass.field``; the names in ``optional`` may also be None."""
    kinds = ((positive_ints, positive_int), (non_negative_ints, non_negative_int), (positives, positive),
             (probabilities, probability))
    for names, check in kinds:
        for field in names:
            setattr(config, field, check(f"{type(config).__name__}.{field}", getattr(config, field),
                                         optional=field in optional))
    for field in booleans:
        setattr(config, field, boolean(f"{type(config).__name__}.{field}", getattr(config, field)))
    return config


def multiple_of(name: str, value: int, of_name: str, of: int) -> int:
    """``value`` a whole multiple of ``of`` (a width shared out between heads), or an error naming both."""
    if value % of:
        raise ArgumentValueError(f"{name} ({value}) must be divisible by {of_name} ({of}) so that each part "
                                 f"gets the same width; try {name}={max(of, value // of * of)}.")
    return value
