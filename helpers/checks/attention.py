"""Checks for notebook 04: attention by hand, splitting into heads, sinusoidal positions."""

import torch

from . import exercise, expect_close


@exercise("04.1", "scaled dot-product attention with a mask")
def scaled_dot_product_attention(answer) -> None:
    from helpers.attention import attention, causal_mask

    g = torch.Generator().manual_seed(4)
    for shape_q, shape_k in [((5, 8), (5, 8)), ((2, 7, 16), (2, 9, 16)), ((2, 3, 6, 4), (2, 3, 6, 4))]:
        q, k, v = (torch.randn(s, generator=g) for s in (shape_q, shape_k, shape_k))
        expect_close(answer(q, k, v), attention(q, k, v), f"attention with q {shape_q}, k {shape_k}",
                     hint="softmax(q @ k.transpose(-2, -1) / sqrt(d)) @ v, softmax over the last "
                          "dimension (the keys); d is q.shape[-1].")
    q, k, v = (torch.randn(2, 3, 6, 4, generator=g) for _ in range(3))
    causal = causal_mask(6)
    expect_close(answer(q, k, v, mask=causal), attention(q, k, v, mask=causal), "attention with a causal mask",
                 hint="Where mask is False the score must become -inf before the softmax "
                      "(scores.masked_fill(~mask, float('-inf'))).")
    pad = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)[:, None, None, :]
    got = answer(q, k, v, mask=pad)
    expect_close(got, attention(q, k, v, mask=pad), "attention with a padding mask (batch, 1, 1, tokens)",
                 hint="The mask broadcasts over heads and queries; masked keys must get zero weight.")


@exercise("04.2", "split the model dimension into heads")
def split_heads(answer) -> None:
    from helpers.attention import split_heads as reference

    x = torch.arange(2 * 5 * 12, dtype=torch.float32).view(2, 5, 12)
    for n_head in (1, 3, 4):
        got = answer(x, n_head)
        expect_close(got, reference(x, n_head), f"split_heads of a (2, 5, 12) tensor into {n_head} heads",
                     hint="view(batch, tokens, n_head, head_dim), then transpose(1, 2) to put heads "
                          "before tokens: reshaping straight to (batch, n_head, tokens, head_dim) mixes "
                          "tokens into heads.")


@exercise("04.3", "sinusoidal positional encodings")
def sinusoidal(answer) -> None:
    from helpers.attention import sinusoidal_positions

    for n, d in [(10, 4), (50, 16), (128, 64)]:
        expect_close(answer(n, d), sinusoidal_positions(n, d), f"positions for n_positions={n}, n_embd={d}",
                     atol=1e-4,
                     hint="PE[p, 2i] = sin(p / 10000^(2i/d)) and PE[p, 2i+1] = cos(p / 10000^(2i/d)).")
