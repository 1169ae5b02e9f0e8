"""Checks for notebook 11: BLEU's brevity penalty, the cross-attention mask, one step of beam search."""

import math

import torch

from . import CheckFailed, exercise, expect_close


@exercise("11.1", "BLEU's brevity penalty")
def brevity_penalty(answer) -> None:
    from helpers.metrics import brevity_penalty as reference

    for hyp_len, ref_len in [(10, 10), (12, 10), (9, 10), (5, 10), (1, 30), (0, 10), (0, 0), (81734, 84714)]:
        got, want = answer(hyp_len, ref_len), reference(hyp_len, ref_len)
        if not isinstance(got, (int, float)) or not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
            raise CheckFailed(
                f"brevity_penalty(hyp_len={hyp_len}, ref_len={ref_len}) returned {got!r}, expected {want:.6g}. "
                f"It is 1 when the output is at least as long as the references, exp(1 - ref_len / hyp_len) "
                f"when shorter, and 0 for an empty output (no division by zero).")


@exercise("11.2", "the cross-attention mask")
def cross_attention_mask(answer) -> None:
    src_mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]])
    for tgt_len in (1, 3):
        got = answer(src_mask, tgt_len)
        want = src_mask.bool()[:, None, None, :].expand(3, 1, tgt_len, 5)
        if not isinstance(got, torch.Tensor) or got.dtype != torch.bool:
            raise CheckFailed(f"expected a bool tensor (True = may attend), got "
                              f"{getattr(got, 'dtype', type(got).__name__)}.")
        if tuple(got.shape) != (3, 1, tgt_len, 5):
            raise CheckFailed(f"for 3 sources of 5 ids and {tgt_len} target positions the mask must have shape "
                              f"(batch, 1, tgt_len, src_len) = (3, 1, {tgt_len}, 5), got {tuple(got.shape)}. "
                              f"The 1 broadcasts over heads.")
        if not torch.equal(got, want):
            raise CheckFailed("some entries are wrong: every target position may look at every real source id "
                              "and at no padded one, whatever its own position (cross-attention is not causal).")


def _reference_beam_step(scores, log_probs, beam_width):
    B, k, V = log_probs.shape
    top, flat = (scores[:, :, None] + log_probs).view(B, k * V).topk(beam_width, dim=1)
    return top, flat // V, flat % V


@exercise("11.3", "one step of beam search")
def beam_step(answer) -> None:
    g = torch.Generator().manual_seed(11)
    for B, k, V, width in [(1, 1, 5, 1), (2, 3, 7, 3), (4, 2, 10, 2)]:
        scores = -torch.rand(B, k, generator=g) * 3
        log_probs = torch.log_softmax(torch.randn(B, k, V, generator=g), dim=-1)
        got = answer(scores, log_probs, width)
        if not (isinstance(got, tuple) and len(got) == 3):
            raise CheckFailed("return a tuple (new_scores, beam_index, token), each of shape (batch, beam_width).")
        want = _reference_beam_step(scores, log_probs, width)
        for name, x, y in zip(("new_scores", "beam_index", "token"), got, want):
            expect_close(x, y, f"{name} for batch {B}, {k} beams, vocabulary {V}",
                         hint="Add each beam's score to its next-token log-probabilities (broadcast scores to "
                              "(batch, k, 1)), flatten beams and tokens to (batch, k * V), take the top "
                              "beam_width, then beam = index // V and token = index % V.")
