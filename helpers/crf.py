"""A linear-chain conditional random field (CRF): scores for tag-to-tag transitions on top of a
tagger's per-word scores, trained on whole tag sequences and decoded with Viterbi.

    crf = CRF(num_tags)                              # or CRF.for_bio(labels): invalid BIO moves forbidden
    nll = crf.loss(emissions, tags, mask)           # -log p(tags | words), mean over the batch
    paths = crf.decode(emissions, mask)             # the best tag sequence of each sentence (Viterbi)

A softmax tagger picks each word's tag on its own. A CRF scores a whole sequence,

    score(y) = start[y_1] + sum_t emissions[t, y_t] + sum_t transitions[y_{t-1}, y_t] + end[y_n]

and p(y | x) = exp(score(y)) / Z, where Z sums exp(score) over every one of the L^n tag sequences.
The forward algorithm computes log Z in O(n L^2) by summing over the previous tag one word at a time
(in log space, so nothing overflows); Viterbi does the same with max instead of sum and remembers
where each max came from. Shapes: emissions (batch, words, tags), tags and mask (batch, words).
Sentences are padded to the longest; the mask is True on real words, a prefix of each row.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from . import validation as validate

FORBIDDEN = -1e4  # the score of a forbidden move: exp(-1e4) is 0, and a finite number keeps gradients finite


def bio_allowed(labels: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Which moves a BIO tag sequence may make: (allowed start (L,), allowed transitions (L, L)).

    I-X may only follow B-X or I-X, and may not start a sentence; every other move is allowed."""
    labels = validate.list_of_str("labels", labels, hint="e.g. tagging.label_list(['PER'])")
    def kind(tag):
        prefix, _, t = str(tag).partition("-")
        if tag != "O" and (prefix not in ("B", "I") or not t):
            raise validate.ArgumentValueError(f"{tag!r} is not a BIO label; labels are 'O', 'B-TYPE' or 'I-TYPE'.")
        return prefix, t

    parsed = [kind(tag) for tag in labels]
    start = torch.tensor([p != "I" for p, _ in parsed])
    trans = torch.tensor([[q != "I" or (p in ("B", "I") and t == u) for q, u in parsed] for p, t in parsed])
    return start, trans  # trans[i, j]: may tag j follow tag i?


class CRF(nn.Module):
    """Transition scores between ``num_tags`` tags, with a score for starting and for ending in each.

    ``allowed_start``/``allowed_transitions`` (boolean) forbid moves: their score is fixed at -10,000,
    so that no decoded path ever makes them (``CRF.for_bio(labels)`` forbids what BIO forbids)."""

    def __init__(self, num_tags: int, allowed_start: torch.Tensor | None = None,
                 allowed_transitions: torch.Tensor | None = None):
        super().__init__()
        num_tags = validate.positive_int("num_tags", num_tags)
        self.num_tags = num_tags
        self.start = nn.Parameter(torch.zeros(num_tags))  # (L,) score of the first tag
        self.end = nn.Parameter(torch.zeros(num_tags))  # (L,) score of the last tag
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))  # (L, L) [from, to]
        start_ok = torch.ones(num_tags, dtype=torch.bool) if allowed_start is None else allowed_start.bool()
        trans_ok = (torch.ones(num_tags, num_tags, dtype=torch.bool) if allowed_transitions is None
                    else allowed_transitions.bool())
        if start_ok.shape != (num_tags,) or trans_ok.shape != (num_tags, num_tags):
            raise validate.ArgumentValueError(f"allowed_start must have shape ({num_tags},) and allowed_transitions "
                             f"({num_tags}, {num_tags}); got {tuple(start_ok.shape)} and {tuple(trans_ok.shape)}.")
        self.register_buffer("start_penalty", (~start_ok).float() * FORBIDDEN)  # 0 or -1e4
        self.register_buffer("transition_penalty", (~trans_ok).float() * FORBIDDEN)

    @classmethod
    def for_bio(cls, labels: Sequence[str]) -> "CRF":
        return cls(len(labels), *bio_allowed(labels))

    def scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(start, transitions, end) with the forbidden moves' penalty added."""
        return self.start + self.start_penalty, self.transitions + self.transition_penalty, self.end

    # ---- checks ---------------------------------------------------------------------------------

    def _check(self, emissions: torch.Tensor, mask: torch.Tensor | None, tags: torch.Tensor | None = None):
        if emissions.dim() != 3 or emissions.size(-1) != self.num_tags:
            raise validate.ArgumentValueError(f"emissions must have shape (batch, words, {self.num_tags}), got "
                             f"{tuple(emissions.shape)}.")
        batch, words = emissions.shape[:2]
        if mask is None:
            mask = torch.ones(batch, words, dtype=torch.bool, device=emissions.device)
        mask = mask.bool()
        if mask.shape != (batch, words):
            raise validate.ArgumentValueError(f"mask must have shape {(batch, words)} like the emissions, got {tuple(mask.shape)}.")
        if words == 0 or not mask[:, 0].all():
            empty = [] if words == 0 else (~mask[:, 0]).nonzero().flatten().tolist()[:5]
            raise validate.ArgumentValueError(f"sequences of length zero (rows {empty or 'all'}): every sentence needs at "
                             f"least one word; drop empty sentences before tagging.")
        if (mask[:, 1:] & ~mask[:, :-1]).any():
            rows = (mask[:, 1:] & ~mask[:, :-1]).any(1).nonzero().flatten().tolist()[:5]
            raise validate.ArgumentValueError(f"the mask of rows {rows} is not a prefix (True, ..., True, False, ...): pad "
                             f"sentences at the end, and mark only the real words True.")
        if tags is not None:
            if tags.shape != (batch, words):
                raise validate.ArgumentValueError(f"tags must have shape {(batch, words)}, got {tuple(tags.shape)}.")
            real = tags[mask]
            bad = real[(real < 0) | (real >= self.num_tags)]
            if bad.numel():
                raise validate.ArgumentValueError(f"tags outside the label set 0..{self.num_tags - 1}: "
                                 f"{sorted(set(bad.tolist()))[:5]}. Map every tag to its id first.")
        return mask

    # ---- the probability of a tag sequence --------------------------------------------------

    def path_score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None = None):
        """score(y) of the given tag sequences: (batch,)."""
        mask = self._check(emissions, mask, tags)
        start, trans, end = self.scores()
        tags = tags.masked_fill(~mask, 0)  # padding: any valid id, its terms are masked out below
        m = mask.to(emissions.dtype)
        emit = emissions.gather(-1, tags[..., None]).squeeze(-1)  # (B, T) emission of each chosen tag
        moves = trans[tags[:, :-1], tags[:, 1:]]  # (B, T-1) transition into each next tag
        last = tags.gather(1, (mask.sum(1) - 1)[:, None]).squeeze(1)  # (B,) the tag of each last word
        return start[tags[:, 0]] + (emit * m).sum(1) + (moves * m[:, 1:]).sum(1) + end[last]

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log Z, the log of the sum of exp(score) over every tag sequence: (batch,). The forward
        algorithm: alpha[j] = log of the summed exp(score) of all prefixes that end in tag j."""
        mask = self._check(emissions, mask)
        start, trans, end = self.scores()
        alpha = start + emissions[:, 0]  # (B, L)
        for t in range(1, emissions.size(1)):
            # (B, L_prev, 1) + (L_prev, L_next) + (B, 1, L_next), summed over the previous tag
            step = torch.logsumexp(alpha[:, :, None] + trans + emissions[:, t, None, :], dim=1)  # (B, L)
            alpha = torch.where(mask[:, t, None], step, alpha)  # padding leaves alpha as it was
        return torch.logsumexp(alpha + end, dim=1)

    def log_likelihood(self, emissions, tags, mask=None) -> torch.Tensor:
        """log p(tags | words) = score(tags) - log Z, per sentence: (batch,)."""
        return self.path_score(emissions, tags, mask) - self.log_partition(emissions, mask)

    def loss(self, emissions, tags, mask=None) -> torch.Tensor:
        """The mean negative log-likelihood of the gold tag sequences: the CRF's training loss."""
        return -self.log_likelihood(emissions, tags, mask).mean()

    # ---- decoding -------------------------------------------------------------------------------

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor | None = None) -> list[list[int]]:
        """Viterbi: the highest-scoring tag sequence of each sentence, as a list of tag ids per sentence
        (as long as its mask)."""
        mask = self._check(emissions, mask)
        start, trans, end = self.scores()
        best = start + emissions[:, 0]  # (B, L) best score of a prefix ending in each tag
        back = []  # per step, (B, L): the previous tag of that best prefix
        for t in range(1, emissions.size(1)):
            step, prev = (best[:, :, None] + trans).max(dim=1)  # (B, L_next) each
            back.append(prev)
            best = torch.where(mask[:, t, None], step + emissions[:, t], best)
        last = (best + end).argmax(1)  # (B,) the best final tag
        lengths = mask.sum(1).tolist()
        paths = []
        for b, n in enumerate(lengths):  # follow the back-pointers from each sentence's own last word
            tag, path = int(last[b]), [int(last[b])]
            for t in range(n - 1, 0, -1):
                tag = int(back[t - 1][b, tag])
                path.append(tag)
            paths.append(path[::-1])
        return paths


def invalid_transitions(tag_sequences: Sequence[Sequence[str]]) -> int:
    """How many moves in BIO tag sequences are invalid: an I-X that does not follow B-X or I-X."""
    if isinstance(tag_sequences, str) or any(isinstance(t, str) for t in tag_sequences):
        raise validate.ArgumentTypeError("tag_sequences must be a list of tag lists, one list of tags per sentence.")
    count = 0
    for tags in tag_sequences:
        previous = "O"
        for tag in tags:
            if tag.startswith("I-") and previous[2:] != tag[2:]:
                count += 1
            previous = tag
    return count
