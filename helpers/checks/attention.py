"""Checks for notebook 04: attention by hand, splitting into heads, sinusoidal positions."""

import torch

from . import exercise, expect_close


@exercise("04.1", "scaled dot-product attention with a mask", hint=(
    "Four steps. (1) scores: every query against every key, q @ k with k's last two dimensions swapped, so the "
    "result is (..., Lq, Lk). (2) divide the scores by the square root of d = q.shape[-1]. (3) where the mask is "
    "False, put -inf into the scores (masked_fill with ~mask), so exp gives exactly 0. (4) softmax over the last "
    "dimension (each query's weights over the keys sum to 1), then multiply by v."))
def scaled_dot_product_attention(answer) -> None:
    from helpers.attention import attention, causal_mask

    # A case small enough to read when it goes wrong: 3 tokens, d = 2.
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    k = torch.tensor([[2.0, 1.0], [0.0, 1.0], [1.0, -1.0]])
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    shown = f"q = {q.tolist()}, k = {k.tolist()}, v = {v.tolist()}"

    def variant(scale=True, dim=-1, mask=None, fill=float("-inf")):
        scores = q @ k.T / (2 ** 0.5 if scale else 1.0)
        if mask is not None:
            scores = scores.masked_fill(~mask, fill)
        return torch.softmax(scores, dim=dim) @ v

    steps = "Scores (q against k), divided by sqrt(d), softmax over the keys (the last dimension), then mix v."
    expect_close(answer(q, k, v), attention(q, k, v), "attention of 3 tokens with d = 2", shown=shown, hint=steps,
                 mistakes={"The scores look unscaled: divide them by sqrt(d), d = q.shape[-1].": variant(scale=False),
                           "The softmax looks as if it ran over the queries: each query's weights over the keys "
                           "must sum to 1, so take it over the last dimension.": variant(dim=-2)})
    causal = causal_mask(3)
    expect_close(answer(q, k, v, mask=causal), attention(q, k, v, mask=causal), "the same with a causal mask",
                 shown=shown + ", mask = causal (True = may attend)",
                 hint="Where the mask is False a score must become -inf before the softmax, so its weight is 0.",
                 mistakes={"Masked scores look set to 0, not -inf: exp(0) = 1 still gives those keys weight.":
                           variant(mask=causal, fill=0.0),
                           "The mask looks applied the wrong way round: True means may attend, so fill the "
                           "positions where the mask is False.": variant(mask=~causal)})
    g = torch.Generator().manual_seed(4)
    for shape_q, shape_k in [((5, 8), (5, 8)), ((2, 7, 16), (2, 9, 16)), ((2, 3, 6, 4), (2, 3, 6, 4))]:
        q, k, v = (torch.randn(s, generator=g) for s in (shape_q, shape_k, shape_k))
        expect_close(answer(q, k, v), attention(q, k, v), f"attention with q {shape_q}, k {shape_k}",
                     hint="Batch dimensions in front must pass through: transpose only k's last two dimensions "
                          "and take the softmax over the last one.")
    q, k, v = (torch.randn(2, 3, 6, 4, generator=g) for _ in range(3))
    pad = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)[:, None, None, :]
    expect_close(answer(q, k, v, mask=pad), attention(q, k, v, mask=pad),
                 "attention with a padding mask (batch, 1, 1, tokens)",
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
