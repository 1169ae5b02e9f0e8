"""Checks for notebook 13 (scaling out): sharding a global batch, averaging gradients as an all-reduce."""

import torch

from . import CheckFailed, exercise, expect_close


@exercise("13.1", "shard a global batch for rank r of w")
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
            if not torch.equal(got, want):
                raise CheckFailed(f"rank {rank} of {world} should get rows {rank * n}..{(rank + 1) * n - 1} "
                                  f"(contiguous, in rank order); got the rows starting {got[:, 0].div(2).tolist()}.")
    try:
        answer(batch, 0, 5)
    except ValueError as err:
        if "12" not in str(err) or "5" not in str(err):
            raise CheckFailed(f"the ValueError should name both numbers (12 examples, 5 processes); it says {err!r}.")
    else:
        raise CheckFailed("5 processes cannot share 12 examples equally: raise a ValueError naming both numbers.")


@exercise("13.2", "average gradients by hand (all-reduce semantics)")
def all_reduce_mean(answer) -> None:
    g = torch.Generator().manual_seed(0)
    for world in (1, 2, 3):
        grads = [[torch.randn(4, 3, generator=g), torch.randn(5, generator=g)] for _ in range(world)]
        before = [[t.clone() for t in ranks] for ranks in grads]
        got = answer(grads)
        if not isinstance(got, (list, tuple)) or len(got) != world:
            raise CheckFailed(f"return one list of gradients per process: {world} lists for {world} processes, "
                              f"got {type(got).__name__} of length {len(got) if hasattr(got, '__len__') else '?'}.")
        want = [torch.stack([grads[r][i] for r in range(world)]).mean(0) for i in range(2)]
        for r in range(world):
            for i in range(2):
                expect_close(got[r][i], want[i], f"process {r}'s gradient {i} ({world} processes)",
                             hint="Every process gets the same tensor: the mean over the processes (the sum "
                                  "divided by the number of processes), not the sum.")
        for r in range(world):
            if not all(torch.equal(a, b) for a, b in zip(grads[r], before[r])):
                raise CheckFailed("leave the inputs unchanged: build new tensors for the averages.")
