"""The ``get_batch(split, generator)`` functions the training loop (helpers.training.train) draws from.

    random_batches  ``batch_size`` random rows of each split's tensors, trimmed to the batch's longest sequence
    epoch_batches   a dataset walked epoch by epoch: index batches drawn per epoch, made into tensors by ``fetch``

Both draw with the loop's generator only, so a run that resumes from a checkpoint gets the batches it
would have had (for epoch_batches, from a checkpoint at the end of an epoch).
"""

from __future__ import annotations

from typing import Callable

import torch

from . import validation as validate


def random_batches(splits: dict, batch_size: int, device, mask_column: int = 1) -> Callable:
    """A ``get_batch(split, generator)`` that draws ``batch_size`` random rows of ``splits[split]``, a
    tuple of tensors (examples along dim 0). 2-D tensors are trimmed to the longest real sequence of the
    batch, read from the attention mask at ``mask_column``, so no step computes on padding it does not need."""
    if not isinstance(splits, dict):
        raise validate.ArgumentTypeError(
            f"splits must be a dict split name -> tuple of tensors; got {type(splits).__name__}.")
    batch_size = validate.positive_int("batch_size", batch_size)
    mask_column = validate.non_negative_int("mask_column", mask_column)

    def get_batch(split, generator):
        columns = splits[split]
        idx = torch.randint(len(columns[0]), (batch_size,), generator=generator)
        width = int(columns[mask_column][idx].sum(1).max())
        return tuple((t[idx, :width] if t.dim() == 2 else t[idx]).to(device) for t in columns)

    return get_batch


def epoch_batches(batches_for: Callable[[torch.Generator], list], fetch: Callable) -> Callable:
    """A ``get_batch(split, generator)`` that walks through a dataset epoch by epoch: when one epoch's
    batches (index tensors from ``batches_for(generator)``) are used up, the next epoch's are drawn
    with the loop's generator; ``fetch(indices)`` makes the batch. A run resumes exactly from a
    checkpoint written at the end of an epoch (fine-tuning evaluates and saves there)."""
    validate.callable_("batches_for", batches_for)
    validate.callable_("fetch", fetch)
    queue: list = []

    def get_batch(split, generator):
        if not queue:
            queue.extend(batches_for(generator))
        return fetch(queue.pop(0))

    return get_batch
