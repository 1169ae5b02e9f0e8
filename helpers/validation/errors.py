"""The course's error types, and how a message shows the value it refuses (part of helpers.validation)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch


# --------------------------------------------------------------------------------------------
# The course's error types
# --------------------------------------------------------------------------------------------


class CourseError(Exception):
    """Base of every error the course raises on purpose; its message says what to do."""


class ArgumentTypeError(CourseError, TypeError):
    """An argument of a type that cannot be right (a string where a list belongs, a float id)."""


class ArgumentValueError(CourseError, ValueError):
    """An argument of the right type with a value that cannot be right (a size of 0 or below, a
    probability above 1, an empty corpus, an unknown option)."""


class ShapeError(ArgumentValueError):
    """Tensors or arrays whose shapes do not fit the function or each other."""


class PathError(ArgumentValueError):
    """A path that cannot serve: a folder where a file belongs or the reverse, or an output folder
    that cannot be written."""


class MissingFileError(PathError, FileNotFoundError):
    """A file the call reads is not there."""


class UnknownNameError(CourseError, KeyError):
    """A name looked up in a table (a word in a vocabulary, an asset) that is not there; the
    message suggests close matches."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class NotAvailableError(CourseError, RuntimeError):
    """Something the call needs is not on this machine (a device, a package)."""


class TrainingError(CourseError, RuntimeError):
    """Training went wrong in a way that would otherwise pass silently: a NaN or infinite loss,
    no training example, an empty loss history. The message says when and why."""


def _show(value, limit: int = 80) -> str:
    """``repr(value)``, cut short: a whole corpus in a message helps nobody."""
    text = repr(value)
    if isinstance(value, (list, tuple)) and len(text) > limit:
        text = f"{type(value).__name__} of {len(value)} items starting {repr(value[:3])[:limit]}"
    elif isinstance(value, torch.Tensor):
        text = f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    elif isinstance(value, np.ndarray):
        text = f"array of shape {value.shape} and dtype {value.dtype}"
    return text if len(text) <= limit else text[:limit] + "..."


def losses_ok(losses: Sequence[float], where: str, hint: str) -> None:
    """Stop a training run whose loss history is empty or whose last loss is NaN or infinite,
    saying where it happened, the last finite loss, and ``hint`` (what to change)."""
    if not losses:
        raise TrainingError(f"Training ran no step at {where}: the data gave no training example. {hint}")
    if not math.isfinite(losses[-1]):
        finite = [x for x in losses if math.isfinite(x)]
        last = f"{finite[-1]:.4g}" if finite else "none"
        raise TrainingError(f"The loss became {losses[-1]} at {where} (the last finite loss: {last}). {hint}")
