"""Checks for notebook 11: BLEU's brevity penalty, the cross-attention mask, one step of beam search."""

import math

import torch

from . import CheckFailed, Mistake, blame, compare, describe, exercise


BP_MISTAKES = [
    Mistake("long outputs rewarded", "The penalty only punishes SHORT outputs: it is exactly 1 when the output "
            "is at least as long as the references.", lambda h, r: math.exp(1 - r / max(h, 1))),
    Mistake("ratio upside down", "The exponent is 1 - ref_len / hyp_len: it grows more negative the shorter "
            "the output.", lambda h, r: 1.0 if h >= r else math.exp(1 - h / r)),
    Mistake("an empty output not handled", "An empty output (hyp_len = 0) gets a penalty of 0, without "
            "dividing by zero.", None),
]


@exercise("11.1", "BLEU's brevity penalty", mistakes=BP_MISTAKES, hint=(
    "Three cases: an output at least as long as the references is not penalised; a shorter one is penalised by "
    "an exponential of one minus the ratio of the reference length to the output length; an empty output gets "
    "the full penalty, 0."))
def brevity_penalty(answer) -> None:
    from helpers.metrics import brevity_penalty as reference

    for hyp_len, ref_len in [(10, 10), (12, 10), (9, 10), (5, 10), (1, 30), (0, 10), (0, 0), (81734, 84714)]:
        shown = f"hyp_len = {hyp_len}, ref_len = {ref_len}"
        try:
            got = compare(answer, reference, (hyp_len, ref_len), atol=1e-12, what="the brevity penalty", shown=shown,
                          hint="1 when the output is at least as long as the references, exp(1 - ref_len / hyp_len) "
                               "when shorter, and 0 for an empty output.")
        except ZeroDivisionError:
            raise blame("an empty output not handled", f"brevity_penalty({shown}) divided by zero.") from None
        if not isinstance(got, (int, float)):
            raise CheckFailed(f"Return a number, not a {type(got).__name__}.")


CROSS_MISTAKES = [
    Mistake("a causal mask", "Cross-attention is not causal: every target position may look at every real "
            "source id, whatever its own position. Only the source's padding is hidden."),
    Mistake("padding visible", "True means 'may attend': padded source ids (0 in src_mask) must be False."),
    Mistake("not broadcast to the target positions", "The mask needs one row per target position: shape "
            "(batch, 1, tgt_len, src_len), the 1 broadcasting over heads."),
]


@exercise("11.2", "the cross-attention mask", mistakes=CROSS_MISTAKES, hint=(
    "Start from src_mask as booleans, one row per source sentence. Add a dimension for the heads and one for "
    "the target positions, and expand along the latter to tgt_len: every target position gets the same row."))
def cross_attention_mask(answer) -> None:
    src_mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]])
    for tgt_len in (3, 1):
        got = answer(src_mask, tgt_len)
        want = src_mask.bool()[:, None, None, :].expand(3, 1, tgt_len, 5)
        if not isinstance(got, torch.Tensor) or got.dtype != torch.bool:
            raise CheckFailed(f"expected a bool tensor (True = may attend), got "
                              f"{getattr(got, 'dtype', type(got).__name__)}.")
        if tgt_len > 1 and tuple(got.shape) == (3, 1, 1, 5):
            raise blame("not broadcast to the target positions", f"For src_mask = {src_mask.tolist()} and "
                                                                 f"tgt_len = {tgt_len} your mask has shape (3, 1, 1, 5).")
        if tuple(got.shape) != (3, 1, tgt_len, 5):
            raise CheckFailed(f"for 3 sources of 5 ids and {tgt_len} target positions the mask must have shape "
                              f"(batch, 1, tgt_len, src_len) = (3, 1, {tgt_len}, 5), got {tuple(got.shape)}. "
                              f"The 1 broadcasts over heads.")
        if not torch.equal(got, want):
            detail = f"For src_mask = {src_mask.tolist()} and tgt_len = {tgt_len} some entries are wrong."
            if (got & ~want).any():
                raise blame("padding visible", detail)
            if tgt_len > 1 and not torch.equal(got[:, :, 0], got[:, :, -1]):
                raise blame("a causal mask", detail)
            raise CheckFailed(detail + " Every target position may look at every real source id and at no padded one.")


def _reference_beam_step(scores, log_probs, beam_width):
    B, k, V = log_probs.shape
    top, flat = (scores[:, :, None] + log_probs).view(B, k * V).topk(beam_width, dim=1)
    return top, flat // V, flat % V


def _beam_wrong(scores, log_probs, width, past=True, swap=False, per_beam=False):
    B, k, V = log_probs.shape
    total = scores[:, :, None] + log_probs if past else log_probs  # (B, k, V)
    if per_beam:  # the best token of each beam only
        top, tok = total.max(-1)
        top, beam = top.topk(min(width, k), dim=1)
        return top, beam, tok.gather(1, beam)
    top, flat = total.reshape(B, k * V).topk(width, dim=1)
    return (top, flat % V, flat // V) if swap else (top, flat // V, flat % V)


BEAM_MISTAKES = [
    Mistake("the past scores forgotten", "A hypothesis's score is the sum of ALL its tokens' log-probabilities: "
            "add each beam's score so far to its next-token log-probabilities.",
            lambda s, l, w: _beam_wrong(s, l, w, past=False)),
    Mistake("beam and token swapped", "In the flattened (beam, token) table the beam is the index divided by "
            "the vocabulary size and the token the remainder, not the other way round.",
            lambda s, l, w: _beam_wrong(s, l, w, swap=True)),
    Mistake("each beam's best token only", "The best continuations may come from the same beam: rank all "
            "beams' tokens together, in one table of k * vocabulary candidates.",
            lambda s, l, w: _beam_wrong(s, l, w, per_beam=True)),
]


@exercise("11.3", "one step of beam search", mistakes=BEAM_MISTAKES, hint=(
    "Every (beam, token) pair is a candidate whose score is the beam's score plus the token's log-probability. "
    "Put all k * vocabulary candidates of a sentence in one row, take the beam_width best, and recover from "
    "each one's position in that row which beam it extends and which token it adds."))
def beam_step(answer) -> None:
    g = torch.Generator().manual_seed(11)
    for B, k, V, width in [(1, 2, 3, 2), (1, 1, 5, 1), (2, 3, 7, 3), (4, 2, 10, 2)]:
        scores = -torch.rand(B, k, generator=g) * 3
        log_probs = torch.log_softmax(torch.randn(B, k, V, generator=g), dim=-1)
        got = compare(answer, _reference_beam_step, (scores, log_probs, width),
                      what=f"(new_scores, beam_index, token) for batch {B}, {k} beams, vocabulary {V}",
                      shown=(f"scores = {describe(scores)}, log_probs = {describe(log_probs)}, beam_width = {width}"
                             if k * V <= 6 else f"random scores and log-probabilities, beam_width = {width}"),
                      hint="Add each beam's score to its next-token log-probabilities, flatten beams and tokens to "
                           "(batch, k * V), take the top beam_width, then recover beam and token from the index.")
        if not (isinstance(got, tuple) and len(got) == 3):
            raise CheckFailed("return a tuple (new_scores, beam_index, token), each of shape (batch, beam_width).")
