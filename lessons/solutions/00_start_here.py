"""Solutions to the exercises of notebook 00, and typical wrong answers (the tests use both)."""

import torch

from helpers.device import get_device


def softmax(x):
    z = x - x.max(dim=-1, keepdim=True).values  # stable: exp never overflows
    return z.exp() / z.exp().sum(dim=-1, keepdim=True)


def softmax_wrong(x):
    return x.exp() / x.exp().sum(dim=-1, keepdim=True)  # overflows for large inputs


SOLUTIONS = {"00.1": softmax, "00.2": get_device}
WRONG = {"00.1": softmax_wrong, "00.2": lambda: "cpu"}


def device_hard_coded():
    import torch

    return torch.device("meta")  # a device written by hand, not the course's


WRONG["00.2"] = [WRONG["00.2"], device_hard_coded]  # the string "cpu"; a hard-coded device
