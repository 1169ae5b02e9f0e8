"""Checks for notebook 13 (scaling out): sharding a global batch, averaging gradients as an all-reduce."""

import torch

from . import CheckFailed, Mistake, blame, compare, exercise, expect_close


SHARD_MISTAKES = [
    Mistake("strided rows", "Every world_size-th row is a share of the right size, but not the contiguous "
            "block in rank order that the course's loader (and the gradient-equivalence test) expects."),
    Mistake("an uneven split accepted", "When the batch does not divide by the number of processes, some "
            "process would get fewer rows and the averaged gradient would be wrong: raise a ValueError naming "
            "both numbers."),
]


@exercise("13.1", "shard a global batch for rank r of w", mistakes=SHARD_MISTAKES, hint=(
    "Each process gets batch_size // world_size consecutive rows; rank r's block starts r blocks in. Check "
    "first that the batch divides evenly, and refuse otherwise."))
def shard(answer) -> None:
    batch = torch.arange(24).view(12, 2)  # (12, 2): row i holds 2i, 2i + 1
    for world in (1, 2, 3, 4, 6, 12):
        n = 12 // world
        for rank in range(world):
            got = answer(batch, rank, world)
            want = batch[rank * n:(rank + 1) * n]
            if not isinstance(got, torch.Tensor) or got.shape != want.shape:
                raise CheckFailed(f"rank {rank} of {world} should get {n} rows of shape {tuple(want.shape)}, got "
                                  f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}. "
                                  f"Each process takes batch_size // world_size rows.")
            if not torch.equal(got, want) and torch.equal(got, batch[rank::world]):
                raise blame("strided rows", f"For a batch of 12 rows (row i holds 2i, 2i + 1), rank {rank} of {world} "
                                            f"got the rows starting {got[:, 0].div(2).tolist()}, expected rows "
                                            f"{rank * n}..{(rank + 1) * n - 1}.")
            if not torch.equal(got, want):
                raise CheckFailed(f"rank {rank} of {world} should get rows {rank * n}..{(rank + 1) * n - 1} "
                                  f"(contiguous, in rank order); got the rows starting {got[:, 0].div(2).tolist()}.")
    try:
        answer(batch, 0, 5)
    except ValueError as err:
        if "12" not in str(err) or "5" not in str(err):
            raise CheckFailed(f"the ValueError should name both numbers (12 examples, 5 processes); it says {err!r}.")
    else:
        raise blame("an uneven split accepted", "Your function gave rank 0 of 5 a share of 12 examples without an error.")


def _reduce(grads, op="mean"):
    out = [torch.stack(same).sum(0) if op == "sum" else torch.stack(same).mean(0) for same in zip(*grads)]
    if op == "rank0":
        return [out] + [list(g) for g in grads[1:]]
    return [[t.clone() for t in out] for _ in grads]


REDUCE_MISTAKES = [
    Mistake("the sum, not the mean", "torch.distributed.all_reduce sums by default; DDP divides by the number of "
            "processes, so that the step matches one process with the whole batch.", lambda g: _reduce(g, "sum")),
    Mistake("only the first process updated", "After an all-reduce EVERY process holds the same averaged "
            "gradients, so their weights stay identical.", lambda g: _reduce(g, "rank0")),
    Mistake("the inputs changed", "Build new tensors for the averages and leave the given gradients as they are."),
]


@exercise("13.2", "average gradients by hand (all-reduce semantics)", mistakes=REDUCE_MISTAKES, hint=(
    "Gradient i of the result is the same on every process: the mean over the processes of their gradient i. "
    "Return one list per process, each a fresh copy."))
def all_reduce_mean(answer) -> None:
    g = torch.Generator().manual_seed(0)
    for world in (2, 1, 3):
        grads = [[torch.randn(2, 2, generator=g), torch.randn(3, generator=g)] for _ in range(world)]
        before = [[t.clone() for t in ranks] for ranks in grads]
        got = compare(lambda gr: [list(r) for r in answer(gr)], _reduce, (grads,),
                      what=f"the gradients of {world} processes after averaging",
                      shown=f"{world} processes, each with 2 gradients of shapes (2, 2) and (3,)",
                      hint="Every process gets the same tensors: the mean over the processes.")
        if not isinstance(got, (list, tuple)) or len(got) != world:
            raise CheckFailed(f"return one list of gradients per process: {world} lists for {world} processes.")
        answer(grads)
        for r in range(world):
            if not all(torch.equal(a, b) for a, b in zip(grads[r], before[r])):
                raise blame("the inputs changed", f"After your function ran on {world} processes' gradients, "
                                                  f"process {r}'s inputs were different.")
