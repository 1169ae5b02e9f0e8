"""Greedy decoding and beam search for any decoder that works one token at a time.

A decoder is given by two things:

    step(tokens, state) -> (logits, state)   tokens (rows,) the last token of each row; logits
                                             (rows, vocab) for the next one; the state carries what
                                             the decoder keeps between steps (a KV cache, the encoder's
                                             output) and comes back updated
    state                                    tensors whose first dimension is the row

Beam search keeps ``beam_width`` rows per sentence and reorders them after every step, so the state's
tensors are gathered along dimension 0 by ``reorder(state, index)`` (default: every tensor in the
state, however nested in dicts, lists and tuples). Both functions are batched over sentences: one
``step`` call serves every live hypothesis of every sentence.

Scores: a hypothesis' score is the sum of its tokens' log-probabilities; finished hypotheses are
ranked by ``score / length ** length_penalty`` (length counts the generated tokens, EOS included), so
0 ranks by raw probability (which favours short outputs) and 1 by the mean log-probability per token.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from . import validation as validate
from .generation import sample_next

StepFn = Callable[[torch.Tensor, object], tuple[torch.Tensor, object]]


def map_tensors(state, fn):
    """Apply ``fn`` to every tensor in a nested structure of dicts, lists and tuples."""
    validate.callable_("fn", fn)
    if isinstance(state, torch.Tensor):
        return fn(state)
    if isinstance(state, dict):
        return {k: map_tensors(v, fn) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(map_tensors(v, fn) for v in state)
    return state


def reorder_rows(state, index: torch.Tensor):
    """Every tensor of the state, its rows gathered by ``index`` (rows,)."""
    validate.tensor("index", index, dtype="integer", ndim=1)  # (rows,)
    return map_tensors(state, lambda t: t.index_select(0, index.to(t.device)))


def _check(bos_id: int, eos_id: int, max_new_tokens: int) -> None:
    validate.positive_int("max_new_tokens", max_new_tokens)  # NumPy integers are fine
    validate.non_negative_int("bos_id", bos_id), validate.non_negative_int("eos_id", eos_id)  # token ids


def _strip(seq: list[int], eos_id: int) -> list[int]:
    return seq[:seq.index(eos_id)] if eos_id in seq else seq


@torch.no_grad()
def greedy_decode(step: StepFn, state, n_rows: int, bos_id: int, eos_id: int, max_new_tokens: int,
                  device=None) -> list[list[int]]:
    """The most likely next token, every step, for ``n_rows`` rows at once; stops when all rows said EOS.

    Returns one list of token ids per row, without BOS and EOS.
    """
    validate.callable_("step", step), validate.positive_int("n_rows", n_rows)
    _check(bos_id, eos_id, max_new_tokens)
    tokens = torch.full((n_rows,), bos_id, dtype=torch.long, device=device)
    out = torch.empty(n_rows, 0, dtype=torch.long, device=device)
    done = torch.zeros(n_rows, dtype=torch.bool, device=device)
    for _ in range(max_new_tokens):
        logits, state = step(tokens, state)  # (rows, vocab)
        tokens = sample_next(logits, greedy=True).squeeze(1)  # (rows,)
        tokens = tokens.masked_fill(done, eos_id)  # a finished row only pads with EOS
        out = torch.cat([out, tokens[:, None]], dim=1)
        done |= tokens == eos_id
        if done.all():
            break
    return [_strip(row, eos_id) for row in out.tolist()]


def check_beam(beam_width: int, length_penalty: float) -> None:
    validate.positive_int("beam_width", beam_width)  # 1 is greedy decoding
    validate.non_negative("length_penalty", length_penalty)  # 0: raw log-probability, 1: per token


@torch.no_grad()
def beam_search(step: StepFn, state, n_sentences: int, bos_id: int, eos_id: int, max_new_tokens: int,
                beam_width: int = 4, length_penalty: float = 1.0, reorder: Callable = reorder_rows,
                device=None, return_scores: bool = False):
    """The ``beam_width`` best partial outputs of each sentence kept at every step; the best finished one wins.

    ``state`` holds ``n_sentences * beam_width`` rows, sentence by sentence (each sentence's rows
    repeated ``beam_width`` times, e.g. ``repeat_interleave``). Returns one list of token ids per
    sentence (no BOS, no EOS); with ``return_scores`` also their length-normalised log-probabilities.
    """
    validate.callable_("step", step), validate.positive_int("n_sentences", n_sentences)
    check_beam(beam_width, length_penalty)
    _check(bos_id, eos_id, max_new_tokens)
    B, k = n_sentences, beam_width
    tokens = torch.full((B * k,), bos_id, dtype=torch.long, device=device)
    seqs = torch.empty(B * k, 0, dtype=torch.long, device=device)  # (B*k, generated so far)
    scores = torch.zeros(B, k, device=device)
    scores[:, 1:] = float("-inf")  # all beams start equal: let only the first one expand at step 1
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(B)]  # (normalised score, tokens)
    done = [False] * B
    offsets = (torch.arange(B, device=device) * k)[:, None]  # (B, 1) first row of each sentence
    for t in range(1, max_new_tokens + 1):
        logits, state = step(tokens, state)  # (B*k, vocab)
        V = logits.shape[-1]
        logp = F.log_softmax(logits.float(), dim=-1).view(B, k, V)
        cand = (scores[:, :, None] + logp).view(B, k * V)  # every beam times every next token
        top_scores, top_ids = cand.topk(2 * k, dim=1)  # (B, 2k): enough that k of them are not EOS
        beam, tok = top_ids // V, top_ids % V
        is_eos = tok == eos_id
        # hypotheses that end here (only those ranked within the first k, as the usual implementations)
        for b, j in (is_eos[:, :k] & torch.isfinite(top_scores[:, :k])).nonzero().tolist():
            if done[b]:
                continue
            seq = seqs[b * k + beam[b, j]].tolist()
            finished[b].append((top_scores[b, j].item() / t ** length_penalty, seq))
            finished[b] = sorted(finished[b], key=lambda x: -x[0])[:k]
        # the k best that continue: non-EOS candidates, in score order
        rank = torch.cumsum((~is_eos).long(), dim=1) - 1  # rank among non-EOS candidates
        keep = (~is_eos) & (rank < k)  # exactly k per sentence
        sel = keep.nonzero()[:, 1].view(B, k)  # (B, k) positions in the 2k list
        scores = top_scores.gather(1, sel)
        rows = (offsets + beam.gather(1, sel)).view(-1)  # (B*k,) which old row each new beam extends
        tokens = tok.gather(1, sel).view(-1)
        seqs = torch.cat([seqs.index_select(0, rows), tokens[:, None]], dim=1)
        state = reorder(state, rows)
        for b in range(B):  # a sentence is done when no live beam can beat its k-th finished one
            if not done[b] and len(finished[b]) >= k:
                best_live = scores[b].max().item() / t ** length_penalty
                done[b] = finished[b][-1][0] >= best_live
        for b in (b for b in range(B) if done[b]):
            scores[b] = float("-inf")  # stop growing finished sentences (their rows still run)
        if all(done):
            break
    for b in range(B):  # out of steps: the live beams compete with the finished ones
        if not done[b]:
            for j in range(k):
                if math.isfinite(scores[b, j].item()):
                    finished[b].append((scores[b, j].item() / max_new_tokens ** length_penalty,
                                        seqs[b * k + j].tolist()))
    best = [max(f, key=lambda x: x[0]) if f else (float("-inf"), []) for f in finished]
    outs = [_strip(seq, eos_id) for _, seq in best]
    return (outs, [s for s, _ in best]) if return_scores else outs
