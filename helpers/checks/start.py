"""Checks for notebook 00: how graded exercises work."""

import torch

from . import CheckFailed, exercise, expect_close


@exercise("00.1", "softmax over the last dimension")
def softmax(answer) -> None:
    g = torch.Generator().manual_seed(0)
    for shape in [(5,), (3, 7), (2, 4, 6)]:
        x = torch.randn(shape, generator=g) * 5
        expect_close(answer(x), torch.softmax(x, dim=-1), f"softmax of a {shape} tensor",
                     hint="Exponentiate, then divide by the sum over the last dimension (dim=-1).")
    big = torch.tensor([1000.0, 1001.0])
    out = answer(big)
    if not torch.isfinite(out).all():
        raise CheckFailed("softmax([1000, 1001]) gave inf or nan. Subtract the maximum before "
                          "exponentiating: softmax(x) = softmax(x - max(x)).")


@exercise("00.2", "pick the course's device")
def device(answer) -> None:
    from helpers.device import get_device

    got = answer()
    if not isinstance(got, torch.device):
        raise CheckFailed(f"Return a torch.device, not {type(got).__name__}.")
    if got != get_device():
        raise CheckFailed(f"Expected {get_device()}, got {got}. Use helpers.device.get_device().")
