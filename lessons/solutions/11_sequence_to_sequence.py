"""Solutions to the exercises of notebook 11, and typical wrong answers (the tests use both)."""

import math


def brevity_penalty(hyp_len, ref_len):
    if hyp_len >= ref_len:
        return 1.0
    if hyp_len == 0:
        return 0.0
    return math.exp(1 - ref_len / hyp_len)


def brevity_penalty_wrong(hyp_len, ref_len):
    return math.exp(1 - ref_len / max(hyp_len, 1))  # also "rewards" outputs longer than the references


def cross_attention_mask(src_mask, tgt_len):
    batch, src_len = src_mask.shape
    return src_mask.bool()[:, None, None, :].expand(batch, 1, tgt_len, src_len)


def cross_attention_mask_wrong(src_mask, tgt_len):
    batch, src_len = src_mask.shape
    causal = __import__("torch").ones(tgt_len, src_len, dtype=bool).tril()  # causal: wrong for cross-attention
    return src_mask.bool()[:, None, None, :] & causal


def beam_step(scores, log_probs, beam_width):
    batch, k, vocab = log_probs.shape
    total = (scores[:, :, None] + log_probs).view(batch, k * vocab)  # every beam times every token
    new_scores, index = total.topk(beam_width, dim=1)
    return new_scores, index // vocab, index % vocab


def beam_step_wrong(scores, log_probs, beam_width):
    batch, k, vocab = log_probs.shape
    new_scores, index = log_probs.reshape(batch, k * vocab).topk(beam_width, dim=1)  # forgets the past scores
    return new_scores, index // vocab, index % vocab


SOLUTIONS = {"11.1": brevity_penalty, "11.2": cross_attention_mask, "11.3": beam_step}
WRONG = {"11.1": brevity_penalty_wrong, "11.2": cross_attention_mask_wrong, "11.3": beam_step_wrong}


def brevity_penalty_zero_wrong(hyp_len, ref_len):
    return 1.0 if hyp_len >= ref_len else math.exp(1 - ref_len / hyp_len)  # divides by zero for an empty output


def cross_attention_mask_padding_wrong(src_mask, tgt_len):
    batch, src_len = src_mask.shape
    return __import__("torch").ones(batch, 1, tgt_len, src_len, dtype=bool)  # padding visible


def cross_attention_mask_narrow_wrong(src_mask, tgt_len):
    return src_mask.bool()[:, None, None, :]  # (batch, 1, 1, src_len): one row, not one per target position


WRONG["11.1"] = [brevity_penalty_wrong, brevity_penalty_zero_wrong]
WRONG["11.2"] = [cross_attention_mask_wrong, cross_attention_mask_padding_wrong, cross_attention_mask_narrow_wrong]
