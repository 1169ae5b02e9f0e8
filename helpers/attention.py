"""Self-attention, written out to teach and fused to run fast, behind one function.

    attention(q, k, v, mask=None, is_causal=False)          # fused: torch's scaled_dot_product_attention
    attention(q, k, v, ..., impl="manual")                  # the formula, step by step
    out, weights = attention(q, k, v, ..., return_weights=True)   # weights need the manual path

softmax(Q Kᵀ / √d) V, with the masks the course uses:

- a **padding mask** hides the padded key positions of a batch of sentences of different lengths;
- a **causal mask** lets position i see positions 0..i only (GPT-style language models).

Masks follow torch's convention: a bool mask is True where attention is *allowed*; a float mask
is *added* to the scores (0 to keep, -inf to hide). Either must broadcast to (..., q_tokens, k_tokens).

``MultiHeadAttention`` splits the model dimension into heads, attends in each, and merges them back.
Its parameter names follow nanoGPT (``c_attn`` holds the query, key and value projections in one
Linear, ``c_proj`` the output projection), so the GPT of ``helpers.transformer`` is nanoGPT's layout.

Positional encodings: ``sinusoidal_positions`` (the fixed sin/cos table of "Attention is all you
need") and ``LearnedPositionalEncoding`` (a trained table, as in BERT and GPT-2).

``time_ms`` and ``peak_memory_mb`` measure what attention costs (bench/attention.py, notebook 04).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import validation as validate

IMPLS = ("fused", "manual")


# --------------------------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------------------------


def causal_mask(q_tokens: int, k_tokens: int | None = None, device=None) -> torch.Tensor:
    """Bool (q_tokens, k_tokens), True on and below the diagonal: query i may see keys 0..i.

    Aligned top-left like torch's ``is_causal=True`` when there are more keys than queries.
    """
    q_tokens = validate.positive_int("q_tokens", q_tokens)
    k_tokens = q_tokens if k_tokens is None else validate.positive_int("k_tokens", k_tokens)
    return torch.ones(q_tokens, k_tokens, dtype=torch.bool, device=device).tril()


def padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """A tokenizer's (batch, tokens) 0/1 attention_mask -> bool (batch, 1, 1, tokens) key mask.

    True where the key is a real token. The two middle dimensions broadcast over heads and queries,
    so every query ignores the padded keys.
    """
    validate.tensor("attention_mask", attention_mask)
    if attention_mask.dim() != 2:
        raise validate.ShapeError(
            f"padding_mask expects a (batch, tokens) 0/1 attention_mask as a tokenizer returns it; "
            f"got shape {tuple(attention_mask.shape)}."
        )
    if not ((attention_mask == 0) | (attention_mask == 1)).all():
        raise validate.ArgumentValueError("attention_mask must hold 0 (padding) and 1 (a real token) only.")
    return attention_mask.bool()[:, None, None, :]  # (batch, 1, 1, tokens)


# --------------------------------------------------------------------------------------------
# Scaled dot-product attention
# --------------------------------------------------------------------------------------------


def _check_inputs(q, k, v, mask) -> None:
    """Clear errors for the shapes and dtypes that do not fit, before any arithmetic."""
    for name, t in (("query", q), ("key", k), ("value", v)):
        validate.tensor(name, t, dtype="float")
        if t.dim() < 2:
            raise validate.ShapeError(f"{name} must have at least 2 dimensions (..., tokens, dim); "
                                      f"got shape {tuple(t.shape)}.")
    if not q.dtype == k.dtype == v.dtype:
        raise validate.ArgumentTypeError(f"query, key and value must share one dtype; got {q.dtype}, "
                                         f"{k.dtype}, {v.dtype}.")
    if q.shape[-1] != k.shape[-1]:
        raise validate.ShapeError(
            f"query and key must have the same last dimension (they are dotted together): "
            f"query {tuple(q.shape)}, key {tuple(k.shape)}."
        )
    if k.shape[-2] != v.shape[-2]:
        raise validate.ShapeError(
            f"key and value must have the same number of tokens (dimension -2), one value per key: "
            f"key {tuple(k.shape)}, value {tuple(v.shape)}."
        )
    try:
        torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except RuntimeError:
        raise validate.ShapeError(
            f"the leading (batch, heads) dimensions of query {tuple(q.shape)}, key {tuple(k.shape)} "
            f"and value {tuple(v.shape)} do not broadcast together."
        ) from None
    if mask is None:
        return
    if not isinstance(mask, torch.Tensor):
        raise validate.ArgumentTypeError(f"mask must be a torch.Tensor or None, got {type(mask).__name__}.")
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise validate.ArgumentTypeError(
            f"mask must be bool (True = may attend) or float (added to the scores); got {mask.dtype}. "
            f"A tokenizer's 0/1 attention_mask converts with padding_mask(attention_mask)."
        )
    scores_shape = (*torch.broadcast_shapes(q.shape[:-2], k.shape[:-2]), q.shape[-2], k.shape[-2])
    try:
        if torch.broadcast_shapes(mask.shape, scores_shape) != torch.Size(scores_shape):
            raise RuntimeError
    except RuntimeError:
        raise validate.ShapeError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the attention scores "
            f"(..., q_tokens, k_tokens) = {scores_shape}. A padding mask is (batch, 1, 1, k_tokens), "
            f"a causal mask (q_tokens, k_tokens)."
        ) from None


def _check_options(q, k, v, mask, is_causal, dropout_p, scale) -> None:
    _check_inputs(q, k, v, mask)
    validate.boolean("is_causal", is_causal)
    validate.probability("dropout_p", dropout_p)
    validate.real("scale", scale, optional=True)


def manual_attention(q, k, v, mask=None, is_causal=False, dropout_p=0.0, scale=None):
    """softmax(q kᵀ / √d + mask) v, written out. Returns (output, weights).

    q (..., Lq, d), k (..., Lk, d), v (..., Lk, dv) -> output (..., Lq, dv), weights (..., Lq, Lk).
    """
    _check_options(q, k, v, mask, is_causal, dropout_p, scale)
    return _manual_attention(q, k, v, mask, is_causal, dropout_p, scale)


def _manual_attention(q, k, v, mask, is_causal, dropout_p, scale):
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., Lq, Lk): how well each query fits each key
    if is_causal:
        future = ~causal_mask(q.shape[-2], k.shape[-2], device=q.device)
        scores = scores.masked_fill(future, float("-inf"))  # query i never sees key j > i
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))  # exp(-inf) = 0: no weight
        else:
            scores = scores + mask
    weights = torch.softmax(scores, dim=-1)  # (..., Lq, Lk), each row sums to 1
    if mask is not None or is_causal:  # a query that may see no key at all gets zero, not NaN
        weights = weights.masked_fill((scores == float("-inf")).all(-1, keepdim=True), 0.0)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v, weights  # (..., Lq, dv)


def attention(q, k, v, mask=None, is_causal=False, dropout_p=0.0, scale=None, impl="fused",
              return_weights=False):
    """Scaled dot-product attention, fused (default) or written out (``impl="manual"``).

    q (..., Lq, d), k (..., Lk, d), v (..., Lk, dv); ``mask`` bool (True = attend) or float (added),
    broadcastable to (..., Lq, Lk). Returns the output (..., Lq, dv), and the weights (..., Lq, Lk)
    too when ``return_weights=True`` (which uses the manual path: the fused kernel never forms them).
    """
    validate.one_of("impl", impl, IMPLS)
    validate.boolean("return_weights", return_weights)
    _check_options(q, k, v, mask, is_causal, dropout_p, scale)
    if return_weights or impl == "manual":
        out, weights = _manual_attention(q, k, v, mask, is_causal, dropout_p, scale)
        return (out, weights) if return_weights else out
    if is_causal and mask is not None:  # torch's kernel takes one or the other: fold them together
        causal = causal_mask(q.shape[-2], k.shape[-2], device=q.device)  # (Lq, Lk)
        if mask.dtype == torch.bool:
            mask = mask & causal
        else:
            mask = mask + torch.zeros(causal.shape, dtype=mask.dtype, device=q.device).masked_fill(
                ~causal, float("-inf"))
        is_causal = False
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p,
                                          is_causal=is_causal, scale=scale)


# --------------------------------------------------------------------------------------------
# Multi-head attention
# --------------------------------------------------------------------------------------------


def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(batch, tokens, n_embd) -> (batch, n_head, tokens, head_dim)."""
    validate.tensor("x", x, ndim=3)
    n_head = validate.positive_int("n_head", n_head)
    B, T, C = x.shape
    if C % n_head:
        raise validate.ShapeError(f"n_embd={C} (the last dimension of x) must divide by n_head={n_head}.")
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(batch, n_head, tokens, head_dim) -> (batch, tokens, n_head * head_dim)."""
    validate.tensor("x", x, ndim=4)
    B, H, T, D = x.shape
    return x.transpose(1, 2).contiguous().view(B, T, H * D)


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention: project to q, k, v; attend in each head; merge; project out.

    n_embd must divide by n_head; each head works in head_dim = n_embd // n_head dimensions.
    """

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0, bias: bool = True,
                 impl: str = "fused"):
        super().__init__()
        n_embd, n_head = validate.positive_int("n_embd", n_embd), validate.positive_int("n_head", n_head)
        dropout, bias = validate.probability("dropout", dropout), validate.boolean("bias", bias)
        validate.one_of("impl", impl, IMPLS)
        if n_embd % n_head != 0:
            raise validate.ArgumentValueError(
                f"the model dimension ({n_embd}) must be divisible by the number of heads ({n_head}): "
                f"each head gets n_embd // n_head dimensions. Try n_head in "
                f"{[h for h in range(1, min(n_embd, 64) + 1) if n_embd % h == 0][-6:]}."
            )
        self.n_embd, self.n_head, self.head_dim = n_embd, n_head, n_embd // n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)  # query, key, value in one matmul
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)  # merges what the heads found
        self.dropout = dropout
        self.resid_dropout = nn.Dropout(dropout)
        self.impl = impl

    def forward(self, x, mask=None, is_causal=False, need_weights=False):
        """x (batch, tokens, n_embd) -> (batch, tokens, n_embd); with need_weights also the
        attention weights (batch, n_head, tokens, tokens)."""
        validate.tensor("x", x, dtype="float")
        if x.dim() != 3 or x.shape[-1] != self.n_embd:
            raise validate.ShapeError(f"expected input (batch, tokens, {self.n_embd}), got {tuple(x.shape)}.")
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)  # 3 x (batch, tokens, n_embd)
        q, k, v = (split_heads(t, self.n_head) for t in (q, k, v))  # (batch, heads, tokens, head_dim)
        p = self.dropout if self.training else 0.0
        if need_weights:
            y, weights = attention(q, k, v, mask, is_causal, p, return_weights=True)
        elif mask is None and self.impl == "fused":  # the hot path of GPT training: straight to the kernel
            y, weights = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=is_causal), None
        else:
            y, weights = attention(q, k, v, mask, is_causal, p, impl=self.impl), None
        y = self.resid_dropout(self.c_proj(merge_heads(y)))  # (batch, tokens, n_embd)
        return (y, weights) if need_weights else y


# --------------------------------------------------------------------------------------------
# Positional encodings
# --------------------------------------------------------------------------------------------


def sinusoidal_positions(n_positions: int, n_embd: int, base: float = 10_000.0) -> torch.Tensor:
    """The fixed (n_positions, n_embd) table of Vaswani et al.: sin on even, cos on odd dimensions.

    PE[p, 2i] = sin(p / base^(2i/n_embd)), PE[p, 2i+1] = cos(same). Each pair of dimensions turns at
    its own frequency, so a fixed offset between positions is a fixed rotation.
    """
    n_positions = validate.positive_int("n_positions", n_positions)
    n_embd = validate.positive_int("n_embd", n_embd)
    base = validate.positive("base", base)
    if n_embd % 2:
        raise validate.ArgumentValueError(f"sinusoidal positions pair sin and cos: n_embd must be even, "
                                          f"got {n_embd}.")
    pos = torch.arange(n_positions, dtype=torch.float32)[:, None]  # (positions, 1)
    freq = base ** (-torch.arange(0, n_embd, 2, dtype=torch.float32) / n_embd)  # (n_embd/2,)
    pe = torch.zeros(n_positions, n_embd)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe


def _check_positions_input(x, n_embd: int) -> None:
    validate.tensor("x", x, dtype="float", ndim=3)
    if x.shape[-1] != n_embd:
        raise validate.ShapeError(f"expected input (batch, tokens, {n_embd}), got {tuple(x.shape)}.")


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal table to (batch, tokens, n_embd) inputs; nothing to train."""

    def __init__(self, max_positions: int, n_embd: int):
        super().__init__()
        max_positions = validate.positive_int("max_positions", max_positions)
        self.register_buffer("pe", sinusoidal_positions(max_positions, n_embd), persistent=False)

    def forward(self, x):
        _check_positions_input(x, self.pe.shape[1])
        T = x.shape[1]
        if T > self.pe.shape[0]:
            raise validate.ShapeError(f"{T} tokens, but positions were made for at most {self.pe.shape[0]}.")
        return x + self.pe[:T]


class LearnedPositionalEncoding(nn.Module):
    """Adds a trained (max_positions, n_embd) table (BERT, GPT-2) to (batch, tokens, n_embd) inputs."""

    def __init__(self, max_positions: int, n_embd: int):
        super().__init__()
        max_positions = validate.positive_int("max_positions", max_positions)
        self.table = nn.Embedding(max_positions, validate.positive_int("n_embd", n_embd))
        nn.init.normal_(self.table.weight, std=0.02)

    def forward(self, x):
        _check_positions_input(x, self.table.embedding_dim)
        T = x.shape[1]
        if T > self.table.num_embeddings:
            raise validate.ShapeError(f"{T} tokens, but positions were learned for at most "
                             f"{self.table.num_embeddings}.")
        return x + self.table(torch.arange(T, device=x.device))


# --------------------------------------------------------------------------------------------
# Measuring cost
# --------------------------------------------------------------------------------------------


def _sync(device) -> None:
    kind = torch.device(device).type
    if kind == "cuda":
        torch.cuda.synchronize()
    elif kind == "mps":
        torch.mps.synchronize()


def time_ms(fn: Callable[[], object], device="cpu", repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in milliseconds, after ``warmup`` calls."""
    validate.callable_("fn", fn)
    device = validate.device("device", device)
    repeats, warmup = validate.positive_int("repeats", repeats), validate.non_negative_int("warmup", warmup)
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 for a moment: torch's profiler logs start/stop lines there."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (some embedded interpreters): nothing to hide
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_memory_mb(fn: Callable[[], object], device="cpu") -> float:
    """Peak memory allocated by torch while ``fn()`` runs, in MB, above what was live before.

    cuda: the allocator's own peak counter. cpu (and mps): torch's profiler records every
    allocation and free in order; the peak of their running sum is the answer.
    """
    validate.callable_("fn", fn)
    device = validate.device("device", device)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    from torch.profiler import ProfilerActivity, profile

    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    # Each op's own allocations (net of its own frees, children excluded), and "[memory]" events
    # for frees that happen outside any op, replayed in time order.
    changes = sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events()
                     if e.self_cpu_memory_usage)
    live = peak = 0
    for _, delta in changes:
        live += delta
        peak = max(peak, live)
    return peak / 2**20
