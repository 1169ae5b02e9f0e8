"""Checks for notebook 12 (instruction and preference tuning): the SFT loss on assistant tokens, the DPO loss."""

import torch
import torch.nn.functional as F

from . import Mistake, compare, exercise


def _labels(g, B, T, V):
    labels = torch.randint(V, (B, T), generator=g)
    for b in range(B):  # a prompt (ignored), then a reply, then padding (ignored)
        start, end = 1 + b % 3, T - b % 2
        labels[b, :start] = -100
        labels[b, end:] = -100
    return labels


def _sft_unshifted(logits, labels):
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)


def _sft_shifted_backwards(logits, labels):
    return F.cross_entropy(logits[:, 1:].flatten(0, 1), labels[:, :-1].flatten(), ignore_index=-100)


def _sft_mean_of_sequences(logits, labels):
    per_token = F.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:], ignore_index=-100, reduction="none")
    kept = (labels[:, 1:] != -100).float()
    return ((per_token * kept).sum(1) / kept.sum(1)).mean()


SFT_MISTAKES = [
    Mistake("no shift", "The logits at position t predict the token at t + 1: compare the logits of every position "
            "but the last with the labels of every position but the first.", _sft_unshifted),
    Mistake("shifted the wrong way", "Drop the LAST position of the logits and the FIRST of the labels, not the "
            "reverse: a model never predicts the token it has already read.", _sft_shifted_backwards),
    Mistake("a mean per conversation", "Average over every labelled token of the batch at once; averaging each "
            "conversation first gives a short reply as much weight as a long one.", _sft_mean_of_sequences),
]


@exercise("12.1", "the SFT loss on the assistant's tokens", mistakes=SFT_MISTAKES, hint=(
    "Next-token prediction, with some targets switched off. Line the logits up with the token each one predicts "
    "(one position later), flatten the batch and time dimensions together, and take the mean cross-entropy over "
    "the targets whose label is not -100: the prompt, the template and the padding count for nothing."))
def sft_loss(answer) -> None:
    from helpers.instruct import sft_loss as ref

    g = torch.Generator().manual_seed(0)
    for B, T, V in [(1, 5, 7), (3, 9, 11), (2, 12, 50)]:
        logits = torch.randn(B, T, V, generator=g) * 2
        labels = _labels(g, B, T, V)
        compare(answer, ref, (logits, labels), what=f"the loss of a ({B}, {T}, {V}) batch",
                shown=f"labels = {labels.tolist()} (logits random, shape {(B, T, V)})")


def _dpo_no_reference(pc, pr, rc, rr, beta):
    return -F.logsigmoid(beta * (pc - pr)).mean()


def _dpo_swapped(pc, pr, rc, rr, beta):
    return -F.logsigmoid(beta * ((pr - rr) - (pc - rc))).mean()


def _dpo_no_beta(pc, pr, rc, rr, beta):
    return -F.logsigmoid((pc - rc) - (pr - rr)).mean()


DPO_MISTAKES = [
    Mistake("the reference ignored", "Each reply's reward is beta times how much MORE likely the policy makes it "
            "than the frozen reference does: a log-probability difference per reply.", _dpo_no_reference),
    Mistake("chosen and rejected swapped", "The loss must fall as the chosen reply's reward rises above the "
            "rejected one's: the margin is chosen minus rejected.", _dpo_swapped),
    Mistake("beta missing", "beta scales the margin before the log-sigmoid: it sets how far the policy may move "
            "from the reference.", _dpo_no_beta),
]


@exercise("12.2", "the DPO loss", mistakes=DPO_MISTAKES, hint=(
    "A logistic loss on a margin. For each pair, the implicit reward of a reply is beta times the policy's "
    "log-probability of it minus the reference's; the margin is the chosen reply's reward minus the rejected "
    "one's; the loss is minus the log-sigmoid of the margin, averaged over the pairs."))
def dpo_loss(answer) -> None:
    from helpers.preference import dpo_loss as ref

    g = torch.Generator().manual_seed(1)
    for B, beta in [(1, 0.1), (4, 0.5), (6, 2.0)]:
        pc, pr, rc, rr = (-torch.rand(B, generator=g) * 20 for _ in range(4))
        compare(answer, lambda *a: ref(*a)[0], (pc, pr, rc, rr, beta), what=f"the mean DPO loss of {B} pairs",
                shown=f"policy chosen {pc.tolist()}, policy rejected {pr.tolist()}, reference chosen "
                      f"{rc.tolist()}, reference rejected {rr.tolist()}, beta = {beta}")
