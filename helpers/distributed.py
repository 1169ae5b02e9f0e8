"""Data parallelism with torch.distributed: what the training loop needs to run on several processes.

Launched by ``torchrun --nproc_per_node N script.py`` (or ``accelerate launch``), every process runs
the same script. torchrun tells each one its ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in the
environment; ``init`` joins them into one process group (gloo on the CPU, nccl on CUDA GPUs).

    pieces = my_pieces(batch, accum)    # this process's share of a global batch, in micro-batches
    model = wrap(model, device)         # DistributedDataParallel: all-reduces (averages) gradients
    total = all_reduce_sum(tensor)      # a sum over the processes, the same on every one

Run as one plain process, every function here is a no-op: world size 1, rank 0.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from . import validation as validate


def launched() -> bool:
    """True when a launcher (torchrun, accelerate) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def is_main() -> bool:
    """Only the main process (rank 0) prints, draws progress bars and writes files."""
    return rank() == 0


def local_device() -> torch.device:
    """This process's device: its own GPU (``cuda:LOCAL_RANK``) under a launcher on a CUDA machine."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def init(device: torch.device) -> bool:
    """Join the process group the launcher set up (once); True if this run has several processes."""
    device = validate.device("device", device)
    if launched() and not dist.is_initialized():
        backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
        if torch.device(device).type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend)
    return active()


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The model in DistributedDataParallel when several processes run, else the model itself.
    DDP broadcasts rank 0's weights at the start and averages gradients during backward()."""
    if not isinstance(model, torch.nn.Module):
        raise validate.ArgumentTypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    device = validate.device("device", device)
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    return DDP(model, device_ids=[device.index] if device.type == "cuda" else None)


def check_divides(global_batch: int, accum: int = 1) -> None:
    """A clear error if the global batch cannot be cut evenly between processes and micro-batches."""
    global_batch, accum = validate.positive_int("global_batch", global_batch), validate.positive_int("accum", accum)
    world = world_size()
    if global_batch % (world * accum):
        raise validate.ArgumentValueError(
            f"the global batch of {global_batch} examples does not divide among {world} processes x {accum} "
            f"micro-batches = {world * accum} equal shares; choose batch_size a multiple of {world * accum} "
            f"(or another number of processes / grad_accum).")


def my_pieces(batch: tuple, accum: int = 1) -> list[tuple[tuple, float]]:
    """This process's share of a global batch, cut into ``accum`` micro-batches along dim 0.

    The global batch is cut into world_size * accum pieces; rank r takes pieces r*accum .. r*accum +
    accum - 1. Each piece comes with a weight: its share of the batch times the world size, so that
    sum(weight * mean loss of the piece) / world_size over all pieces is the mean loss of the whole
    batch, even when the pieces are not equal (a short last batch).
    """
    if not isinstance(batch, (tuple, list)) or not batch:
        raise validate.ArgumentTypeError(
            f"batch must be a tuple of tensors (examples along dim 0); got {validate._show(batch)}.")
    accum = validate.positive_int("accum", accum)
    world, me = world_size(), rank()
    n = len(batch[0])
    if n < world * accum:
        raise validate.ArgumentValueError(
            f"a batch of {n} examples cannot feed {world} processes x {accum} micro-batches.")
    bounds = [round(i * n / (world * accum)) for i in range(world * accum + 1)]
    pieces = []
    for i in range(me * accum, (me + 1) * accum):
        lo, hi = bounds[i], bounds[i + 1]
        piece = tuple(t[lo:hi] if isinstance(t, torch.Tensor) and t.dim() and len(t) == n else t for t in batch)
        pieces.append((piece, world * (hi - lo) / n))
    return pieces


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """The sum of ``t`` over all processes (in place; ``t`` itself when there is one process)."""
    validate.tensor("t", t)
    if active():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast_object(obj):
    """Rank 0's ``obj`` on every process."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_rng_states() -> list[torch.Tensor]:
    """Every process's torch RNG state (rank order), so a checkpoint can restore each one's dropout."""
    state = torch.get_rng_state()
    if not active():
        return [state]
    out = [None] * world_size()
    dist.all_gather_object(out, state)
    return out


def barrier() -> None:
    if active():
        dist.barrier()
