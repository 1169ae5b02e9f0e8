"""Checks for notebook 00: how graded exercises work."""

import torch

from . import CheckFailed, Mistake, blame, compare, exercise


def _naive(x):
    return x.exp() / x.exp().sum(dim=-1, keepdim=True)


SOFTMAX_MISTAKES = [
    Mistake("summing over the whole tensor", "Each row is its own distribution: sum the exponentials over the "
            "last dimension only (and keep that dimension so the division lines up).",
            lambda x: x.exp() / x.exp().sum()),
    Mistake("wrong axis", "The probabilities must sum to 1 along the last dimension, not the first.",
            lambda x: x.exp() / x.exp().sum(dim=0, keepdim=True)),
    Mistake("not subtracting the max", "exp(1000) overflows to inf and inf / inf is nan. Shifting every "
            "entry of a row by the same amount does not change the softmax: shift by the row's largest value "
            "first, then every exponent is at most 0.", _naive),
]


@exercise("00.1", "softmax over the last dimension", mistakes=SOFTMAX_MISTAKES, hint=(
    "Three steps, all along the last dimension: shift each row by its largest entry (for numerical safety), "
    "exponentiate, and divide each entry by its row's sum of exponentials. The output has the input's shape "
    "and each row sums to 1."))
def softmax(answer) -> None:
    reference = lambda x: torch.softmax(x, dim=-1)  # noqa: E731
    g = torch.Generator().manual_seed(0)
    cases = [torch.tensor([1.0, 2.0, 3.0]), torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]),
             torch.tensor([[1000.0, 1001.0], [1.0, 2.0]])] + [torch.randn(s, generator=g) * 5 for s in [(5,), (3, 7), (2, 4, 6)]]
    for x in cases:
        compare(answer, reference, (x,), what=f"softmax of a {tuple(x.shape)} tensor",
                shown=describe_small(x), hint="Exponentiate, then divide by the sum over the last dimension.")


def describe_small(x: torch.Tensor) -> str:
    return str(x.tolist()) if x.numel() <= 12 else f"a random tensor of shape {tuple(x.shape)}"


DEVICE_MISTAKES = [
    Mistake("a name instead of a device", "Return a torch.device object, not the string that names it.", None),
    Mistake("a hard-coded device", "Do not write the device yourself: ask the course's helper, which picks CUDA, "
            "then Apple's MPS, then the CPU, and honours the COURSE_DEVICE setting.", None),
]


@exercise("00.2", "pick the course's device", mistakes=DEVICE_MISTAKES, hint=(
    "helpers.device has a function that returns the device every notebook uses; your function only needs to "
    "return what it returns."))
def device(answer) -> None:
    from helpers.device import get_device

    got = answer()
    if isinstance(got, str):
        raise blame("a name instead of a device", f"your function returned the string {got!r}.")
    if not isinstance(got, torch.device):
        raise CheckFailed(f"Return a torch.device, not {type(got).__name__}.")
    if got != get_device():
        raise blame("a hard-coded device", f"expected {get_device()}, your function returned {got}.")
