"""Argument checks with messages that help, and the course's error types.

Each public function of ``helpers`` states its contract in a few lines at the top, before any
work starts, so the teaching code below stays readable::

    def corpus(name, max_docs=None):
        max_docs = validate.positive_int("max_docs", max_docs, optional=True)

A check returns the value in the form the code wants (a NumPy integer becomes an ``int``, a tuple of
words a ``list``, a ``str`` path a ``Path``), or raises one of the errors below with a message that
names the argument, what was given, what is allowed and what to do. Checks accept what a user
reasonably passes: NumPy and whole-number floats for integers, tuples for lists, strings for paths.
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch


# --------------------------------------------------------------------------------------------
# The course's error types
# --------------------------------------------------------------------------------------------


class CourseError(Exception):
    """Base of every error the course raises on purpose; its message says what to do."""


class ArgumentTypeError(CourseError, TypeError):
    """An argument of a type that cannot be right (a string where a list belongs, a float id)."""


class ArgumentValueError(CourseError, ValueError):
    """An argument of the right type with a value that cannot be right (a size of 0 or below, a
    probability above 1, an empty corpus, an unknown option)."""


class ShapeError(ArgumentValueError):
    """Tensors or arrays whose shapes do not fit the function or each other."""


class PathError(ArgumentValueError):
    """A path that cannot serve: a folder where a file belongs or the reverse, or an output folder
    that cannot be written."""


class MissingFileError(PathError, FileNotFoundError):
    """A file the call reads is not there."""


class UnknownNameError(CourseError, KeyError):
    """A name looked up in a table (a word in a vocabulary, an asset) that is not there; the
    message suggests close matches."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class NotAvailableError(CourseError, RuntimeError):
    """Something the call needs is not on this machine (a device, a package)."""


class TrainingError(CourseError, RuntimeError):
    """Training went wrong in a way that would otherwise pass silently: a NaN or infinite loss,
    no training example, an empty loss history. The message says when and why."""


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------


def _show(value, limit: int = 80) -> str:
    """``repr(value)``, cut short: a whole corpus in a message helps nobody."""
    text = repr(value)
    if isinstance(value, (list, tuple)) and len(text) > limit:
        text = f"{type(value).__name__} of {len(value)} items starting {repr(value[:3])[:limit]}"
    elif isinstance(value, torch.Tensor):
        text = f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    elif isinstance(value, np.ndarray):
        text = f"array of shape {value.shape} and dtype {value.dtype}"
    return text if len(text) <= limit else text[:limit] + "..."


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


# --------------------------------------------------------------------------------------------
# Strings and sequences
# --------------------------------------------------------------------------------------------


def string(name: str, value, non_empty: bool = True) -> str:
    """A ``str`` (not bytes, not a list of strings), not empty unless ``non_empty=False``."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a string; got {_show(value)} ({type(value).__name__}).")
    if non_empty and not value.strip():
        raise ArgumentValueError(f"{name} is empty; give some text.")
    return value


def list_of_str(name: str, value, min_len: int = 1, hint: str = "") -> list[str]:
    """A list of strings (a tuple is fine); a bare string is refused, since iterating it would give
    one item per character. ``hint`` ends the message (for example how to split a text)."""
    hint = f" {hint}" if hint else ""
    if isinstance(value, (str, bytes)):
        raise ArgumentTypeError(f"{name} must be a list of strings, not a single string (which would be "
                                f"read one character at a time); wrap it in a list: [{_show(value)}].{hint}")
    if not isinstance(value, (Sequence, np.ndarray)):
        raise ArgumentTypeError(f"{name} must be a list of strings; got {_show(value)} "
                                f"({type(value).__name__}).{hint}")
    items = list(value)
    bad = [(i, x) for i, x in enumerate(items) if not isinstance(x, str)]
    if bad:
        i, x = bad[0]
        raise ArgumentTypeError(f"{name} must hold strings only; item {i} is {_show(x)} "
                                f"({type(x).__name__}).{hint}")
    if len(items) < min_len:
        raise ArgumentValueError(f"{name} is empty or too short: give at least {min_len} string(s); got "
                                 f"{len(items)}.{hint}")
    return items


def tokenised_corpus(name: str, value, hint: str = "") -> list:
    """A non-empty list of documents, each a list of word strings (``data.corpus("lee")``)."""
    hint = hint or "for example helpers.data.corpus('lee') or data.tokenize_documents(texts)"
    if isinstance(value, (str, bytes)):
        raise ArgumentTypeError(f"{name} must be a tokenised corpus: a list of documents, each a list "
                                f"of words ({hint}), not a single string.")
    if not isinstance(value, Sequence):
        raise ArgumentTypeError(f"{name} must be a list of documents, each a list of words ({hint}); "
                                f"got {type(value).__name__}.")
    if len(value) == 0:
        raise ArgumentValueError(f"{name} is empty: give at least one document (a list of words).")
    for i, doc in enumerate(value[:1000]):  # enough to catch a wrong shape without reading it all
        if isinstance(doc, str):
            raise ArgumentTypeError(f"Each document of {name} must be a list of words, not a string "
                                    f"(document {i} is {_show(doc)}); tokenise first with "
                                    f"helpers.data.tokenize_documents(texts).")
        if not isinstance(doc, Sequence) or (len(doc) and not isinstance(doc[0], str)):
            raise ArgumentTypeError(f"Each document of {name} must be a list of word strings; document "
                                    f"{i} is {_show(doc)}.")
    return value


def warn_or_refuse_one_word_documents(name: str, corpus: Sequence[Sequence[str]]) -> None:
    """Refuse a corpus split into words instead of documents: windows never cross a document, so
    one-word documents give no (word, context) pair at all."""
    lengths = np.fromiter((len(doc) for doc in corpus), dtype=np.int64, count=len(corpus))
    if (lengths >= 2).sum() == 0:
        raise ArgumentValueError(
            f"No document of {name} has two words or more ({len(corpus)} documents), so no word has a "
            f"context. If you split a text into words, split it into lines or documents instead: "
            f"data.tokenize_documents(text.splitlines()).")
    share = float((lengths == 1).mean())
    if share > 0.5:
        warnings.warn(
            f"{share:.0%} of the {len(corpus)} documents of {name} hold a single word: a word's context "
            f"never crosses a document, so they teach nothing. Was the text split into words instead of "
            f"lines? Use data.tokenize_documents(text.splitlines()).", stacklevel=3)


# --------------------------------------------------------------------------------------------
# Tensors and token ids
# --------------------------------------------------------------------------------------------

_KINDS = {"float": torch.Tensor.is_floating_point, "bool": lambda t: t.dtype == torch.bool,
          "integer": lambda t: not t.is_floating_point() and not t.is_complex() and t.dtype != torch.bool}


def tensor(name: str, x, dtype: str | torch.dtype | Sequence | None = None,
           ndim: int | Sequence[int] | None = None, min_ndim: int | None = None) -> torch.Tensor:
    """A ``torch.Tensor`` of the given dtype ("float", "integer", "bool", a torch dtype, or a list of
    those) and number of dimensions (one number or the allowed ones)."""
    if not isinstance(x, torch.Tensor):
        hint = " Convert it with torch.as_tensor(...)." if isinstance(x, (np.ndarray, list, tuple)) else ""
        raise ArgumentTypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}.{hint}")
    if dtype is not None:
        allowed = list(dtype) if isinstance(dtype, (list, tuple)) else [dtype]
        fits = [_KINDS[d](x) if isinstance(d, str) else x.dtype == d for d in allowed]
        if not any(fits):
            raise ArgumentTypeError(f"{name} must be a {' or '.join(str(d).replace('torch.', '') for d in allowed)}"
                                    f" tensor; got {x.dtype}.")
    if ndim is not None:
        dims = [ndim] if isinstance(ndim, int) else list(ndim)
        if x.dim() not in dims:
            raise ShapeError(f"{name} must have {' or '.join(map(str, dims))} dimension(s); got shape "
                             f"{tuple(x.shape)}.")
    if min_ndim is not None and x.dim() < min_ndim:
        raise ShapeError(f"{name} must have at least {min_ndim} dimensions; got shape {tuple(x.shape)}.")
    return x


def token_ids(name: str, ids, vocab_size: int | None = None, min_len: int = 1) -> torch.Tensor:
    """Token ids as a long tensor: a list or tuple of whole numbers, a NumPy or torch integer array.
    Refuses floats, strings, negative ids and ids at or beyond ``vocab_size``."""
    if isinstance(ids, str):
        raise ArgumentTypeError(f"{name} must be token ids (whole numbers), not text; encode it first "
                                f"with the tokenizer.")
    if isinstance(ids, (list, tuple)):
        bad = [x for x in ids if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Integral)]
        if bad:
            raise ArgumentTypeError(f"{name} must hold whole-number token ids; found {_show(bad[0])} "
                                    f"({type(bad[0]).__name__}).")
        ids = torch.tensor([int(x) for x in ids], dtype=torch.long)
    elif isinstance(ids, np.ndarray):
        if not np.issubdtype(ids.dtype, np.integer):
            raise ArgumentTypeError(f"{name} must hold whole-number token ids; got an array of {ids.dtype}.")
        ids = torch.from_numpy(ids.astype(np.int64))
    elif isinstance(ids, torch.Tensor):
        tensor(name, ids, dtype="integer")
        ids = ids.long()
    else:
        raise ArgumentTypeError(f"{name} must be token ids (a list or tensor of whole numbers); got "
                                f"{type(ids).__name__}.")
    if ids.numel() < min_len:
        raise ArgumentValueError(f"{name} is empty: give at least {min_len} token id(s).")
    if ids.numel() and int(ids.min()) < 0:
        raise ArgumentValueError(f"{name} holds a negative id ({int(ids.min())}); ids start at 0.")
    if vocab_size is not None and ids.numel() and int(ids.max()) >= vocab_size:
        raise ArgumentValueError(f"{name} holds the id {int(ids.max())}, but the vocabulary has "
                                 f"{vocab_size} tokens (ids 0 to {vocab_size - 1}).")
    return ids


def device(name: str, value) -> torch.device:
    """A device name ("cpu", "cuda", "cuda:1", "mps") or a ``torch.device``; availability is not checked
    here (``helpers.device.get_device`` does that)."""
    if isinstance(value, torch.device):
        return value
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a device name such as 'cpu', 'cuda' or 'mps' (or a "
                                f"torch.device); got {_show(value)} ({type(value).__name__}).")
    try:
        return torch.device(value)
    except RuntimeError:
        raise ArgumentValueError(f"{name}: {value!r} is not a device name; use 'cpu', 'cuda', 'cuda:0' or "
                                 f"'mps'.") from None


# --------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------


def _as_path(name: str, value) -> Path:
    if not isinstance(value, (str, os.PathLike)) or (isinstance(value, str) and not value.strip()):
        raise ArgumentTypeError(f"{name} must be a path (a string or pathlib.Path); got {_show(value)} "
                                f"({type(value).__name__}).")
    return Path(value).expanduser()


def file_path(name: str, value, must_exist: bool = True, writable: bool = False) -> Path:
    """A path to a file: refused when it is a folder, or (``must_exist``) when nothing is there. A
    file to be written (``writable=True``) needs a folder that exists to hold it."""
    path = _as_path(name, value)
    if path.is_dir():
        raise PathError(f"{name} is a folder ({path}), but a file belongs here; give the path of a file "
                        f"inside it.")
    if must_exist and not path.exists():
        raise MissingFileError(f"{name}: no file at {path}. Check the path (relative paths start at "
                               f"{Path.cwd()}).")
    if writable and not path.parent.is_dir():
        raise PathError(f"{name}: the folder {path.parent} that should hold {path.name} does not exist; "
                        f"create it first.")
    return path


def dir_path(name: str, value, must_exist: bool = False, writable: bool = False) -> Path:
    """A path to a folder: refused when it is a file. ``writable=True`` creates it if needed and
    checks that files can be written there (before any work, not after an epoch)."""
    path = _as_path(name, value)
    if path.exists() and not path.is_dir():
        raise PathError(f"{name} is a file ({path}), but a folder belongs here; give a folder path.")
    if must_exist and not path.is_dir():
        raise MissingFileError(f"{name}: no folder at {path}.")
    if writable:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise PathError(f"{name}: cannot create the folder {path} ({err.strerror}); choose a folder "
                            f"you can write to.") from None
        if not os.access(path, os.W_OK | os.X_OK):
            raise PathError(f"{name}: the folder {path} cannot be written; choose a folder you can "
                            f"write to.")
    return path


def losses_ok(losses: Sequence[float], where: str, hint: str) -> None:
    """Stop a training run whose loss history is empty or whose last loss is NaN or infinite,
    saying where it happened, the last finite loss, and ``hint`` (what to change)."""
    if not losses:
        raise TrainingError(f"Training ran no step at {where}: the data gave no training example. {hint}")
    if not math.isfinite(losses[-1]):
        finite = [x for x in losses if math.isfinite(x)]
        last = f"{finite[-1]:.4g}" if finite else "none"
        raise TrainingError(f"The loss became {losses[-1]} at {where} (the last finite loss: {last}). {hint}")


def callable_(name: str, value):
    """Something to call (a function, a lambda)."""
    if not callable(value):
        raise ArgumentTypeError(f"{name} must be a function to call; got {_show(value)} "
                                f"({type(value).__name__}).")
    return value
