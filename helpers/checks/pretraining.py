"""Checks for notebooks 06 (BERT pretraining) and 07 (GPT pretraining)."""

import math

import torch

from . import CheckFailed, Mistake, blame, compare, describe, exercise


def _logit_cases():
    g = torch.Generator().manual_seed(0)
    ties = torch.tensor([[1.0, 3.0, 3.0, 0.0, 2.0]])
    small = torch.tensor([[1.0, 3.0, 2.0], [0.0, -1.0, 4.0]])  # two rows, readable when it goes wrong
    return [torch.randn(7, generator=g) * 3, small] + [torch.randn(s, generator=g) * 3 for s in [(4, 10), (2, 3, 84)]] + [ties]


def _top_k(logits, k, whole=False, fill=float("-inf"), extra=0):
    k = min(k + extra, logits.numel() if whole else logits.size(-1))
    kth = torch.topk(logits.flatten(), k).values[-1] if whole else torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, fill)


TOP_K_MISTAKES = [
    Mistake("k taken over the whole tensor", "Each row (each sequence of the batch) keeps its own k largest "
            "logits: find the k-th largest along the last dimension only.", lambda l, k: _top_k(l, k, whole=True)),
    Mistake("filtered with 0 instead of -inf", "A filtered logit of 0 still has probability exp(0) / sum: set "
            "filtered logits to minus infinity so that softmax gives them exactly 0.",
            lambda l, k: _top_k(l, k, fill=0.0)),
    Mistake("off by one: k + 1 kept", "Keep the logits at least as large as the k-th largest, which is the "
            "last of the top k (not the first one after them).", lambda l, k: _top_k(l, k, extra=1)),
]


@exercise("07.1", "top-k filtering", mistakes=TOP_K_MISTAKES, hint=(
    "For each row find the k-th largest logit (a sort or torch.topk gives it), and set every logit smaller "
    "than it to minus infinity; the kept ones stay as they were. A k larger than the vocabulary keeps "
    "everything."))
def top_k(answer) -> None:
    from helpers.generation import top_k_filter

    for logits in _logit_cases():
        for k in (1, 3, logits.size(-1), logits.size(-1) + 5):
            compare(answer, top_k_filter, (logits, k), what=f"top-k with k={k} on logits of shape {tuple(logits.shape)}",
                    shown=f"logits = {describe(logits)}, k = {k}" if logits.numel() <= 10 else "",
                    hint="Keep the k largest of each row, set the others to -inf, and cap k at the vocabulary size.")


def _top_p(logits, p, crossing=True, unsort=True, fill=float("-inf")):
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (..., vocab)
    probs = sorted_logits.softmax(dim=-1)
    drop_sorted = (probs.cumsum(-1) - probs >= p) if crossing else (probs.cumsum(-1) > p)
    if not unsort:
        return sorted_logits.masked_fill(drop_sorted, fill)
    return logits.masked_fill(torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted), fill)


TOP_P_MISTAKES = [
    Mistake("the token that crosses p dropped", "Keep a token while the mass of the tokens ranked ABOVE it "
            "is still below p: the token that takes the total past p is part of the nucleus, and the most "
            "likely token is always kept.", lambda l, p: _top_p(l, p, crossing=False)),
    Mistake("left in sorted order", "You sort to find the nucleus, but the result must be in vocabulary order: "
            "put each logit back in its own position.", lambda l, p: _top_p(l, p, unsort=False)),
    Mistake("filtered with 0 instead of -inf", "Filtered logits must be minus infinity, so that softmax gives "
            "them exactly 0.", lambda l, p: _top_p(l, p, fill=0.0)),
]


@exercise("07.2", "top-p (nucleus) filtering", mistakes=TOP_P_MISTAKES, hint=(
    "Sort each row's probabilities from most to least likely and add them up as you go. A token belongs to "
    "the nucleus while the mass of the tokens before it has not yet reached p. Mark the others, then carry "
    "the marks back to the vocabulary order and set those logits to minus infinity."))
def top_p(answer) -> None:
    from helpers.generation import top_p_filter

    for logits in _logit_cases():
        for p in (1e-4, 0.5, 0.9, 1.0):
            compare(answer, top_p_filter, (logits, p), what=f"top-p with p={p} on logits of shape {tuple(logits.shape)}",
                    shown=f"logits = {describe(logits)}, p = {p}" if logits.numel() <= 10 else "",
                    hint="Keep a token while the mass of the tokens before it is still below p; leave the kept "
                         "logits unchanged, in vocabulary order.")


def _windows(data, starts, block, shift=1, extra=0):
    x = torch.stack([data[s:s + block + extra] for s in starts.tolist()])
    y = torch.stack([data[s + shift:s + shift + block + extra] for s in starts.tolist()])
    return x, y


WINDOW_MISTAKES = [
    Mistake("the target is the input", "y must be the token that FOLLOWS each position of x: the window "
            "shifted by one to the right in the data.", lambda d, s, b: _windows(d, s, b, shift=0)),
    Mistake("target shifted the wrong way", "y holds the NEXT token of each position, so its window starts "
            "one token after x's, not one before.", lambda d, s, b: _windows(d, s, b, shift=-1)),
    Mistake("off-by-one window", "Each row of x and y holds exactly block_size tokens: the slice from s to "
            "s + block_size excludes its end.", lambda d, s, b: _windows(d, s, b, extra=1)),
]


@exercise("07.3", "input and target windows for causal language modelling", mistakes=WINDOW_MISTAKES, hint=(
    "Row i of x is the block_size tokens of data that begin at starts[i]; row i of y is the same window "
    "moved one token later, so y[i, t] is the token that follows x[i, t]."))
def causal_windows(answer) -> None:
    data = torch.arange(100, 200)
    starts = torch.tensor([2, 5, 35])
    for block in (4, 1, 64):
        got = compare(answer, _windows, (data, starts, block), atol=0, what=f"(x, y) for block_size={block}",
                      shown=f"data = [100, 101, ..., 199], starts = {starts.tolist()}, block_size = {block}",
                      hint="Row i of x is data[starts[i] : starts[i] + block_size]; y is the same window one "
                           "token later.")
        if not (isinstance(got, tuple) and len(got) == 2):
            raise CheckFailed("return a pair (x, y) of tensors.")


MASKING_MISTAKES = [
    Mistake("special tokens chosen", "[CLS], [SEP] and padding (special_mask True) are never chosen: leave "
            "them out before drawing the 15%."),
    Mistake("labels on every position", "Only the chosen positions carry a label (their original id); every "
            "other position gets -100 so that the loss ignores it."),
    Mistake("every chosen token becomes [MASK]", "Of the chosen tokens only 80% become [MASK]; 10% get a random "
            "token and 10% stay as they are, so that the model cannot learn that only [MASK] needs predicting. "
            "Draw a second random number per chosen token to decide which."),
]


@exercise("06.1", "BERT masking: 15% chosen, then 80% [MASK], 10% random, 10% kept", mistakes=MASKING_MISTAKES,
          hint=("Two random draws per token. The first chooses about 15% of the real (non-special) tokens; their "
                "labels are their ids and all other labels are ignored. The second splits the chosen ones: most "
                "become [MASK], a tenth are replaced by a random id, a tenth are left alone. Use the generator "
                "you are given for every draw."))
def masking(answer) -> None:
    g = torch.Generator().manual_seed(0)
    vocab, mask_id = 500, 4
    ids = torch.randint(10, vocab, (100, 400), generator=g)  # 40,000 tokens
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True  # [CLS] and [SEP]
    special[::3, -100:] = True  # padding
    tried = "input_ids of shape (100, 400), [CLS] and [SEP] at the ends, padding in every third row"
    got = answer(ids.clone(), mask_id, vocab, special, torch.Generator().manual_seed(1))
    if not (isinstance(got, tuple) and len(got) == 2):
        raise CheckFailed("return a pair (inputs, labels).")
    inputs, labels = got
    if inputs.shape != ids.shape or labels.shape != ids.shape:
        raise CheckFailed(f"inputs and labels must both have the shape of input_ids {tuple(ids.shape)}.")
    chosen = labels != -100
    if chosen.float().mean() > 0.9 and torch.equal(labels[chosen], ids[chosen]):
        raise blame("labels on every position", f"With {tried}, {chosen.float().mean():.0%} of the labels are "
                                                "token ids and almost none is -100.")
    if chosen[special].any():
        raise blame("special tokens chosen", f"With {tried}, {int(chosen[special].sum())} special positions got "
                                             "a label.")
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
    split = f"With {tried}: of the {n} chosen tokens, {m:.1%} became [MASK], {r:.1%} random, {k:.1%} kept"
    if m > 0.97:
        raise blame("every chosen token becomes [MASK]", split + "; expected 80%, 10%, 10%.")
    if abs(m - 0.8) > 0.03 or abs(k - 0.1) > 0.03 or abs(r - 0.1) > 0.03:
        raise CheckFailed(split + "; expected 80%, 10%, 10%. Draw a second random number for each chosen token "
                                  "to decide which of the three it gets.")


NSP_MISTAKES = [
    Mistake("negatives from the same document", "A NotNext pair takes sentence B from ANOTHER document: a "
            "random sentence of A's own document shares its topic, and the task becomes guessing order only."),
    Mistake("labels swapped", "Label 0 means IsNext (B follows A), label 1 NotNext, as in BERT and transformers."),
    Mistake("not half and half", "Decide the labels first, exactly n_pairs // 2 of each, then shuffle them: "
            "flipping a coin per pair gives only about half."),
]


@exercise("06.2", "next-sentence-prediction pairs", mistakes=NSP_MISTAKES, hint=(
    "Make a list of labels, half IsNext and half NotNext, and shuffle it with a random.Random(seed). For each "
    "label pick a document and a sentence A in it that has a successor; B is that successor for IsNext, or a "
    "sentence of a different document for NotNext."))
def nsp(answer) -> None:
    docs = [[f"doc{d} sentence{i}" for i in range(5 + d % 3)] for d in range(12)]
    pairs = answer(docs, 400, 0)
    tried = "12 documents of 5 to 7 sentences named 'docD sentenceI', n_pairs = 400, seed = 0"
    if not isinstance(pairs, list) or len(pairs) != 400 or any(len(p) != 3 for p in pairs):
        raise CheckFailed("return a list of n_pairs triples (sentence_a, sentence_b, label).")
    labels = [p[2] for p in pairs]
    if set(labels) - {0, 1}:
        raise CheckFailed(f"labels must be 0 (IsNext) or 1 (NotNext), got {sorted(set(labels))[:5]}.")
    parsed = [([(s.split()[0], int(s.split()[1][8:])) for s in (a, b)], lab) for a, b, lab in pairs]
    follows = [da == db and ib == ia + 1 for ((da, ia), (db, ib)), _ in parsed]
    if all(f == (lab == 1) for f, (_, lab) in zip(follows, parsed)):
        raise blame("labels swapped", f"With {tried}: every pair labelled 1 has B right after A.")
    for (a, b, lab), (((da, _), (db, _)), _), f in zip(pairs, parsed, follows):
        if lab == 0 and not f:
            raise CheckFailed(f"With {tried}: ({a!r}, {b!r}) is labelled IsNext (0), but B is not the sentence "
                              "after A. Label 0 means B follows A in the same document.")
        if lab == 1 and da == db:
            raise blame("negatives from the same document", f"With {tried}: ({a!r}, {b!r}) is labelled NotNext "
                                                            "(1) but B comes from A's own document.")
    if labels.count(0) != 200:
        raise blame("not half and half", f"With {tried}: {labels.count(0)} of 400 pairs are labelled IsNext (0); "
                                         "exactly half should be.")
