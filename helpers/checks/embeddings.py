"""Checks for notebooks 01 (word2vec), 02 (GloVe) and 03 (contextual embeddings)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import CheckFailed, Mistake, compare, exercise


def _tensor(fn):
    """The learner's function, its NumPy output (if any) as a float64 tensor, so both kinds compare alike."""
    def run(*args):
        got = fn(*args)
        return torch.from_numpy(np.asarray(got, dtype=np.float64)) if isinstance(got, (np.ndarray, list)) else got
    return run


# -------------------------------------------------------------------------------------------- 01


def _share(counts):
    return np.asarray(counts, dtype=np.float64) / np.sum(counts)


KEEP_MISTAKES = [
    Mistake("no cap at 1", "For rare words the formula gives more than 1: a probability is at most 1.",
            lambda c, t: (np.sqrt(_share(c) / t) + 1) * t / _share(c)),
    Mistake("counts instead of frequencies", "f is a word's share of the corpus (its count divided by the "
            "total of all counts), not its raw count.",
            lambda c, t: np.minimum(1.0, (np.sqrt(c / t) + 1) * t / np.asarray(c, dtype=np.float64))),
    Mistake("the paper's formula", "The word2vec code (and gensim) keep with (sqrt(f / t) + 1) * t / f; the "
            "paper's 1 - sqrt(t / f) is a probability of discarding, and is not the same curve.",
            lambda c, t: np.minimum(1.0, np.sqrt(t / _share(c)))),
]


@exercise("01.1", "subsampling: the probability of keeping a word", mistakes=KEEP_MISTAKES, hint=(
    "Work with each word's share of the corpus, f. The keep probability grows like the square root of "
    "sample / f for frequent words; the exact formula is in the markdown above the cell. Frequent words get "
    "a small probability, words rarer than `sample` are always kept."))
def keep_probability(answer) -> None:
    from helpers.embeddings import keep_probabilities

    counts = np.array([50_000, 10_000, 2_000, 500, 40, 3], dtype=np.int64)
    for sample in (1e-3, 1e-4):
        compare(_tensor(answer), _tensor(keep_probabilities), (counts, sample), atol=1e-6,
                what=f"keep probabilities (sample={sample})", shown=f"counts = {counts.tolist()}, sample = {sample}",
                hint="With f = count / total: keep = (sqrt(f / sample) + 1) * sample / f, capped at 1.")


NOISE_MISTAKES = [
    Mistake("no 3/4 power", "That is the plain unigram distribution: raise the counts to the power 0.75 first, "
            "which gives rare words more chances.", lambda c: _share(c)),
    Mistake("not normalised", "The probabilities must sum to 1: divide by their total after raising to 0.75.",
            lambda c: np.asarray(c, dtype=np.float64) ** 0.75),
    Mistake("normalised before the power", "Raise the counts to 0.75 first and normalise after: "
            "(count / total) ** 0.75 does not sum to 1.", lambda c: _share(c) ** 0.75),
]


@exercise("01.2", "the noise distribution for negatives", mistakes=NOISE_MISTAKES, hint=(
    "Two steps: dampen the counts with a power below 1 (the word2vec paper found 3/4 best), then turn the "
    "dampened counts into probabilities."))
def noise(answer) -> None:
    from helpers.embeddings import noise_distribution

    counts = np.array([1000, 300, 100, 10, 1])
    compare(_tensor(answer), _tensor(noise_distribution), (counts,), atol=1e-6, what="noise distribution",
            shown=f"counts = {counts.tolist()}", hint="p(w) = count(w)^0.75 / sum over words of count^0.75.")


def _sgns_parts(c, o, n):
    return (c * o).sum(-1), torch.einsum("bkd,bd->bk", n, c)  # (B,), (B, K)


SGNS_MISTAKES = [
    Mistake("noise scores not negated", "The noise words should get a LOW score: their term is "
            "log sigmoid of minus the score.",
            lambda c, o, n: -(F.logsigmoid(_sgns_parts(c, o, n)[0]) + F.logsigmoid(_sgns_parts(c, o, n)[1]).sum(-1)).mean()),
    Mistake("summed over the batch", "Average the loss over the batch (mean), do not add it up: the learning "
            "rate would then depend on the batch size.",
            lambda c, o, n: -(F.logsigmoid(_sgns_parts(c, o, n)[0]) + F.logsigmoid(-_sgns_parts(c, o, n)[1]).sum(-1)).sum()),
    Mistake("wrong overall sign", "A loss is minimised: it is MINUS the log-likelihood, so it is positive.",
            lambda c, o, n: (F.logsigmoid(_sgns_parts(c, o, n)[0]) + F.logsigmoid(-_sgns_parts(c, o, n)[1]).sum(-1)).mean()),
]


@exercise("01.3", "the negative-sampling loss", mistakes=SGNS_MISTAKES, hint=(
    "For each pair: the true context word should score high and each noise word low, where a score is a dot "
    "product of the centre vector with an output vector. Take log sigmoid of the true score and of each "
    "noise score with its sign flipped, add them, negate, and average over the batch."))
def negative_sampling_loss(answer) -> None:
    from helpers.embeddings import sgns_loss

    g = torch.Generator().manual_seed(1)
    for B, K, D in [(4, 3, 8), (16, 5, 20)]:
        c, o = torch.randn(B, D, generator=g), torch.randn(B, D, generator=g)
        n = torch.randn(B, K, D, generator=g)
        got = compare(answer, sgns_loss, (c, o, n), atol=1e-4, what=f"loss for B={B}, K={K}, D={D}",
                      shown=f"random vectors: center ({B}, {D}), context ({B}, {D}), negatives ({B}, {K}, {D})",
                      hint="loss = -log sigmoid(c . o) - sum_k log sigmoid(-c . n_k), averaged over the batch.")
        if isinstance(got, torch.Tensor) and got.dim() != 0:
            raise CheckFailed(f"Return one number (the mean over the batch), not a tensor of shape {tuple(got.shape)}.")


# -------------------------------------------------------------------------------------------- 02


WEIGHT_MISTAKES = [
    Mistake("no cap at x_max", "Above x_max = 100 the weight must stay at 1, so that very frequent pairs do "
            "not dominate the loss.", lambda x: (x / 100.0) ** 0.75),
    Mistake("the exponent forgotten", "Below x_max the weight is the ratio x / x_max raised to alpha = 0.75, "
            "not the ratio itself.", lambda x: torch.clamp(x / 100.0, max=1.0)),
]


@exercise("02.1", "GloVe's weighting function f(x)", mistakes=WEIGHT_MISTAKES, hint=(
    "f rises from 0 to 1 as the count x goes from 0 to x_max, following a power curve with exponent alpha, "
    "and is flat at 1 from x_max on."))
def weighting(answer) -> None:
    from helpers.embeddings import glove_weight

    x = torch.tensor([1.0, 5.0, 50.0, 99.0, 100.0, 101.0, 1e4])
    compare(answer, glove_weight, (x,), what="f(x) with x_max=100, alpha=0.75", shown=f"x = {x.tolist()}",
            hint="f(x) = (x / x_max) ** alpha when x < x_max, else 1.")


def _glove_err(wi, wj, bi, bj, target):
    return (wi * wj).sum(-1) + bi + bj - target


WLS_MISTAKES = [
    Mistake("x instead of log x", "GloVe fits the LOGARITHM of the co-occurrence count, not the count itself.",
            lambda wi, wj, bi, bj, x: (torch.clamp(x / 100, max=1) ** 0.75 * _glove_err(wi, wj, bi, bj, x) ** 2).mean()),
    Mistake("the weighting forgotten", "Each squared error is weighted by f(x), so rare pairs count less.",
            lambda wi, wj, bi, bj, x: (_glove_err(wi, wj, bi, bj, x.log()) ** 2).mean()),
    Mistake("summed instead of averaged", "Return the mean over the batch, not the sum.",
            lambda wi, wj, bi, bj, x: (torch.clamp(x / 100, max=1) ** 0.75 * _glove_err(wi, wj, bi, bj, x.log()) ** 2).sum()),
]


@exercise("02.2", "GloVe's weighted least-squares loss", mistakes=WLS_MISTAKES, hint=(
    "For each pair (i, j): the prediction is the dot product of the two vectors plus both biases; the target "
    "is the log of the count; square the difference, weight it by f of the count, and average."))
def wls(answer) -> None:
    from helpers.embeddings import glove_loss

    g = torch.Generator().manual_seed(2)
    B, D = 32, 10
    wi, wj = torch.randn(B, D, generator=g) * 0.3, torch.randn(B, D, generator=g) * 0.3
    bi, bj = torch.randn(B, generator=g) * 0.1, torch.randn(B, generator=g) * 0.1
    x = torch.randint(1, 300, (B,), generator=g).float()
    compare(answer, glove_loss, (wi, wj, bi, bj, x), atol=1e-4, what="the batch's mean loss",
            shown=f"{B} random pairs, D = {D}, counts between 1 and 300",
            hint="mean of f(x) * (w_i . w_j + b_i + b_j - log x)^2.")


# -------------------------------------------------------------------------------------------- 03


def _shifted(ids, fill=-100, swap=False):
    fwd, bwd = torch.full_like(ids, fill), torch.full_like(ids, fill)
    fwd[:, :-1], bwd[:, 1:] = ids[:, 1:], ids[:, :-1]
    return (bwd, fwd) if swap else (fwd, bwd)


TARGET_MISTAKES = [
    Mistake("directions swapped", "The forward LM reads left to right, so it predicts the NEXT token; the "
            "backward LM predicts the previous one.", lambda ids: _shifted(ids, swap=True)),
    Mistake("0 instead of -100", "Positions with nothing to predict must hold -100, the index cross_entropy "
            "ignores; 0 is a real token id and would be trained on.", lambda ids: _shifted(ids, fill=0)),
    Mistake("the edge position dropped", "Keep the targets the shape of the input: put -100 where there is "
            "nothing to predict rather than cutting the position off.", lambda ids: (ids[:, 1:], ids[:, :-1])),
]


@exercise("03.1", "inputs and targets of a bidirectional language model", mistakes=TARGET_MISTAKES, hint=(
    "Both target tensors have the shape of ids. One is ids shifted by one position to the left, the other "
    "shifted to the right; the one position at the edge that has no word to predict is ignored by the loss."))
def bilm_targets(answer) -> None:
    from helpers.contextual import lm_targets

    ids = torch.tensor([[5, 6, 7, 8, 9], [1, 2, 3, 4, 0]])
    got = compare(answer, lm_targets, (ids,), atol=0, what="the (forward, backward) targets",
                  shown=f"ids = {ids.tolist()}",
                  hint="The forward LM at position t predicts the token at t+1, the backward LM the token at t-1; "
                       "the positions with nothing to predict hold -100.")
    if not isinstance(got, tuple) or len(got) != 2:
        raise CheckFailed("Return a pair (forward_targets, backward_targets).")


COSINE_MISTAKES = [
    Mistake("one norm used twice", "Divide by the norm of a AND the norm of b: a cosine ignores both vectors' "
            "lengths.", lambda a, b: (a * b).sum(-1) / b.norm(dim=-1) ** 2),
    Mistake("no normalisation", "A dot product grows with the vectors' lengths: divide it by both norms.",
            lambda a, b: (a * b).sum(-1)),
    Mistake("wrong axis", "Each row is one vector: sum the products and take the norms over the last dimension.",
            lambda a, b: (a * b).sum(0) / (a.norm(dim=0) * b.norm(dim=0))),
]


@exercise("03.2", "cosine similarity between rows", mistakes=COSINE_MISTAKES, hint=(
    "Row by row: the dot product of the two rows divided by the product of their lengths. The result has one "
    "number per row, between -1 and 1, and does not change when a row is scaled."))
def cosine(answer) -> None:
    reference = lambda a, b: F.cosine_similarity(a, b, dim=-1)  # noqa: E731
    a, b = torch.tensor([[3.0, 4.0], [1.0, 0.0], [2.0, 2.0]]), torch.tensor([[4.0, 3.0], [0.0, 5.0], [-1.0, -1.0]])
    compare(answer, reference, (a, b), what="cosine of 3 pairs of rows", shown=f"a = {a.tolist()}, b = {b.tolist()}")
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(6, 12, generator=g), torch.randn(6, 12, generator=g)
    compare(answer, reference, (a, b), what="cosine of 6 pairs of random rows of length 12",
            hint="(a . b) / (|a| |b|), row by row: sum over the last dimension.")
    compare(answer, reference, (a * 10, b), what="cosine when a is scaled by 10",
            hint="The cosine does not change when a vector is scaled: divide by both norms.")
