"""word2vec's two sampling tricks, and the (center, context) pairs it trains on.

* Frequent words are subsampled: "the" is kept only a few times in a hundred
  (``keep_probabilities``).
* Negatives are drawn from unigram counts raised to 0.75 (``noise_distribution``), through a
  table in which each word fills its share of the slots, so drawing one costs a random integer.
* Pairs are generated for a whole stretch of corpus at once, one window offset at a time, with
  word2vec's dynamic window (each position draws its own window size between 1 and ``window``);
  they never cross a document boundary (``skipgram_pairs``, ``context_windows``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .. import validation as validate


def _counts(counts) -> np.ndarray:
    """Word counts as a (V,) float array: non-empty, finite, not negative, not all zero."""
    if isinstance(counts, (str, bytes)) or not isinstance(counts, (Sequence, np.ndarray, torch.Tensor)):
        raise validate.ArgumentTypeError(f"counts must be a list or array of word counts; got "
                                         f"{type(counts).__name__}.")
    try:
        arr = np.asarray(counts, dtype=np.float64)
    except (TypeError, ValueError):
        raise validate.ArgumentTypeError("counts must hold numbers only (one count per word).") from None
    if arr.ndim != 1 or len(arr) == 0:
        raise validate.ShapeError(f"counts must be one count per word, a non-empty 1-D list; got shape "
                                  f"{arr.shape}.")
    if not np.isfinite(arr).all() or (arr < 0).any() or arr.sum() == 0:
        raise validate.ArgumentValueError("counts must be finite, not negative and not all zero, as word "
                                          "counts are.")
    return arr


def _id_arrays(ids, docs) -> tuple[np.ndarray, np.ndarray]:
    """The flat corpus of ``Vocab.encode``: word ids and document ids, two 1-D integer arrays of one length."""
    for name, a in (("ids", ids), ("docs", docs)):
        if not isinstance(a, np.ndarray) or not np.issubdtype(a.dtype, np.integer) or a.ndim != 1:
            raise validate.ArgumentTypeError(
                f"{name} must be a 1-D NumPy array of whole numbers, as Vocab.encode returns; got "
                f"{getattr(a, 'dtype', type(a).__name__)} of shape {getattr(a, 'shape', '?')}.")
    if len(ids) != len(docs):
        raise validate.ShapeError(f"ids and docs must have one entry per token each; got {len(ids)} and "
                                  f"{len(docs)}.")
    if len(ids) and ids.min() < 0:
        raise validate.ArgumentValueError(f"ids holds a negative word id ({ids.min()}); ids start at 0.")
    return ids, docs


def _generator(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise validate.ArgumentTypeError(f"rng must be a NumPy random Generator, e.g. "
                                         f"np.random.default_rng(0); got {type(rng).__name__}.")
    return rng


def keep_probabilities(counts: np.ndarray, sample: float = 1e-3) -> np.ndarray:
    """Probability of keeping each occurrence of a word under frequent-word subsampling.

    word2vec's formula (as in the C code and gensim): with ``f`` a word's share of the corpus and
    ``t = sample``, keep with probability ``(sqrt(f / t) + 1) * t / f``, capped at 1. Words rarer
    than about ``t`` are always kept; "the" is kept only a few times in a hundred.
    ``sample=0`` turns subsampling off.
    """
    counts = _counts(counts)
    sample = validate.non_negative("sample (0 turns subsampling off)", sample)
    if sample == 0:
        return np.ones_like(counts)
    f = counts / counts.sum()
    return np.minimum(1.0, (np.sqrt(f / sample) + 1) * sample / f)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """The distribution negatives are drawn from: unigram counts raised to ``power``, normalised."""
    power = validate.non_negative("power", power)
    p = _counts(counts) ** power
    return p / p.sum()


def _noise_table(counts: np.ndarray, power: float = 0.75, size: int = 1_000_000) -> np.ndarray:
    """A table in which word i fills a share p_i of the slots: a uniform slot is a noise word."""
    p = noise_distribution(counts, power)
    size = max(size, 100 * len(p))
    reps = np.round(p * size).astype(np.int64)
    reps[reps == 0] = 1
    return np.repeat(np.arange(len(p), dtype=np.int64), reps)


def _subsample(ids: np.ndarray, docs: np.ndarray, keep: np.ndarray, rng: np.random.Generator):
    mask = rng.random(len(ids)) < keep[ids]
    return ids[mask], docs[mask]


def skipgram_pairs(ids: np.ndarray, docs: np.ndarray, window: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Every (center, context) pair of a stretch of corpus, with word2vec's dynamic window.

    Each position draws its window size uniformly from 1..``window`` (so near words count more);
    pairs never cross a document boundary. Vectorised: one NumPy pass per offset.
    Returns ``(centers, contexts)``, each (pairs,) int64.
    """
    ids, docs = _id_arrays(ids, docs)
    window, rng = validate.positive_int("window", window), _generator(rng)
    n = len(ids)
    win = rng.integers(1, window + 1, size=n)  # (n,) this position's reduced window
    centers, contexts = [], []
    for d in range(1, min(window, n - 1) + 1):
        same = docs[:-d] == docs[d:]  # (n-d,) the pair (i, i+d) lies in one document
        right = same & (win[:-d] >= d)  # center i, context i+d
        left = same & (win[d:] >= d)  # center i+d, context i
        centers += [ids[:-d][right], ids[d:][left]]
        contexts += [ids[d:][right], ids[:-d][left]]
    if not centers:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(centers).astype(np.int64), np.concatenate(contexts).astype(np.int64)


def context_windows(ids: np.ndarray, docs: np.ndarray, window: int, rng: np.random.Generator,
                 pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Each center word with its context words, padded to 2 * ``window`` columns (a window a row).

    Returns ``(centers, contexts)``: (n,) and (n, 2*window) int64, ``pad`` where no context word
    is (outside the reduced window, or across a document boundary). Centers with no context at
    all are dropped.
    """
    ids, docs = _id_arrays(ids, docs)
    window, rng = validate.positive_int("window", window), _generator(rng)
    pad = validate.integer("pad", pad)
    n = len(ids)
    win = rng.integers(1, window + 1, size=n)
    ctx = np.full((n, 2 * window), pad, dtype=np.int64)  # (n, 2W)
    pos = np.arange(n)
    for k, d in enumerate([d for d in range(-window, window + 1) if d != 0]):
        j = pos + d
        ok = (j >= 0) & (j < n) & (abs(d) <= win)
        jj = np.clip(j, 0, n - 1)
        ok &= docs[jj] == docs
        ctx[ok, k] = ids[jj[ok]]
    has = (ctx != pad).any(axis=1)
    return ids[has].astype(np.int64), ctx[has]


def sgns_loss(center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """The skip-gram negative-sampling loss, averaged over a batch.

    center: (B, D) input vectors; context: (B, D) output vectors of the true context words;
    negatives: (B, K, D) output vectors of K noise words per pair.
    loss = -log sigma(c . o) - sum_k log sigma(-c . n_k)
    """
    validate.tensor("center", center, dtype="float", ndim=2)
    validate.tensor("context", context, dtype="float", ndim=2)
    validate.tensor("negatives", negatives, dtype="float", ndim=3)
    B, D = center.shape
    if context.shape != (B, D) or negatives.shape[0] != B or negatives.shape[2] != D:
        raise validate.ShapeError(f"center (B, D), context (B, D) and negatives (B, K, D) must agree; got "
                                  f"{tuple(center.shape)}, {tuple(context.shape)}, {tuple(negatives.shape)}.")
    pos = (center * context).sum(-1)  # (B,)
    neg = torch.bmm(negatives, center.unsqueeze(2)).squeeze(2)  # (B, K)
    return -(torch.nn.functional.logsigmoid(pos) + torch.nn.functional.logsigmoid(-neg).sum(-1)).mean()
