"""Checks for notebook 10's question-answering part: choosing the answer span."""

import torch

from . import CheckFailed, exercise


@exercise("10.5", "the best valid answer span")
def span_selection(answer) -> None:
    """answer(start_logits (T,), end_logits (T,), max_tokens) -> (start, end), end inclusive."""
    from helpers.qa import best_span

    g = torch.Generator().manual_seed(5)
    cases = [(torch.tensor([0.0, 1.0, 5.0, 0.0]), torch.tensor([0.0, 9.0, 0.0, 2.0]), 15),  # best pair ends first
             (torch.tensor([5.0, 0.0, 1.0, 0.0]), torch.tensor([-5.0, 0.0, 0.0, 9.0]), 2)]  # too long a span
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
        if not (0 <= s < len(start) and 0 <= e < len(end)):
            hint = "Both positions must be indices of the logits."
        elif e < s:
            hint = "The span ends before it starts: only pairs with end >= start are answers."
        elif e - s + 1 > max_tokens:
            hint = (f"The span is {e - s + 1} tokens long; at most max_tokens = {max_tokens} are allowed "
                    f"(end - start + 1 <= max_tokens; a one-token answer has end == start).")
        elif start[s] + end[e] < start[want[0]] + end[want[1]] - 1e-6:
            hint = ("A better valid pair exists: score every pair start <= end < start + max_tokens by "
                    "start_logits[start] + end_logits[end] and keep the best (not the best start and the best "
                    "end on their own).")
        else:
            hint = "Your span is valid and as good; return the first best in row-major order (argmax of the flat table)."
        raise CheckFailed(f"For {shown}, max_tokens={max_tokens} the best valid span is {want}, you returned "
                          f"{got}. {hint}")


@exercise("10.6", "average precision of a ranking",
          hint="Sort the labels by score, best first. Walk down the list keeping a count of the relevant items "
               "seen; at each relevant one, the precision so far is that count over its rank (1-based). Average "
               "those precisions over the relevant items only.")
def average_precision(answer) -> None:
    """answer(scores (n,), labels (n,) of 0/1) -> the average precision of ranking by score (0 if none relevant)."""
    import numpy as np

    from helpers.selection import average_precision as reference

    rng = np.random.default_rng(6)
    cases = [([3.0, 2.0, 1.0], [1, 0, 1]), ([0.1, 0.9, 0.2], [1, 0, 1]), ([5.0, 4.0, 3.0, 2.0], [0, 0, 0, 1]),
             ([1.0, 2.0], [1, 1]), ([1.0, 2.0, 3.0], [0, 0, 0])]
    cases += [(rng.permutation(n).astype(float).tolist(), rng.integers(0, 2, n).tolist()) for n in (1, 4, 9, 30) * 3]
    for scores, labels in cases:
        want = reference(scores, labels)
        got = answer(np.array(scores), np.array(labels))
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise CheckFailed(f"Return one number; got {got!r}.") from None
        if abs(got - want) <= 1e-6:
            continue
        ranked = [y for _, y in sorted(zip(scores, labels), key=lambda p: -p[0])]
        hint = ""
        if sum(labels) == 0:
            hint = " With nothing relevant, return 0 (there is no precision to average)."
        elif abs(got - float(np.mean(np.cumsum(ranked) / np.arange(1, len(ranked) + 1)))) < 1e-6:
            hint = (" You averaged the precision at every rank; average it only at the ranks of the relevant "
                    "items.")
        elif abs(got - reference([-s for s in scores], labels)) < 1e-6:
            hint = " You ranked the lowest scores first: the highest score is rank 1."
        raise CheckFailed(f"For scores={scores}, labels={labels} (ranked by score: {ranked}) the average precision "
                          f"is {want:.4f}; you returned {got:.4f}.{hint}")
