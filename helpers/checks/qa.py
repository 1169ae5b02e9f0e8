"""Checks for notebook 10's question-answering part: choosing the answer span."""

import torch

from . import CheckFailed, Mistake, blame, compare, exercise


SPAN_MISTAKES = [
    Mistake("an end before the start", "Only pairs with end >= start are answers. The best start and the best "
            "end chosen on their own often break this: score every valid PAIR by start_logits[start] + "
            "end_logits[end] and keep the best."),
    Mistake("the length limit ignored", "An answer has at most max_tokens tokens: leave longer pairs out."),
    Mistake("off-by-one length", "A span from start to end (inclusive) has end - start + 1 tokens, so a "
            "one-token answer has end == start; at most max_tokens are allowed."),
]


@exercise("10.5", "the best valid answer span", mistakes=SPAN_MISTAKES, hint=(
    "Build the table of scores of every (start, end) pair: the start logit of one position plus the end logit "
    "of another. Forbid, with minus infinity, every pair that ends before it starts or is longer than "
    "max_tokens, then take the position of the table's largest entry (the first one in row-major order)."))
def span_selection(answer) -> None:
    """answer(start_logits (T,), end_logits (T,), max_tokens) -> (start, end), end inclusive."""
    from helpers.qa import best_span

    g = torch.Generator().manual_seed(5)
    cases = [(torch.tensor([0.0, 1.0, 5.0, 0.0]), torch.tensor([0.0, 9.0, 0.0, 2.0]), 15),  # best pair ends first
             (torch.tensor([5.0, 0.0, 1.0, 0.0]), torch.tensor([-5.0, 0.0, 0.0, 9.0]), 2),  # too long a span
             (torch.tensor([0.0, 5.0, 0.0]), torch.tensor([0.0, 0.0, 9.0]), 1)]  # one token: end == start
    cases += [(torch.randn(n, generator=g), torch.randn(n, generator=g), m) for n, m in
              [(1, 1), (5, 1), (8, 3), (20, 4), (40, 15)] * 4]
    for start, end, max_tokens in cases:
        want = best_span(start, end, max_tokens)[:2]
        got = answer(start.clone(), end.clone(), max_tokens)
        try:
            got = (int(got[0]), int(got[1]))
        except (TypeError, ValueError, IndexError):
            raise CheckFailed(f"Return a pair (start, end) of token positions; got {got!r}.") from None
        if got == want:
            continue
        s, e = got
        shown = f"start_logits={[round(x, 2) for x in start.tolist()]}, end_logits={[round(x, 2) for x in end.tolist()]}"
        detail = f"For {shown}, max_tokens={max_tokens}:\n  yours:    {got}\n  expected: {want}"
        if not (0 <= s < len(start) and 0 <= e < len(end)):
            raise CheckFailed(detail + "\nBoth positions must be indices of the logits.")
        if e < s:
            raise blame("an end before the start", detail)
        if e - s + 1 == max_tokens + 1:
            raise blame("off-by-one length", detail + f"\n(your span is {e - s + 1} tokens long)")
        if e - s + 1 > max_tokens:
            raise blame("the length limit ignored", detail + f"\n(your span is {e - s + 1} tokens long)")
        if start[s] + end[e] < start[want[0]] + end[want[1]] - 1e-6:
            raise CheckFailed(detail + "\nHint: a better valid pair exists: score every pair start <= end < start + "
                                       "max_tokens and keep the best.")
        raise CheckFailed(detail + "\nYour span is valid and as good; return the first best in row-major order.")


def _ap_every_rank_wrong(scores, labels):
    import numpy as np

    ranked = np.asarray(labels)[np.argsort(-np.asarray(scores), kind="stable")]
    return float(np.mean(np.cumsum(ranked) / np.arange(1, len(ranked) + 1)))  # at every rank, not the relevant ones


def _ap_lowest_first_wrong(scores, labels):
    from helpers.selection import average_precision

    return average_precision([-s for s in scores], labels)  # ranked with the lowest score first


AP_MISTAKES = [
    Mistake("precision averaged at every rank", "Average the precision only at the ranks where a relevant item "
            "sits, not at every rank of the list.", _ap_every_rank_wrong),
    Mistake("lowest scores ranked first", "Rank 1 is the highest score: sort by score in decreasing order.",
            _ap_lowest_first_wrong),
    Mistake("no relevant item not handled", "With nothing relevant there is no precision to average: return 0."),
]


@exercise("10.6", "average precision of a ranking", mistakes=AP_MISTAKES, hint=(
    "Sort the labels by score, best first. Walk down the list keeping a count of the relevant items seen; at each "
    "relevant one, the precision so far is that count over its rank (1-based). Average those precisions over the "
    "relevant items only."))
def average_precision(answer) -> None:
    """answer(scores (n,), labels (n,) of 0/1) -> the average precision of ranking by score (0 if none relevant)."""
    import numpy as np

    from helpers.selection import average_precision as reference

    rng = np.random.default_rng(6)
    cases = [([3.0, 2.0, 1.0], [1, 0, 1]), ([0.1, 0.9, 0.2], [1, 0, 1]), ([5.0, 4.0, 3.0, 2.0], [0, 0, 0, 1]),
             ([1.0, 2.0], [1, 1]), ([1.0, 2.0, 3.0], [0, 0, 0])]
    cases += [(rng.permutation(n).astype(float).tolist(), rng.integers(0, 2, n).tolist()) for n in (1, 4, 9, 30) * 3]
    for scores, labels in cases:
        shown = f"scores={scores}, labels={labels}"
        if sum(labels) == 0:
            try:
                got = float(answer(np.array(scores), np.array(labels)))
            except ZeroDivisionError:
                got = float("nan")
            if got != 0.0:
                raise blame("no relevant item not handled", f"For {shown}: yours {got}, expected 0.0")
            continue
        compare(answer, lambda s, y: float(reference(s, y)), (np.array(scores), np.array(labels)),
                      what="The average precision", shown=shown, atol=1e-6)
