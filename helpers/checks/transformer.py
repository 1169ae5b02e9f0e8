"""Checks for notebook 05: one BPE merge step, and mean pooling into sentence embeddings."""

import torch

from . import CheckFailed, exercise, expect_close


@exercise("05.1", "merge a pair of tokens (one BPE step)")
def merge(answer) -> None:
    cases = [
        ([1, 2, 3, 1, 2], (1, 2), 9, [9, 3, 9]),
        ([1, 1, 1], (1, 1), 7, [7, 1]),  # left to right, no overlapping merges
        ([5, 6], (6, 5), 8, [5, 6]),
        ([], (1, 2), 3, []),
        ([4, 2, 4, 2, 4], (2, 4), 300, [4, 300, 300]),
    ]
    for ids, pair, new, want in cases:
        got = answer(list(ids), pair, new)
        if list(got) != want:
            raise CheckFailed(f"merge({ids}, {pair}, {new}) returned {list(got)}, expected {want}. Walk "
                              f"left to right; when ids[i], ids[i+1] == pair, emit the new id and skip two.")


@exercise("05.2", "mean pooling over real tokens")
def mean_pool(answer) -> None:
    from helpers.transformer import mean_pool as reference

    g = torch.Generator().manual_seed(5)
    hidden = torch.randn(3, 6, 8, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
    expect_close(answer(hidden, mask), reference(hidden, mask), "mean_pool of a padded batch",
                 hint="Multiply by the mask (unsqueezed to (batch, tokens, 1)), sum over tokens, and "
                      "divide by the number of real tokens, not by the padded length.")
