"""Solutions to the exercises of notebook 13, and typical wrong answers (the tests use both)."""

import torch


def shard(batch, rank, world_size):
    n = len(batch)
    if n % world_size:
        raise ValueError(f"a global batch of {n} examples does not divide among {world_size} processes.")
    size = n // world_size
    return batch[rank * size:(rank + 1) * size]


def shard_wrong(batch, rank, world_size):
    return batch[rank::world_size]  # every world_size-th row: a share, but not the contiguous one


def all_reduce_mean(grads):
    world = len(grads)
    means = [torch.stack(same).mean(0) for same in zip(*grads)]  # gradient i averaged over the processes
    return [[m.clone() for m in means] for _ in range(world)]


def all_reduce_mean_wrong(grads):
    sums = [torch.stack(same).sum(0) for same in zip(*grads)]  # the sum, as torch's all_reduce default
    return [list(sums) for _ in grads]


SOLUTIONS = {"13.1": shard, "13.2": all_reduce_mean}
WRONG = {"13.1": shard_wrong, "13.2": all_reduce_mean_wrong}


def shard_uneven_wrong(batch, rank, world_size):
    size = len(batch) // world_size  # no check: 12 rows for 5 processes silently drops 2
    return batch[rank * size:(rank + 1) * size]


def all_reduce_mean_in_place_wrong(grads):
    means = [torch.stack(same).mean(0) for same in zip(*grads)]
    for ranks in grads:
        for t, m in zip(ranks, means):
            t.copy_(m)  # overwrites the inputs
    return [list(r) for r in grads]


WRONG["13.1"] = [shard_wrong, shard_uneven_wrong]
WRONG["13.2"] = [all_reduce_mean_wrong, all_reduce_mean_in_place_wrong]
