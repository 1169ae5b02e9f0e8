"""Checks for notebooks 01 (word2vec), 02 (GloVe) and 03 (contextual embeddings)."""

from __future__ import annotations

import numpy as np
import torch

from . import CheckFailed, exercise, expect_close


def _as_tensor(x, what: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    if isinstance(x, torch.Tensor):
        return x
    raise CheckFailed(f"{what}: expected a NumPy array or a torch.Tensor, got {type(x).__name__}.")


# -------------------------------------------------------------------------------------------- 01


@exercise("01.1", "subsampling: the probability of keeping a word")
def keep_probability(answer) -> None:
    from helpers.embeddings import keep_probabilities

    counts = np.array([50_000, 10_000, 2_000, 500, 40, 3], dtype=np.int64)
    for sample in (1e-3, 1e-4):
        got = _as_tensor(answer(counts, sample), f"keep probabilities (sample={sample})").double()
        want = torch.from_numpy(keep_probabilities(counts, sample))
        if got.shape == want.shape and (got > 1 + 1e-9).any():
            raise CheckFailed("Some probabilities are above 1: cap them with a minimum(1, ...).")
        expect_close(got, want, f"keep probabilities for counts {counts.tolist()} (sample={sample})",
                     atol=1e-6, hint="With f = count / total: keep = (sqrt(f / sample) + 1) * sample / f, "
                                     "capped at 1.")


@exercise("01.3", "the negative-sampling loss")
def negative_sampling_loss(answer) -> None:
    from helpers.embeddings import sgns_loss

    g = torch.Generator().manual_seed(1)
    for B, K, D in [(4, 3, 8), (16, 5, 20)]:
        c, o = torch.randn(B, D, generator=g), torch.randn(B, D, generator=g)
        n = torch.randn(B, K, D, generator=g)
        got = answer(c, o, n)
        if isinstance(got, torch.Tensor) and got.dim() != 0:
            raise CheckFailed(f"Return one number (the mean over the batch), not a tensor of shape "
                              f"{tuple(got.shape)}.")
        expect_close(torch.as_tensor(got), sgns_loss(c, o, n), f"loss for B={B}, K={K}, D={D}",
                     atol=1e-4, hint="loss = -log sigmoid(c . o) - sum_k log sigmoid(-c . n_k), averaged "
                                     "over the batch. Is the sign of the noise scores flipped?")


@exercise("01.2", "the noise distribution for negatives")
def noise(answer) -> None:
    from helpers.embeddings import noise_distribution

    counts = np.array([1000, 300, 100, 10, 1])
    got = _as_tensor(answer(counts), "noise distribution").double()
    if got.shape == (5,) and abs(got.sum().item() - 1) > 1e-6:
        raise CheckFailed(f"The probabilities sum to {got.sum().item():.4f}; divide by their sum.")
    plain = torch.from_numpy(counts / counts.sum())
    if got.shape == plain.shape and torch.allclose(got, plain, atol=1e-6):
        raise CheckFailed("That is the plain unigram distribution: raise the counts to the power 0.75 "
                          "first, which gives rare words more chances.")
    expect_close(got, torch.from_numpy(noise_distribution(counts)), "noise distribution", atol=1e-6,
                 hint="p(w) = count(w)^0.75 / sum over words of count^0.75.")


# -------------------------------------------------------------------------------------------- 02


@exercise("02.1", "GloVe's weighting function f(x)")
def weighting(answer) -> None:
    from helpers.embeddings import glove_weight

    x = torch.tensor([1.0, 5.0, 50.0, 99.0, 100.0, 101.0, 1e4])
    got = answer(x)
    if isinstance(got, torch.Tensor) and got.shape == x.shape and got[-1] > 1 + 1e-6:
        raise CheckFailed(f"f(10000) = {got[-1].item():.3g}: f must stay at 1 above x_max = 100.")
    expect_close(got, glove_weight(x), "f(x) with x_max=100, alpha=0.75", atol=1e-5,
                 hint="f(x) = (x / x_max) ** alpha when x < x_max, else 1.")


@exercise("02.2", "GloVe's weighted least-squares loss")
def wls(answer) -> None:
    from helpers.embeddings import glove_loss

    g = torch.Generator().manual_seed(2)
    B, D = 32, 10
    wi, wj = torch.randn(B, D, generator=g) * 0.3, torch.randn(B, D, generator=g) * 0.3
    bi, bj = torch.randn(B, generator=g) * 0.1, torch.randn(B, generator=g) * 0.1
    x = torch.randint(1, 300, (B,), generator=g).float()
    got = answer(wi, wj, bi, bj, x)
    expect_close(torch.as_tensor(got), glove_loss(wi, wj, bi, bj, x), "the batch's mean loss", atol=1e-4,
                 hint="mean of f(x) * (w_i . w_j + b_i + b_j - log x)^2. The log, not x itself.")


# -------------------------------------------------------------------------------------------- 03


@exercise("03.1", "inputs and targets of a bidirectional language model")
def bilm_targets(answer) -> None:
    from helpers.contextual import lm_targets

    ids = torch.tensor([[5, 6, 7, 8, 9], [1, 2, 3, 4, 0]])
    got = answer(ids)
    want = lm_targets(ids)
    if not isinstance(got, tuple) or len(got) != 2:
        raise CheckFailed("Return a pair (forward_targets, backward_targets).")
    expect_close(got[0], want[0], "forward targets", atol=0,
                 hint="The forward LM at position t predicts the token at t+1; the last position has "
                      "nothing to predict (use -100).")
    expect_close(got[1], want[1], "backward targets", atol=0,
                 hint="The backward LM at position t predicts the token at t-1; the first position "
                      "has nothing to predict (use -100).")


@exercise("03.2", "cosine similarity between rows")
def cosine(answer) -> None:
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(6, 12, generator=g), torch.randn(6, 12, generator=g)
    got = answer(a, b)
    want = torch.nn.functional.cosine_similarity(a, b, dim=-1)
    expect_close(got, want, "cosine of 6 pairs of rows", atol=1e-5,
                 hint="(a . b) / (|a| |b|), row by row: sum over the last dimension.")
    got = answer(a * 10, b)
    expect_close(got, want, "cosine when a is scaled by 10", atol=1e-5,
                 hint="The cosine does not change when a vector is scaled: divide by both norms.")
