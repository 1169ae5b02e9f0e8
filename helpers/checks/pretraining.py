"""Checks for notebooks 06 (BERT pretraining) and 07 (GPT pretraining)."""

import math

import torch

from . import CheckFailed, exercise, expect_close


def _logit_cases():
    g = torch.Generator().manual_seed(0)
    ties = torch.tensor([[1.0, 3.0, 3.0, 0.0, 2.0]])
    return [torch.randn(shape, generator=g) * 3 for shape in [(7,), (4, 10), (2, 3, 84)]] + [ties]


def _finite(t):
    return torch.isfinite(t)


def _compare_filtered(got, want, logits, setting: str, keep_hint: str, value_hint: str):
    """The learner's filtered logits against the reference: same shape, same entries kept, same values."""
    if not isinstance(got, torch.Tensor) or got.shape != logits.shape:
        raise CheckFailed(f"return a tensor of the logits' shape {tuple(logits.shape)}.")
    if not torch.equal(_finite(got), _finite(want)):
        raise CheckFailed(
            f"for {setting} on logits of shape {tuple(logits.shape)} you keep "
            f"{_finite(got).sum(-1).flatten().tolist()} entries per row, the reference keeps "
            f"{_finite(want).sum(-1).flatten().tolist()}. {keep_hint}")
    expect_close(got[_finite(want)], want[_finite(want)], f"kept logits ({setting})", hint=value_hint)
    return got


@exercise("07.1", "top-k filtering")
def top_k(answer) -> None:
    from helpers.generation import top_k_filter

    for logits in _logit_cases():
        for k in (1, 3, logits.size(-1), logits.size(-1) + 5):
            want = top_k_filter(logits, k)
            got = _compare_filtered(
                answer(logits.clone(), k), want, logits, f"k={k}",
                "Keep the k largest of each row (dim=-1: torch.topk(...).values[..., -1:] is the k-th "
                "largest), set the others to -inf, and cap k at the vocabulary size.",
                "Leave the kept logits unchanged.")
            if (got[~_finite(want)] != float("-inf")).any():
                raise CheckFailed("filtered entries must be -inf (so that softmax gives them probability 0).")


@exercise("07.2", "top-p (nucleus) filtering")
def top_p(answer) -> None:
    from helpers.generation import top_p_filter

    for logits in _logit_cases():
        for p in (1e-4, 0.5, 0.9, 1.0):
            _compare_filtered(
                answer(logits.clone(), p), top_p_filter(logits, p), logits, f"p={p}",
                "Sort the probabilities in decreasing order and keep a token while the mass of the "
                "tokens before it is still below p: the token that crosses p is kept, and the most "
                "likely token always is.",
                "Leave the kept logits unchanged; put them back in vocabulary order.")


@exercise("07.3", "input and target windows for causal language modelling")
def causal_windows(answer) -> None:
    data = torch.arange(100, 200)
    starts = torch.tensor([0, 5, 35])
    for block in (1, 4, 64):
        got = answer(data, starts, block)
        if not (isinstance(got, tuple) and len(got) == 2):
            raise CheckFailed("return a pair (x, y) of tensors.")
        x, y = got
        want_x = torch.stack([data[s:s + block] for s in starts.tolist()])
        want_y = torch.stack([data[s + 1:s + block + 1] for s in starts.tolist()])
        expect_close(x, want_x, f"x for block_size={block}", atol=0,
                     hint="Row i of x is data[starts[i] : starts[i] + block_size].")
        expect_close(y, want_y, f"y for block_size={block}", atol=0,
                     hint="y is x shifted one token to the left: the token that follows each position.")


@exercise("06.1", "BERT masking: 15% chosen, then 80% [MASK], 10% random, 10% kept")
def masking(answer) -> None:
    g = torch.Generator().manual_seed(0)
    vocab, mask_id = 500, 4
    ids = torch.randint(10, vocab, (100, 400), generator=g)  # 40,000 tokens
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True  # [CLS] and [SEP]
    special[::3, -100:] = True  # padding
    got = answer(ids.clone(), mask_id, vocab, special, torch.Generator().manual_seed(1))
    if not (isinstance(got, tuple) and len(got) == 2):
        raise CheckFailed("return a pair (inputs, labels).")
    inputs, labels = got
    if inputs.shape != ids.shape or labels.shape != ids.shape:
        raise CheckFailed(f"inputs and labels must both have the shape of input_ids {tuple(ids.shape)}.")
    chosen = labels != -100
    if chosen[special].any():
        raise CheckFailed("special tokens ([CLS], [SEP], padding: special_mask True) must never be chosen.")
    if not torch.equal(labels[chosen], ids[chosen]):
        raise CheckFailed("the label of a chosen position is its original token id; the others get -100.")
    if not torch.equal(inputs[~chosen], ids[~chosen]):
        raise CheckFailed("positions that are not chosen must keep their token in the inputs.")
    n_real = int((~special).sum())
    frac = chosen.sum().item() / n_real
    if abs(frac - 0.15) > 0.01:
        raise CheckFailed(f"{frac:.1%} of the real tokens were chosen; expected 15% (within 1 point).")
    n = int(chosen.sum())
    m = (inputs[chosen] == mask_id).float().mean().item()
    k = (inputs[chosen] == ids[chosen]).float().mean().item()
    r = 1 - m - k
    if abs(m - 0.8) > 0.03 or abs(k - 0.1) > 0.03 or abs(r - 0.1) > 0.03:
        raise CheckFailed(f"of the {n} chosen tokens, {m:.1%} became [MASK], {r:.1%} random, {k:.1%} kept; "
                          "expected 80%, 10%, 10%. Draw a second random number for each chosen token "
                          "to decide which of the three it gets.")


@exercise("06.2", "next-sentence-prediction pairs")
def nsp(answer) -> None:
    docs = [[f"doc{d} sentence{i}" for i in range(5 + d % 3)] for d in range(12)]
    pairs = answer(docs, 400, 0)
    if not isinstance(pairs, list) or len(pairs) != 400 or any(len(p) != 3 for p in pairs):
        raise CheckFailed("return a list of n_pairs triples (sentence_a, sentence_b, label).")
    labels = [p[2] for p in pairs]
    if set(labels) - {0, 1}:
        raise CheckFailed(f"labels must be 0 (IsNext) or 1 (NotNext), got {sorted(set(labels))[:5]}.")
    if labels.count(0) != 200:
        raise CheckFailed(f"{labels.count(0)} of 400 pairs are labelled IsNext (0); exactly half should be.")
    for a, b, lab in pairs:
        (da, ia), (db, ib) = [(s.split()[0], int(s.split()[1][8:])) for s in (a, b)]
        if lab == 0 and not (da == db and ib == ia + 1):
            raise CheckFailed(f"({a!r}, {b!r}) is labelled IsNext (0), but B is not the sentence after A. "
                              "Label 0 means B follows A in the same document.")
        if lab == 1 and da == db:
            raise CheckFailed(f"({a!r}, {b!r}) is labelled NotNext (1) but B comes from A's own document; "
                              "take B from another document.")
