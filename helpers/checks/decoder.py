"""Checks for notebook 08 (the modern decoder): RMSNorm, applying RoPE, one cached attention step."""

import torch
import torch.nn.functional as F

from . import CheckFailed, Mistake, compare, describe, exercise


def _rms(x, weight, eps, outside=False, no_weight=False):
    ms = x.pow(2).mean(-1, keepdim=True)
    y = x / (ms.sqrt() + eps if outside else torch.sqrt(ms + eps))
    return y if no_weight else weight * y


RMS_MISTAKES = [
    Mistake("LayerNorm instead of RMSNorm", "RMSNorm does not subtract the mean: it only divides by the root "
            "of the mean square.", lambda x, w, eps: F.layer_norm(x, x.shape[-1:], w, None, eps)),
    Mistake("eps outside the square root", "eps is added to the mean of the squares, under the square root.",
            lambda x, w, eps: _rms(x, w, eps, outside=True)),
    Mistake("the weight forgotten", "After normalising, scale each feature by its learned weight.",
            lambda x, w, eps: _rms(x, w, eps, no_weight=True)),
]


@exercise("08.1", "RMSNorm", mistakes=RMS_MISTAKES, hint=(
    "Over the last dimension of each vector: the mean of the squared entries, plus eps, square-rooted, is the "
    "vector's RMS; divide the vector by it (keeping the dimension so the shapes line up) and multiply by the "
    "weight, feature by feature."))
def rms_norm(answer) -> None:
    x, weight = torch.tensor([[1.0, 2.0, 3.0], [0.0, 4.0, -4.0]]), torch.tensor([1.0, 0.5, 2.0])
    compare(answer, _rms, (x, weight, 1.0), what="RMSNorm of a (2, 3) input with eps=1.0",
            shown=f"x = {x.tolist()}, weight = {weight.tolist()}, eps = 1.0")
    g = torch.Generator().manual_seed(0)
    for shape in [(5,), (2, 3, 8), (4, 16)]:
        x = torch.randn(shape, generator=g) * 3 + 1  # a mean far from 0: LayerNorm would differ
        weight = torch.rand(shape[-1], generator=g) + 0.5
        for eps in (1e-5, 1.0):
            compare(answer, _rms, (x, weight, eps), what=f"RMSNorm of a {tuple(shape)} input with eps={eps}",
                    shown="random x and weight", hint="Divide x by sqrt(mean(x**2 over the last dimension) + eps), "
                                                      "then multiply by weight.")


def _rope(x, cos, sin, direction=1, reflect=False, pairs=False):
    if pairs:  # even/odd pairs instead of the two halves
        x1, x2 = x[..., 0::2], x[..., 1::2]
        c, s = cos[..., : x.shape[-1] // 2], sin[..., : x.shape[-1] // 2]
        return torch.stack([x1 * c - x2 * s, x2 * c + x1 * s], -1).flatten(-2)
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat([x2, x1], -1) if reflect else torch.cat([-x2, x1], -1) * direction
    return x * cos + rotated * sin


ROPE_MISTAKES = [
    Mistake("a reflection, not a rotation", "Swapping the halves without negating one of them is a reflection: "
            "the rotated partner of (x1, x2) is (-x2, x1).", lambda x, c, s: _rope(x, c, s, reflect=True)),
    Mistake("rotated the wrong way", "The sign is on the second half's partner: rotated = (-x2, x1), so that "
            "the angle grows with the position.", lambda x, c, s: _rope(x, c, s, direction=-1)),
    Mistake("even/odd pairs instead of halves", "This course (like transformers' Llama) pairs dimension i with "
            "i + head_dim / 2 (the two halves), not 2i with 2i + 1.", lambda x, c, s: _rope(x, c, s, pairs=True)),
]


@exercise("08.2", "applying rotary position embeddings", mistakes=ROPE_MISTAKES, hint=(
    "Cut the last dimension into two halves x1 and x2. Rotating by an angle mixes each pair (x1[i], x2[i]): "
    "the cosine tables multiply x itself, the sine tables multiply a partner vector built from the two halves, "
    "one of them negated. Position 0 (angle 0) must come back unchanged, and every vector keeps its length."))
def apply_rope(answer) -> None:
    from helpers.llama import apply_rope as ref, rope_tables

    g = torch.Generator().manual_seed(1)
    for B, H, T, D in [(1, 1, 3, 2), (1, 1, 4, 4), (2, 3, 7, 8), (1, 2, 5, 16)]:
        x = torch.randn(B, H, T, D, generator=g)
        cos, sin = rope_tables(T, D, theta=100.0)
        compare(answer, ref, (x, cos, sin), what=f"RoPE on x of shape {(B, H, T, D)}",
                shown=f"x = {describe_x(x)}, cos and sin from rope_tables({T}, {D}, theta=100)",
                hint="Split the last dimension into halves x1, x2; the partner of x is (-x2, x1).")


def describe_x(x):
    return str([[round(v, 2) for v in row] for row in x.flatten(0, -2).tolist()]) if x.numel() <= 16 else \
        f"random, shape {tuple(x.shape)}"


def _step(q, k_new, v_new, k_cache, v_cache, self_too=True, new_first=False, scale=True):
    keys = torch.cat([k_new, k_cache] if new_first else [k_cache, k_new], 2)
    values = torch.cat([v_new, v_cache] if new_first else [v_cache, v_new], 2)
    k_att, v_att = (keys, values) if self_too else (k_cache, v_cache)
    att = torch.softmax(q @ k_att.transpose(-2, -1) / (q.size(-1) ** 0.5 if scale else 1), dim=-1)
    return att @ v_att, keys, values  # (B, H, 1, D), (B, H, past + 1, D) twice


STEP_MISTAKES = [
    Mistake("the new token does not attend to itself", "Append the new key and value to the caches BEFORE "
            "attending: the newest token sees the past and itself.",
            lambda *a: _step(*a, self_too=False)),
    Mistake("new entries put first", "The caches keep the tokens in order: the new key and value go AFTER "
            "the cached ones.", lambda *a: _step(*a, new_first=True)),
    Mistake("missing scale", "Divide the scores by the square root of head_dim, as in full attention.",
            lambda *a: _step(*a, scale=False)),
]


@exercise("08.3", "one cached attention step", mistakes=STEP_MISTAKES, hint=(
    "Grow each cache by one position along the tokens dimension, new entries last. Then the one new query "
    "attends over all the keys in the grown cache with ordinary scaled dot-product attention; it needs no "
    "mask, since nothing in the cache lies in its future. Return the output and both grown caches."))
def cached_attention_step(answer) -> None:
    g = torch.Generator().manual_seed(2)
    for B, H, D, past in [(1, 1, 2, 1), (2, 3, 8, 0), (2, 3, 8, 6)]:
        q = torch.randn(B, H, 1, D, generator=g)
        k_new, v_new = torch.randn(B, H, 1, D, generator=g), torch.randn(B, H, 1, D, generator=g)
        k_cache, v_cache = torch.randn(B, H, past, D, generator=g), torch.randn(B, H, past, D, generator=g)
        got = compare(answer, _step, (q, k_new, v_new, k_cache, v_cache), atol=1e-5,
                      what=f"(output, key cache, value cache) after one step with {past} cached positions",
                      shown=(f"q = {describe(q)}, k_new = {describe(k_new)}, v_new = {describe(v_new)}, k_cache = "
                             f"{describe(k_cache)}, v_cache = {describe(v_cache)}" if B * H * D <= 2 else
                             f"random q, k_new, v_new of shape ({B}, {H}, 1, {D}), caches of shape ({B}, {H}, {past}, {D})"),
                      hint="The newest token attends to every cached position and to itself: softmax(q K^T / "
                           "sqrt(head_dim)) V over the grown caches, no mask needed.")
        if not (isinstance(got, tuple) and len(got) == 3):
            raise CheckFailed("return three tensors: (output, grown key cache, grown value cache).")
