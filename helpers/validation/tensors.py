"""Checks of tensors, token ids and device names (part of helpers.validation)."""

from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np
import torch

from .errors import ArgumentTypeError, ArgumentValueError, ShapeError, _show


_KINDS = {"float": torch.Tensor.is_floating_point, "bool": lambda t: t.dtype == torch.bool,
          "integer": lambda t: not t.is_floating_point() and not t.is_complex() and t.dtype != torch.bool}


def tensor(name: str, x, dtype: str | torch.dtype | Sequence | None = None,
           ndim: int | Sequence[int] | None = None, min_ndim: int | None = None) -> torch.Tensor:
    """A ``torch.Tensor`` of the given dtype ("float", "integer", "bool", a torch dtype, or a list of
    those) and number of dimensions (one number or the allowed ones)."""
    if not isinstance(x, torch.Tensor):
        hint = " Convert it with torch.as_tensor(...)." if isinstance(x, (np.ndarray, list, tuple)) else ""
        raise ArgumentTypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}.{hint}")
    if dtype is not None:
        allowed = list(dtype) if isinstance(dtype, (list, tuple)) else [dtype]
        fits = [_KINDS[d](x) if isinstance(d, str) else x.dtype == d for d in allowed]
        if not any(fits):
            raise ArgumentTypeError(f"{name} must be a {' or '.join(str(d).replace('torch.', '') for d in allowed)}"
                                    f" tensor; got {x.dtype}.")
    if ndim is not None:
        dims = [ndim] if isinstance(ndim, int) else list(ndim)
        if x.dim() not in dims:
            raise ShapeError(f"{name} must have {' or '.join(map(str, dims))} dimension(s); got shape "
                             f"{tuple(x.shape)}.")
    if min_ndim is not None and x.dim() < min_ndim:
        raise ShapeError(f"{name} must have at least {min_ndim} dimensions; got shape {tuple(x.shape)}.")
    return x


def token_ids(name: str, ids, vocab_size: int | None = None, min_len: int = 1) -> torch.Tensor:
    """Token ids as a long tensor: a list or tuple of whole numbers, a NumPy or torch integer array.
    Refuses floats, strings, negative ids and ids at or beyond ``vocab_size``."""
    if isinstance(ids, str):
        raise ArgumentTypeError(f"{name} must be token ids (whole numbers), not text; encode it first "
                                f"with the tokenizer.")
    if isinstance(ids, (list, tuple)):
        bad = [x for x in ids if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Integral)]
        if bad:
            raise ArgumentTypeError(f"{name} must hold whole-number token ids; found {_show(bad[0])} "
                                    f"({type(bad[0]).__name__}).")
        ids = torch.tensor([int(x) for x in ids], dtype=torch.long)
    elif isinstance(ids, np.ndarray):
        if not np.issubdtype(ids.dtype, np.integer):
            raise ArgumentTypeError(f"{name} must hold whole-number token ids; got an array of {ids.dtype}.")
        ids = torch.from_numpy(ids.astype(np.int64))
    elif isinstance(ids, torch.Tensor):
        tensor(name, ids, dtype="integer")
        ids = ids.long()
    else:
        raise ArgumentTypeError(f"{name} must be token ids (a list or tensor of whole numbers); got "
                                f"{type(ids).__name__}.")
    if ids.numel() < min_len:
        raise ArgumentValueError(f"{name} is empty: give at least {min_len} token id(s).")
    if ids.numel() and int(ids.min()) < 0:
        raise ArgumentValueError(f"{name} holds a negative id ({int(ids.min())}); ids start at 0.")
    if vocab_size is not None and ids.numel() and int(ids.max()) >= vocab_size:
        raise ArgumentValueError(f"{name} holds the id {int(ids.max())}, but the vocabulary has "
                                 f"{vocab_size} tokens (ids 0 to {vocab_size - 1}).")
    return ids


def device(name: str, value) -> torch.device:
    """A device name ("cpu", "cuda", "cuda:1", "mps") or a ``torch.device``; availability is not checked
    here (``helpers.device.get_device`` does that)."""
    if isinstance(value, torch.device):
        return value
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a device name such as 'cpu', 'cuda' or 'mps' (or a "
                                f"torch.device); got {_show(value)} ({type(value).__name__}).")
    try:
        return torch.device(value)
    except RuntimeError:
        raise ArgumentValueError(f"{name}: {value!r} is not a device name; use 'cpu', 'cuda', 'cuda:0' or "
                                 f"'mps'.") from None
