"""Solutions to the exercises of notebook 07, and typical wrong answers (the tests use both)."""

import torch


def top_k(logits, k):
    k = min(k, logits.size(-1))
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1) the k-th largest of each row
    return logits.masked_fill(logits < kth, float("-inf"))


def top_k_wrong(logits, k):
    kth = torch.topk(logits.flatten(), min(k, logits.numel())).values[-1]  # over the whole tensor
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs  # mass of the tokens ranked above each one
    drop = torch.zeros_like(before, dtype=torch.bool).scatter(-1, order, before >= p)
    return logits.masked_fill(drop, float("-inf"))


def top_p_wrong(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    drop_sorted = sorted_logits.softmax(-1).cumsum(-1) > p  # drops the token that crosses p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def causal_windows(data, starts, block_size):
    offsets = starts[:, None] + torch.arange(block_size + 1)  # (B, T + 1)
    chunk = data[offsets]
    return chunk[:, :-1], chunk[:, 1:]


def causal_windows_wrong(data, starts, block_size):
    offsets = starts[:, None] + torch.arange(block_size)
    return data[offsets], data[offsets]  # the target is the input itself: nothing to predict


SOLUTIONS = {"07.1": top_k, "07.2": top_p, "07.3": causal_windows}
WRONG = {"07.1": top_k_wrong, "07.2": top_p_wrong, "07.3": causal_windows_wrong}
