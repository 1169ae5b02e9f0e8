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
