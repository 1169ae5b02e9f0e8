"""Checks of strings, lists of strings and tokenised corpora (part of helpers.validation)."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from .errors import ArgumentTypeError, ArgumentValueError, _show


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
