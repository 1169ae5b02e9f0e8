"""Which device to run on, how to make runs repeatable, and which mixed-precision dtype fits.

The order is cuda, then mps (Apple silicon), then cpu. Set ``COURSE_DEVICE=cpu`` (or ``cuda``,
``cuda:1``, ``mps``) to override the choice without editing a notebook.
"""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

from . import validation as validate

DEVICE_ENV = "COURSE_DEVICE"


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        return bool(mps and mps.is_available())
    return kind == "cpu"


def get_device(prefer: str | None = None) -> torch.device:
    """The device the course runs on: ``prefer``, else ``$COURSE_DEVICE``, else cuda > mps > cpu."""
    if prefer is not None:
        validate.device("prefer", prefer)
    wanted = prefer or os.environ.get(DEVICE_ENV, "").strip() or None
    if wanted is not None:
        try:
            device = torch.device(wanted)
        except RuntimeError as err:
            raise validate.ArgumentValueError(
                f"{wanted!r} is not a device name; use 'cpu', 'cuda', 'cuda:0' or 'mps' "
                f"(from {'the argument' if prefer else '$' + DEVICE_ENV})."
            ) from err
        if not _available(device.type):
            raise validate.NotAvailableError(
                f"Device {wanted!r} was asked for but is not available on this machine. "
                f"Unset ${DEVICE_ENV} or set it to 'cpu'."
            )
        return device
    for kind in ("cuda", "mps"):
        if _available(kind):
            return torch.device(kind)
    return torch.device("cpu")


def seed_everything(seed: int = 0, deterministic: bool = False) -> torch.Generator:
    """Seed Python, NumPy and torch (every device) so that a run repeats; returns a torch Generator.

    ``deterministic=True`` also asks torch for deterministic kernels (slower on GPUs; on the CPU
    the default kernels already repeat).
    """
    seed = validate.integer("seed", seed, 0, 2**32 - 1)  # NumPy's seeds are 32-bit
    deterministic = validate.boolean("deterministic", deterministic)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds cuda and mps generators too
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return torch.Generator().manual_seed(seed)


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """The low-precision dtype worth autocasting to on ``device``, or None for full float32.

    cuda: bfloat16 where the card supports it (Ampere and newer), else float16.
    mps: float16. cpu: None, because CPU autocast rarely speeds up the small models of this course
    and bfloat16 matmuls are slow on CPUs without AMX.
    """
    kind = validate.device("device", device).type
    if kind == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if kind == "mps":
        return torch.float16
    return None


def autocast(device: torch.device | str):
    """A context manager running the forward pass in ``autocast_dtype(device)``; a no-op on cpu."""
    device = validate.device("device", device)
    dtype = autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def needs_grad_scaler(device: torch.device | str) -> bool:
    """float16 needs loss scaling to keep small gradients from underflowing; bfloat16 does not."""
    device = validate.device("device", device)
    return autocast_dtype(device) == torch.float16 and device.type == "cuda"


@contextlib.contextmanager
def cpu_threads(n: int | None):
    """Run torch with ``n`` CPU threads inside the block, then restore the old count (None: leave as is).

    The embedding trainers run several Python threads of single-threaded kernels (Hogwild), which on
    small batches beats one thread of multi-threaded kernels waiting at barriers.
    """
    n = validate.positive_int("n", n, optional=True)
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def describe(device: torch.device | str | None = None) -> dict:
    """What a notebook prints about where it runs: device, its name, threads, autocast dtype."""
    device = validate.device("device", device) if device is not None else get_device()
    name = "CPU"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    elif device.type == "mps":
        name = "Apple silicon (MPS)"
    dtype = autocast_dtype(device)
    return {
        "device": str(device),
        "name": name,
        "torch_threads": torch.get_num_threads(),
        "autocast_dtype": str(dtype).replace("torch.", "") if dtype else "none (float32)",
    }
