"""Solutions to the exercises of notebook 04, and typical wrong answers (the tests use both)."""

import math

import torch


def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., Lq, Lk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v  # (..., Lq, dv)


def attention_wrong(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)  # forgets to divide by sqrt(d)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def split_heads(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)  # (B, n_head, T, head_dim)


def split_heads_wrong(x, n_head):
    B, T, C = x.shape
    return x.reshape(B, n_head, T, C // n_head)  # right shape, tokens mixed into heads


def sinusoidal_positions(n_positions, n_embd):
    pos = torch.arange(n_positions, dtype=torch.float32)[:, None]
    freq = 10_000 ** (-torch.arange(0, n_embd, 2, dtype=torch.float32) / n_embd)
    pe = torch.zeros(n_positions, n_embd)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe


def sinusoidal_positions_wrong(n_positions, n_embd):
    pe = sinusoidal_positions(n_positions, n_embd)
    return torch.stack([pe[:, 1::2], pe[:, 0::2]], dim=-1).flatten(-2)  # cos on even dimensions, sin on odd


SOLUTIONS = {"04.1": attention, "04.2": split_heads, "04.3": sinusoidal_positions}
WRONG = {"04.1": attention_wrong, "04.2": split_heads_wrong, "04.3": sinusoidal_positions_wrong}
