"""Solutions to the exercises of notebook 01 (word2vec), and typical wrong answers (the tests use both)."""

import numpy as np
import torch
import torch.nn.functional as F


def keep_probability(counts, sample):
    f = np.asarray(counts, dtype=np.float64) / np.sum(counts)  # each word's share of the corpus
    return np.minimum(1.0, (np.sqrt(f / sample) + 1) * sample / f)


def keep_probability_wrong(counts, sample):
    f = np.asarray(counts, dtype=np.float64) / np.sum(counts)
    return (np.sqrt(f / sample) + 1) * sample / f  # forgets the cap at 1 for rare words


def negative_sampling_loss(center, context, negatives):
    pos = (center * context).sum(-1)  # (B,)
    neg = torch.einsum("bkd,bd->bk", negatives, center)  # (B, K)
    return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()


def negative_sampling_loss_wrong(center, context, negatives):
    pos = (center * context).sum(-1)
    neg = torch.einsum("bkd,bd->bk", negatives, center)
    return -(F.logsigmoid(pos) + F.logsigmoid(neg).sum(-1)).mean()  # noise scores not negated


def noise(counts):
    p = np.asarray(counts, dtype=np.float64) ** 0.75
    return p / p.sum()


def noise_wrong(counts):
    return np.asarray(counts, dtype=np.float64) / np.sum(counts)  # plain unigram


SOLUTIONS = {"01.1": keep_probability, "01.3": negative_sampling_loss, "01.2": noise}
WRONG = {"01.1": keep_probability_wrong, "01.3": negative_sampling_loss_wrong, "01.2": noise_wrong}
