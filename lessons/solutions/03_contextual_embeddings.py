"""Solutions to the exercises of notebook 03 (contextual embeddings), and typical wrong answers."""

import torch


def lm_targets(ids):
    fwd = torch.full_like(ids, -100)
    bwd = torch.full_like(ids, -100)
    fwd[:, :-1] = ids[:, 1:]  # the forward LM predicts the next word
    bwd[:, 1:] = ids[:, :-1]  # the backward LM predicts the previous word
    return fwd, bwd


def lm_targets_wrong(ids):
    fwd = torch.full_like(ids, -100)
    bwd = torch.full_like(ids, -100)
    fwd[:, 1:] = ids[:, :-1]  # directions swapped
    bwd[:, :-1] = ids[:, 1:]
    return fwd, bwd


def cosine(a, b):
    return (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))


def cosine_wrong(a, b):
    return (a * b).sum(-1) / b.norm(dim=-1) ** 2  # divides by the wrong norms


SOLUTIONS = {"03.1": lm_targets, "03.2": cosine}
WRONG = {"03.1": lm_targets_wrong, "03.2": cosine_wrong}
