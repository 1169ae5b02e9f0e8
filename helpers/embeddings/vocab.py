"""The vocabulary the static embeddings train on, and the gensim ``KeyedVectors`` they become.

``Vocab`` counts a tokenised corpus (a list of documents, each a list of words), keeps the words
seen often enough, most frequent first, and turns the corpus into flat arrays of word ids.
``to_keyed_vectors`` hands trained vectors to gensim, so they get ``most_similar``, analogies and
``evaluate_word_pairs`` as gensim users know them.
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from .. import validation as validate


def _check_corpus(corpus) -> None:
    validate.tokenised_corpus("corpus", corpus)


@dataclass
class Vocab:
    """Words kept for training, most frequent first, with their corpus counts."""

    words: list[str]
    counts: np.ndarray  # (V,) int64, in the same order as words
    index: dict[str, int] = field(repr=False, default_factory=dict)

    def __post_init__(self):
        if not self.index:
            self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def from_corpus(cls, corpus: Sequence[Sequence[str]], min_count: int = 5,
                    max_size: int | None = None, min_size: int = 2) -> "Vocab":
        """Count words; keep those seen ``min_count`` times or more (at most ``max_size``)."""
        _check_corpus(corpus)
        min_count = validate.positive_int("min_count", min_count)
        max_size = validate.positive_int("max_size", max_size, optional=True)
        min_size = validate.positive_int("min_size", min_size)
        counter = Counter()
        for doc in corpus:
            counter.update(doc)
        if not counter:
            raise validate.ArgumentValueError(f"The corpus has {len(corpus)} documents but no words in them.")
        kept = [(w, c) for w, c in counter.items() if c >= min_count]
        kept.sort(key=lambda wc: (-wc[1], wc[0]))  # most frequent first, ties alphabetical
        if max_size is not None:
            kept = kept[:max_size]
        if len(kept) < min_size:
            raise validate.ArgumentValueError(
                f"Only {len(kept)} distinct words occur {min_count} times or more "
                f"({len(counter)} distinct words in all, {sum(counter.values())} tokens); at least "
                f"{min_size} are needed. Give a bigger corpus or lower min_count.")
        words = [w for w, _ in kept]
        return cls(words, np.array([c for _, c in kept], dtype=np.int64))

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def id(self, word: str) -> int:
        """The id of ``word``; a KeyError that suggests close matches when it is unknown."""
        check_word(word, self.index)
        return self.index[word]

    def encode(self, corpus: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """The corpus as flat arrays: word ids (out-of-vocabulary words dropped) and document ids.

        Returns ``(ids, docs)``, both (tokens_kept,) int32.
        """
        _check_corpus(corpus)
        ids, docs = [], []
        get = self.index.get
        for d, doc in enumerate(corpus):
            row = [i for i in map(get, doc) if i is not None]
            ids.append(np.asarray(row, dtype=np.int32))
            docs.append(np.full(len(row), d, dtype=np.int32))
        return np.concatenate(ids), np.concatenate(docs)


def check_word(word: str, vocabulary) -> None:
    """Raise a KeyError naming close matches when ``word`` is not in ``vocabulary``.

    ``vocabulary`` is anything with ``in`` and iteration over words: a dict, a Vocab's index, or a
    gensim ``KeyedVectors`` (its ``key_to_index``).
    """
    validate.string("word", word)
    keys = getattr(vocabulary, "key_to_index", vocabulary)
    if not hasattr(keys, "__contains__") or isinstance(keys, str):
        raise validate.ArgumentTypeError(f"vocabulary must be a dict of words, a Vocab's index or gensim "
                                         f"KeyedVectors; got {type(vocabulary).__name__}.")
    if word in keys:
        return
    close = difflib.get_close_matches(str(word).lower(), list(keys), n=5, cutoff=0.75)
    hint = f" Close matches: {', '.join(close)}." if close else ""
    low = " (the vocabulary is lower-case)" if str(word) != str(word).lower() else ""
    raise validate.UnknownNameError(f"{word!r} is not in the vocabulary of {len(keys):,} words{low}.{hint}")


def to_keyed_vectors(words: Sequence[str], vectors) -> "KeyedVectors":  # noqa: F821
    """gensim ``KeyedVectors`` holding ``vectors`` (V, D) for ``words`` (keep frequency order)."""
    from gensim.models import KeyedVectors

    words = validate.list_of_str("words", words)
    if len(set(words)) != len(words):
        twice = next(w for i, w in enumerate(words) if w in words[:i])
        raise validate.ArgumentValueError(f"words must be distinct; {twice!r} occurs more than once.")
    if not isinstance(vectors, (torch.Tensor, np.ndarray)):
        raise validate.ArgumentTypeError(f"vectors must be a (words, dim) tensor or NumPy array; got "
                                         f"{type(vectors).__name__}.")
    vectors = torch.as_tensor(vectors).detach().float().cpu().numpy()
    if vectors.ndim != 2 or len(words) != len(vectors) or vectors.shape[1] == 0:
        raise validate.ShapeError(f"Need one vector per word: {len(words)} words, vectors of shape "
                                  f"{tuple(vectors.shape)}.")
    kv = KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(list(words), vectors)
    kv.fill_norms()
    kv.norms[kv.norms == 0] = 1.0
    return kv

