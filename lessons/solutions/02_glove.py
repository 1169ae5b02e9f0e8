"""Solutions to the exercises of notebook 02 (GloVe), and typical wrong answers (the tests use both)."""

import torch


def weighting(x, x_max=100.0, alpha=0.75):
    return torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x))


def weighting_wrong(x, x_max=100.0, alpha=0.75):
    return (x / x_max) ** alpha  # keeps growing above x_max


def wls(w_i, w_j, b_i, b_j, x):
    err = (w_i * w_j).sum(-1) + b_i + b_j - torch.log(x)  # (B,)
    return (weighting(x) * err ** 2).mean()


def wls_wrong(w_i, w_j, b_i, b_j, x):
    err = (w_i * w_j).sum(-1) + b_i + b_j - x  # fits the counts, not their logarithm
    return (weighting(x) * err ** 2).mean()


SOLUTIONS = {"02.1": weighting, "02.2": wls}
WRONG = {"02.1": weighting_wrong, "02.2": wls_wrong}
