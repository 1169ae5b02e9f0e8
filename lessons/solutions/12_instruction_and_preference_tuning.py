"""Solutions to the exercises of notebook 12, and one wrong answer each (the tests use both)."""

import torch.nn.functional as F


def sft_loss(logits, labels):
    # position t predicts token t + 1; -100 (prompt, template, padding) counts for nothing
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100)


def sft_loss_wrong(logits, labels):
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)  # no shift


def dpo_loss(pc, pr, rc, rr, beta):
    return -F.logsigmoid(beta * ((pc - rc) - (pr - rr))).mean()


def dpo_loss_wrong(pc, pr, rc, rr, beta):
    return -F.logsigmoid(beta * (pc - pr)).mean()  # forgets the reference


SOLUTIONS = {"12.1": sft_loss, "12.2": dpo_loss}
def dpo_loss_swapped_wrong(pc, pr, rc, rr, beta):
    return -F.logsigmoid(beta * ((pr - rr) - (pc - rc))).mean()  # rejected minus chosen


WRONG = {"12.1": sft_loss_wrong, "12.2": [dpo_loss_wrong, dpo_loss_swapped_wrong]}
