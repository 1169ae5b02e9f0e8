"""Checks for notebook 12 (instruction and preference tuning): the SFT loss on assistant tokens, the DPO loss."""

import torch
import torch.nn.functional as F

from . import CheckFailed, exercise, expect_close


def _labels(g, B, T, V):
    labels = torch.randint(V, (B, T), generator=g)
    for b in range(B):  # a prompt (ignored), then a reply, then padding (ignored)
        start, end = 1 + b % 3, T - b % 2
        labels[b, :start] = -100
        labels[b, end:] = -100
    return labels


@exercise("12.1", "the SFT loss on the assistant's tokens")
def sft_loss(answer) -> None:
    from helpers.instruct import sft_loss as ref

    g = torch.Generator().manual_seed(0)
    for B, T, V in [(1, 5, 7), (3, 9, 11), (2, 12, 50)]:
        logits = torch.randn(B, T, V, generator=g) * 2
        labels = _labels(g, B, T, V)
        got = answer(logits.clone(), labels.clone())
        unshifted = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        if isinstance(got, torch.Tensor) and got.numel() == 1 and torch.allclose(got.float(), unshifted, atol=1e-5):
            raise CheckFailed("the logits at position t predict the token at t + 1: compare logits[:, :-1] "
                              "with labels[:, 1:], not logits and labels at the same positions.")
        expect_close(got, ref(logits, labels), f"the loss of a ({B}, {T}, {V}) batch", atol=1e-5,
                     hint="Shift (logits[:, :-1] against labels[:, 1:]), flatten both, and take the mean "
                          "cross-entropy over the labels that are not -100 (ignore_index=-100).")


@exercise("12.2", "the DPO loss")
def dpo_loss(answer) -> None:
    from helpers.preference import dpo_loss as ref

    g = torch.Generator().manual_seed(1)
    for B, beta in [(1, 0.1), (4, 0.5), (6, 2.0)]:
        pc, pr, rc, rr = (-torch.rand(B, generator=g) * 20 for _ in range(4))
        got = answer(pc.clone(), pr.clone(), rc.clone(), rr.clone(), beta)
        no_ref = -F.logsigmoid(beta * (pc - pr)).mean()
        if isinstance(got, torch.Tensor) and got.numel() == 1 and torch.allclose(got.float(), no_ref, atol=1e-5):
            raise CheckFailed("that ignores the reference model: each response's reward is beta times "
                              "(policy log-prob minus reference log-prob).")
        expect_close(got, ref(pc, pr, rc, rr, beta)[0], f"the mean DPO loss of {B} pairs with beta={beta}",
                     atol=1e-5, hint="-logsigmoid(beta * ((pc - rc) - (pr - rr))), averaged over the pairs.")
