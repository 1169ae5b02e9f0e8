"""Checks for notebook 04: attention by hand, splitting into heads, sinusoidal positions."""

import math

import torch

from . import Mistake, compare, exercise


def _attend(q, k, v, mask=None, scale=True, dim=-1, fill=float("-inf"), invert=False, by_d=False):
    d = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / (d if by_d else math.sqrt(d) if scale else 1.0)  # (..., Lq, Lk)
    if mask is not None:
        scores = scores.masked_fill(mask if invert else ~mask, fill)
    return torch.softmax(scores, dim=dim) @ v


ATTENTION_MISTAKES = [
    Mistake("missing scale", "The scores look unscaled: without dividing by the square root of d the softmax "
            "saturates as d grows.", lambda q, k, v, mask=None: _attend(q, k, v, mask, scale=False)),
    Mistake("scaled by d, not sqrt(d)", "Divide the scores by the square root of the head dimension, not by the "
            "dimension itself.", lambda q, k, v, mask=None: _attend(q, k, v, mask, by_d=True)),
    Mistake("wrong axis", "The softmax looks as if it ran over the queries: each query's weights over the keys "
            "must sum to 1, so take it over the last dimension.",
            lambda q, k, v, mask=None: _attend(q, k, v, mask, dim=-2)),
    Mistake("mask with 0 instead of -inf", "Masked scores look set to 0: exp(0) = 1 still gives those keys "
            "weight. A masked score must become minus infinity, so its weight is exactly 0.",
            lambda q, k, v, mask=None: _attend(q, k, v, mask, fill=0.0)),
    Mistake("mask the wrong way round", "True in the mask means 'may attend': hide the positions where the "
            "mask is False.", lambda q, k, v, mask=None: _attend(q, k, v, mask, invert=True)),
]


@exercise("04.1", "scaled dot-product attention with a mask", mistakes=ATTENTION_MISTAKES, hint=(
    "Four steps. (1) Score every query against every key with a dot product: the scores have one row per "
    "query and one column per key. (2) Divide the scores by the square root of the vectors' dimension. "
    "(3) Where the mask forbids attending, make the score minus infinity. (4) Turn each query's row of scores "
    "into weights that sum to 1, and use them to average the value vectors. Batch dimensions in front pass "
    "through untouched."))
def scaled_dot_product_attention(answer) -> None:
    from helpers.attention import attention, causal_mask

    # A case small enough to read when it goes wrong: 3 tokens, d = 2.
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    k = torch.tensor([[2.0, 1.0], [0.0, 1.0], [1.0, -1.0]])
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    shown = f"q = {q.tolist()}, k = {k.tolist()}, v = {v.tolist()}"
    compare(answer, attention, (q, k, v), what="attention of 3 tokens with d = 2", shown=shown,
            hint="Scores (q against k), divided by sqrt(d), softmax over the keys (the last dimension), then mix v.")
    causal = causal_mask(3)
    compare(answer, attention, (q, k, v), {"mask": causal}, what="the same with a causal mask",
            shown=shown + ", mask = causal (True = may attend)",
            hint="Where the mask is False a score must become -inf before the softmax, so its weight is 0.")
    g = torch.Generator().manual_seed(4)
    for shape_q, shape_k in [((5, 8), (5, 8)), ((2, 7, 16), (2, 9, 16)), ((2, 3, 6, 4), (2, 3, 6, 4))]:
        q, k, v = (torch.randn(s, generator=g) for s in (shape_q, shape_k, shape_k))
        compare(answer, attention, (q, k, v), what=f"attention with q {shape_q}, k {shape_k}",
                shown="random q, k, v", hint="Batch dimensions in front must pass through: swap only k's last two "
                                             "dimensions and take the softmax over the last one.")
    q, k, v = (torch.randn(2, 3, 6, 4, generator=g) for _ in range(3))
    pad = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)[:, None, None, :]
    compare(answer, attention, (q, k, v), {"mask": pad}, what="attention with a padding mask (batch, 1, 1, tokens)",
            shown="random q, k, v of shape (2, 3, 6, 4), the last 2 keys of the first sequence masked",
            hint="The mask broadcasts over heads and queries; masked keys must get zero weight.")


SPLIT_MISTAKES = [
    Mistake("reshape straight to heads", "Reshaping straight to (batch, n_head, tokens, head_dim) has the right "
            "shape but mixes tokens into heads: first cut each token's vector into n_head pieces, then move the "
            "heads in front of the tokens.", lambda x, h: x.reshape(x.shape[0], h, x.shape[1], x.shape[2] // h)),
    Mistake("heads not moved in front of tokens", "After cutting each token's vector into pieces the heads "
            "dimension comes after the tokens: swap those two dimensions.",
            lambda x, h: x.view(x.shape[0], x.shape[1], h, x.shape[2] // h)),
    Mistake("heads interleaved", "Head i takes a contiguous slice of head_dim features (features i * head_dim "
            "onwards), not every n_head-th feature.",
            lambda x, h: x.view(x.shape[0], x.shape[1], x.shape[2] // h, h).permute(0, 3, 1, 2)),
]


@exercise("04.2", "split the model dimension into heads", mistakes=SPLIT_MISTAKES, hint=(
    "Two moves: view the last dimension as (n_head, head_dim), which keeps each token's features together, "
    "then swap the tokens and heads dimensions so that each head sees all tokens."))
def split_heads(answer) -> None:
    from helpers.attention import split_heads as reference

    x = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 4)
    compare(answer, reference, (x, 2), what="split_heads of a (2, 3, 4) tensor into 2 heads",
            shown=f"x = {x.tolist()}, n_head = 2")
    x = torch.arange(2 * 5 * 12, dtype=torch.float32).view(2, 5, 12)
    for n_head in (1, 3, 4):
        compare(answer, reference, (x, n_head), what=f"split_heads of a (2, 5, 12) tensor into {n_head} heads",
                shown="x = arange(120) viewed as (2, 5, 12)",
                hint="view(batch, tokens, n_head, head_dim), then swap tokens and heads.")


def _sinusoid(n, d, swap=False, halves=False, per_pair=False):
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    i = torch.arange(0, d, 2, dtype=torch.float32)
    freq = 10_000 ** (-(i / 2 if per_pair else i) / d)
    s, c = torch.sin(pos * freq), torch.cos(pos * freq)
    if swap:
        s, c = c, s
    if halves:
        return torch.cat([s, c], dim=-1)
    return torch.stack([s, c], dim=-1).flatten(-2)  # sin on even dimensions, cos on odd ones


SINUSOID_MISTAKES = [
    Mistake("sin and cos swapped", "Even dimensions (0, 2, 4, ...) hold the sine, odd ones the cosine.",
            lambda n, d: _sinusoid(n, d, swap=True)),
    Mistake("halves instead of interleaved", "Sine and cosine alternate dimension by dimension (sin, cos, sin, "
            "cos, ...); they are not two halves.", lambda n, d: _sinusoid(n, d, halves=True)),
    Mistake("the exponent uses i, not 2i", "The pair of dimensions (2i, 2i+1) turns at frequency "
            "1 / 10000^(2i / d): the exponent counts dimensions, not pairs.", lambda n, d: _sinusoid(n, d, per_pair=True)),
]


@exercise("04.3", "sinusoidal positional encodings", mistakes=SINUSOID_MISTAKES, hint=(
    "Each pair of dimensions (2i, 2i+1) is a clock turning at its own frequency, from 1 for the first pair "
    "down to about 1/10000 for the last: the even dimension holds the sine of position times frequency, the "
    "odd one the cosine."))
def sinusoidal(answer) -> None:
    from helpers.attention import sinusoidal_positions

    for n, d in [(3, 4), (10, 4), (50, 16), (128, 64)]:
        compare(answer, sinusoidal_positions, (n, d), atol=1e-4, what=f"positions for n_positions={n}, n_embd={d}",
                shown=f"n_positions = {n}, n_embd = {d}",
                hint="PE[p, 2i] = sin(p / 10000^(2i/d)) and PE[p, 2i+1] = cos(p / 10000^(2i/d)).")
