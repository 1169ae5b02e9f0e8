"""helpers.attention: the hand-written and the fused attention agree, masks mean what they say,
multi-head attention matches torch's, and bad input fails with a clear message."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from helpers.attention import (MultiHeadAttention, SinusoidalPositionalEncoding, attention, causal_mask,
                               manual_attention, merge_heads, padding_mask, peak_memory_mb,
                               sinusoidal_positions, split_heads)

ROOT = Path(__file__).resolve().parents[1]
SHAPES = [  # (q shape, k shape): batchless, batched, batched with heads, more keys than queries
    ((5, 8), (5, 8)),
    ((3, 7, 16), (3, 7, 16)),
    ((2, 4, 9, 8), (2, 4, 9, 8)),
    ((2, 4, 6, 32), (2, 4, 11, 32)),
    ((1, 2, 1, 8), (1, 2, 13, 8)),
]


def _qkv(qs, ks, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(qs, generator=g), torch.randn(ks, generator=g), torch.randn(ks, generator=g)


def _pad_mask(ks, seed=1):
    """A random (batch, 1, 1, Lk) padding mask keeping at least the first key of each row."""
    g = torch.Generator().manual_seed(seed)
    batch = ks[0] if len(ks) > 2 else 1
    lengths = torch.randint(1, ks[-2] + 1, (batch,), generator=g)
    keep = torch.arange(ks[-2])[None, :] < lengths[:, None]  # (batch, Lk)
    m = keep[:, None, None, :] if len(ks) == 4 else keep[:, None, :]
    return m if len(ks) > 2 else m[0, 0]


@pytest.mark.parametrize("qs,ks", SHAPES)
@pytest.mark.parametrize("masking", ["none", "padding", "causal", "padding+causal", "float"])
def test_manual_equals_fused(qs, ks, masking):
    q, k, v = _qkv(qs, ks)
    mask, causal = None, "causal" in masking
    if "padding" in masking:
        mask = _pad_mask(ks)
    if masking == "float":
        mask = torch.randn(qs[-2], ks[-2])
    a = attention(q, k, v, mask=mask, is_causal=causal, impl="manual")
    b = attention(q, k, v, mask=mask, is_causal=causal, impl="fused")
    assert a.shape == (*qs[:-1], ks[-1])
    assert (a - b).abs().max().item() < 1e-5


def test_manual_equals_fused_gradients():
    q, k, v = _qkv((2, 3, 10, 8), (2, 3, 10, 8))
    grads = []
    for impl in ("manual", "fused"):
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        attention(*leaves, mask=_pad_mask((2, 3, 10, 8)), is_causal=True, impl=impl).square().sum().backward()
        grads.append([t.grad for t in leaves])
    for ga, gb in zip(*grads):
        assert (ga - gb).abs().max().item() < 1e-5


def test_formula_by_hand():
    q, k, v = _qkv((4, 6), (4, 6))
    want = torch.softmax(q @ k.T / math.sqrt(6), dim=-1) @ v
    assert torch.allclose(attention(q, k, v, impl="manual"), want, atol=1e-6)
    assert torch.allclose(attention(q, k, v), want, atol=1e-6)


def test_masks_mean_what_they_say():
    q, k, v = _qkv((2, 2, 7, 4), (2, 2, 7, 4))
    _, w = attention(q, k, v, is_causal=True, return_weights=True)
    assert torch.allclose(w.sum(-1), torch.ones(2, 2, 7))
    assert (w.triu(diagonal=1) == 0).all()  # no weight on the future
    assert (w[..., causal_mask(7)] > 0).all()  # some weight on every past key
    am = torch.tensor([[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]])
    _, w = attention(q, k, v, mask=padding_mask(am), return_weights=True)
    assert (w[0, :, :, 5:] == 0).all() and (w[1] > 0).all()
    # the padded keys' values cannot leak into the output
    v2 = v.clone()
    v2[0, :, 5:] = 1e3
    assert torch.allclose(attention(q, k, v2, mask=padding_mask(am)), attention(q, k, v, mask=padding_mask(am)))
    assert causal_mask(2, 3).tolist() == [[True, False, False], [True, True, False]]


def test_fully_masked_row_is_zero_in_both_paths():
    q, k, v = _qkv((1, 3, 4), (1, 5, 4))
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1] = False
    for impl in ("manual", "fused"):
        out = attention(q, k, v, mask=mask, impl=impl)
        assert torch.isfinite(out).all() and (out[0, 1] == 0).all()


def test_permutation_equivariance_without_positions():
    """Attention alone does not know the order of the tokens: permute in, permute out."""
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4).eval()
    x = torch.randn(1, 6, 16)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    assert torch.allclose(mha(x)[:, perm], mha(x[:, perm]), atol=1e-6)
    pe = SinusoidalPositionalEncoding(16, 16)
    assert not torch.allclose(mha(pe(x))[:, perm], mha(pe(x[:, perm])), atol=1e-3)


def test_multihead_matches_torch_multiheadattention():
    torch.manual_seed(0)
    E, H = 32, 4
    ours = MultiHeadAttention(E, H).eval()
    ref = torch.nn.MultiheadAttention(E, H, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.c_attn.weight)
        ref.in_proj_bias.copy_(ours.c_attn.bias)
        ref.out_proj.weight.copy_(ours.c_proj.weight)
        ref.out_proj.bias.copy_(ours.c_proj.bias)
    x = torch.randn(3, 10, E)
    want, want_w = ref(x, x, x, need_weights=True, average_attn_weights=False)
    got, got_w = ours(x, need_weights=True)
    assert (got - want).abs().max() < 1e-5 and (got_w - want_w).abs().max() < 1e-5
    causal = torch.nn.Transformer.generate_square_subsequent_mask(10)
    want, _ = ref(x, x, x, attn_mask=causal, need_weights=False)
    for impl in ("fused", "manual"):
        ours.impl = impl
        assert (ours(x, is_causal=True) - want).abs().max() < 1e-5


def test_split_and_merge_heads_round_trip():
    x = torch.randn(2, 5, 12)
    h = split_heads(x, 3)
    assert h.shape == (2, 3, 5, 4)
    assert torch.equal(h[1, 2, 4], x[1, 4, 8:12])  # head 2 holds dimensions 8..11
    assert torch.equal(merge_heads(h), x)


def test_sinusoidal_positions():
    pe = sinusoidal_positions(50, 8)
    assert pe.shape == (50, 8)
    assert torch.equal(pe[0], torch.tensor([0.0, 1.0] * 4))
    assert math.isclose(pe[3, 0].item(), math.sin(3), abs_tol=1e-6)
    assert math.isclose(pe[3, 3].item(), math.cos(3 / 10_000 ** (2 / 8)), abs_tol=1e-6)
    # the dot product depends on the offset only, not on where the pair sits
    assert math.isclose((pe[5] @ pe[9]).item(), (pe[20] @ pe[24]).item(), abs_tol=1e-4)


def test_peak_memory_shows_the_attention_matrix():
    q, k, v = _qkv((1, 2, 512, 16), (1, 2, 512, 16))
    manual = peak_memory_mb(lambda: manual_attention(q, k, v))
    fused = peak_memory_mb(lambda: attention(q, k, v))
    matrix = 2 * 512 * 512 * 4 / 2**20  # one (heads, T, T) float32 matrix: 2 MB
    assert manual >= 1.9 * matrix  # scores and weights both live
    assert fused < manual / 2


# ---- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("qs,ks,vs,match", [
    ((2, 5, 8), (2, 5, 6), (2, 5, 8), "same last dimension"),
    ((2, 5, 8), (2, 5, 8), (2, 4, 8), "same number of tokens"),
    ((2, 5, 8), (3, 5, 8), (3, 5, 8), "do not broadcast"),
    ((8,), (5, 8), (5, 8), "at least 2 dimensions"),
])
def test_shapes_that_do_not_fit(qs, ks, vs, match):
    with pytest.raises(ValueError, match=match):
        attention(torch.randn(qs), torch.randn(ks), torch.randn(vs))


def test_bad_masks():
    q = k = v = torch.randn(2, 4, 6, 8)
    with pytest.raises(ValueError, match=r"mask of shape \(2, 7\) does not broadcast"):
        attention(q, k, v, mask=torch.ones(2, 7, dtype=torch.bool))
    with pytest.raises(TypeError, match="padding_mask"):
        attention(q, k, v, mask=torch.ones(2, 1, 1, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="attention_mask"):
        padding_mask(torch.ones(2, 1, 6))
    with pytest.raises(ValueError, match="impl"):
        attention(q, k, v, impl="flash")


def test_heads_must_divide_model_dimension():
    with pytest.raises(ValueError, match=r"model dimension \(100\) must be divisible by the number of heads \(3\)"):
        MultiHeadAttention(100, 3)
    with pytest.raises(ValueError, match="expected input"):
        MultiHeadAttention(16, 4)(torch.randn(2, 5, 12))


# ---- graded exercises ------------------------------------------------------------------------


def _solutions(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "lessons" / "solutions" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", ["04_self_attention", "05_transformer_and_tokenizers"])
def test_checks_accept_solutions_and_reject_wrong_answers(name, capsys):
    from helpers.checks import CheckFailed, check, exercises

    mod = _solutions(name)
    assert set(mod.SOLUTIONS) == set(mod.WRONG) and set(mod.SOLUTIONS) <= set(exercises())
    for id, fn in mod.SOLUTIONS.items():
        check(id, fn)
        with pytest.raises(CheckFailed, match=id):
            check(id, mod.WRONG[id])


# ---- the attention viewer --------------------------------------------------------------------


def test_attention_viewer_redraws_and_rejects_mismatches():
    from helpers.visualisation import attention_viewer

    tokens = [f"t{i}" for i in range(5)]
    attn = [torch.softmax(torch.randn(3, 5, 5), -1) for _ in range(2)]  # 2 layers of 3 heads
    viewer = attention_viewer(tokens, attn)
    layer, head = viewer.children[0].children
    first = bytes(viewer.image.value)
    assert first.startswith(b"\x89PNG")  # a picture, drawn without any front end
    layer.value = 1
    assert bytes(viewer.image.value) != first
    head.value = -1  # mean of the heads
    assert bytes(viewer.image.value).startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="5 x 5"):
        attention_viewer(tokens[:4], attn)
