"""Checks for notebook 08 (the modern decoder): RMSNorm, applying RoPE, one cached attention step."""

import torch
import torch.nn.functional as F

from . import CheckFailed, exercise, expect_close


@exercise("08.1", "RMSNorm")
def rms_norm(answer) -> None:
    g = torch.Generator().manual_seed(0)
    for shape in [(5,), (2, 3, 8), (4, 16)]:
        x = torch.randn(shape, generator=g) * 3 + 1  # a mean far from 0: LayerNorm would differ
        weight = torch.rand(shape[-1], generator=g) + 0.5
        for eps in (1e-5, 1.0):
            want = weight * x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)
            got = answer(x.clone(), weight.clone(), eps)
            if isinstance(got, torch.Tensor) and got.shape == want.shape and \
                    torch.allclose(got, F.layer_norm(x, x.shape[-1:], weight, None, eps), atol=1e-5):
                raise CheckFailed("that is LayerNorm: RMSNorm does not subtract the mean, it divides by "
                                  "sqrt(mean(x**2) + eps) only.")
            expect_close(got, want, f"RMSNorm of a {tuple(shape)} input with eps={eps}", atol=1e-5,
                         hint="Divide x by sqrt(mean(x**2 over the last dimension) + eps), then multiply by "
                              "weight; keepdim=True keeps the shapes aligned.")


@exercise("08.2", "applying rotary position embeddings")
def apply_rope(answer) -> None:
    from helpers.llama import apply_rope as ref, rope_tables

    g = torch.Generator().manual_seed(1)
    for B, H, T, D in [(1, 1, 4, 2), (2, 3, 7, 8), (1, 2, 5, 16)]:
        x = torch.randn(B, H, T, D, generator=g)
        cos, sin = rope_tables(T, D, theta=100.0)
        got = answer(x.clone(), cos, sin)
        expect_close(got[..., :1, :], x[..., :1, :], "position 0 (angle 0: no rotation)",
                     hint="At position 0, cos is 1 and sin is 0, so x must come back unchanged.")
        if isinstance(got, torch.Tensor) and got.shape == x.shape and \
                not torch.allclose(got.norm(dim=-1), x.norm(dim=-1), atol=1e-4):
            raise CheckFailed("a rotation keeps every vector's length; yours changes it. Pair dimension i "
                              "with i + head_dim/2 and use (x1 cos - x2 sin, x2 cos + x1 sin).")
        expect_close(got, ref(x, cos, sin), f"RoPE on x of shape {(B, H, T, D)}", atol=1e-5,
                     hint="Split the last dimension into halves x1, x2; rotated = cat(-x2, x1); "
                          "return x * cos + rotated * sin (transformers' rotate_half layout).")


@exercise("08.3", "one cached attention step")
def cached_attention_step(answer) -> None:
    g = torch.Generator().manual_seed(2)
    B, H, D = 2, 3, 8
    for past in (0, 1, 6):
        q = torch.randn(B, H, 1, D, generator=g)
        k_new, v_new = torch.randn(B, H, 1, D, generator=g), torch.randn(B, H, 1, D, generator=g)
        k_cache, v_cache = torch.randn(B, H, past, D, generator=g), torch.randn(B, H, past, D, generator=g)
        got = answer(q, k_new, v_new, k_cache.clone(), v_cache.clone())
        if not (isinstance(got, tuple) and len(got) == 3):
            raise CheckFailed("return three tensors: (output, grown key cache, grown value cache).")
        out, k_all, v_all = got
        keys, values = torch.cat([k_cache, k_new], 2), torch.cat([v_cache, v_new], 2)
        expect_close(k_all, keys, f"the key cache after one step with {past} cached positions",
                     hint="Append the new key after the cached ones along the tokens dimension (dim=2).")
        expect_close(v_all, values, f"the value cache after one step with {past} cached positions",
                     hint="Append the new value after the cached ones (dim=2).")
        want = torch.softmax(q @ keys.transpose(-2, -1) / D ** 0.5, dim=-1) @ values  # (B, H, 1, D)
        expect_close(out, want, f"the attention output with {past} cached positions", atol=1e-5,
                     hint="The newest token attends to every cached position and to itself: "
                          "softmax(q K^T / sqrt(head_dim)) V over the grown caches, no mask needed.")
