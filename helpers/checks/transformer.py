"""Checks for notebook 05: one BPE merge step, and mean pooling into sentence embeddings."""

import torch

from . import Mistake, compare, exercise


def _merge(ids, pair, new, first_only=False, skip=2, keep_last=True):
    out, i, done = [], 0, False
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair) and not (first_only and done):
            out.append(new)
            i, done = i + skip, True
        elif i + 1 < len(ids) or keep_last:
            out.append(ids[i])
            i += 1
        else:
            i += 1
    return out


MERGE_MISTAKES = [
    Mistake("only the first occurrence merged", "Merge EVERY occurrence of the pair, walking once from left "
            "to right.", lambda ids, pair, new: _merge(ids, pair, new, first_only=True)),
    Mistake("the pair's second token not skipped", "After emitting the new id, move past BOTH tokens of the "
            "pair: a token can belong to one merge only.", lambda ids, pair, new: _merge(ids, pair, new, skip=1)),
    Mistake("the last token lost", "A loop that looks at ids[i] and ids[i + 1] stops one token early: keep "
            "the last token when it was not merged.", lambda ids, pair, new: _merge(ids, pair, new, keep_last=False)),
]


@exercise("05.1", "merge a pair of tokens (one BPE step)", mistakes=MERGE_MISTAKES, hint=(
    "Walk through the list with an index. When the token at the index and the next one form the pair, emit "
    "the new id and move on by two; otherwise emit the token and move on by one. The walk ends when the "
    "index reaches the end, so the last token is handled too."))
def merge(answer) -> None:
    reference = _merge
    for ids, pair, new in [([1, 2, 3, 1, 2], (1, 2), 9), ([1, 1, 1], (1, 1), 7), ([5, 6], (6, 5), 8),
                           ([], (1, 2), 3), ([4, 2, 4, 2, 4], (2, 4), 300)]:
        compare(lambda *a: list(answer(*a)), reference, (list(ids), pair, new), what=f"merge({ids}, {pair}, {new})",
                shown=f"ids = {ids}, pair = {pair}, new_id = {new}",
                hint="Walk left to right; when ids[i], ids[i+1] == pair, emit the new id and skip two.")


def _pool(hidden, mask, by_length=False):
    m = mask.to(hidden.dtype).unsqueeze(-1)  # (batch, tokens, 1)
    return (hidden * m).sum(1) / (hidden.shape[1] if by_length else m.sum(1).clamp(min=1))


POOL_MISTAKES = [
    Mistake("padding averaged in", "The mean runs over the padding too: only the positions where "
            "attention_mask is 1 are words.", lambda h, m: h.mean(dim=1)),
    Mistake("divided by the padded length", "Padding is left out of the sum, but the sum is divided by the "
            "padded length: divide by the number of real tokens of each sentence.",
            lambda h, m: _pool(h, m, by_length=True)),
]


@exercise("05.2", "mean pooling over real tokens", mistakes=POOL_MISTAKES, hint=(
    "Zero the hidden states of padded positions (the mask, given one more dimension so it lines up with the "
    "features), add up what is left over the tokens, and divide by how many real tokens each sentence has."))
def mean_pool(answer) -> None:
    from helpers.encoder import mean_pool as reference

    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [[1.0, 1.0], [9.0, 9.0], [9.0, 9.0]]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    compare(answer, reference, (hidden, mask), what="mean_pool of a small padded batch",
            shown=f"hidden = {hidden.tolist()}, attention_mask = {mask.tolist()}")
    g = torch.Generator().manual_seed(5)
    hidden = torch.randn(3, 6, 8, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
    compare(answer, reference, (hidden, mask), what="mean_pool of a padded batch (3, 6, 8)",
            shown=f"random hidden states, attention_mask = {mask.tolist()}")
