"""Preference tuning with DPO (Rafailov et al. 2023), written from its loss.

Given a prompt x, a preferred response y_w and a dispreferred one y_l, DPO raises the policy's
log-probability of y_w relative to a frozen reference model, and lowers that of y_l:

    loss = -log sigmoid( beta * [ (log pi(y_w|x) - log ref(y_w|x)) - (log pi(y_l|x) - log ref(y_l|x)) ] )

``beta * (log pi - log ref)`` is the response's implicit reward; beta sets how far from the reference
the policy may move (small beta: far). With LoRA, the reference is the same network with the adapters
switched off (peft's ``disable_adapter()``), so no second copy of the model is needed, and its
log-probabilities can be computed once before training (``add_reference_logps``).

    pairs, dropped = preference_pairs(prompts, responses_a, responses_b, scores_a, scores_b)
    pairs, dropped = best_and_worst_pairs(prompts, replies_per_prompt, scores_per_prompt)  # from n samples each
    batch = add_reference_logps(model, encode_pairs(tok, pairs))   # (ids, mask, labels, ref_logps)
    history = train(model, random_batches({"train": batch, "val": batch}, 8, device), cfg,
                    step_fn=dpo_step(beta=0.1))
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from . import validation as validate
from .instruct import check_conversation, encode_chats, labelled_logits, trim_padding


@dataclass
class Pair:
    prompt: list[dict]  # the conversation up to the reply: ends with a user turn
    chosen: str  # the preferred reply
    rejected: str
    margin: float = 0.0  # the judge's score of chosen minus that of rejected


def preference_pairs(prompts: Sequence, responses_a: Sequence[str], responses_b: Sequence[str],
                     scores_a: Sequence[float], scores_b: Sequence[float]) -> tuple[list[Pair], dict]:
    """Pairs with the higher-scored response as ``chosen``. A pair whose two responses are identical
    (after stripping spaces) teaches nothing and is dropped, as is one the judge scores equally;
    -> (pairs, {"identical": n, "tied": n}). ``prompts``: strings (one user turn) or conversations."""
    n = len(prompts)
    for name, seq in (("responses_a", responses_a), ("responses_b", responses_b), ("scores_a", scores_a),
                      ("scores_b", scores_b)):
        if len(seq) != n:
            raise validate.ShapeError(f"{name} has {len(seq)} items, prompts has {n}: one each per prompt.")
    pairs, dropped = [], {"identical": 0, "tied": 0}
    for p, a, b, sa, sb in zip(prompts, responses_a, responses_b, scores_a, scores_b):
        prompt = [{"role": "user", "content": p}] if isinstance(p, str) else list(p)
        check_conversation(prompt + [{"role": "assistant", "content": ""}], "prompts")
        if a.strip() == b.strip():
            dropped["identical"] += 1
        elif float(sa) == float(sb):
            dropped["tied"] += 1
        else:
            (w, sw), (lo, sl) = sorted([(a, float(sa)), (b, float(sb))], key=lambda t: -t[1])
            pairs.append(Pair(prompt, w, lo, sw - sl))
    return pairs, dropped


def best_and_worst_pairs(prompts: Sequence, replies: Sequence[Sequence[str]],
                         scores: Sequence[Sequence[float]]) -> tuple[list[Pair], dict]:
    """From several sampled replies per prompt and the judge's score of each, one pair per prompt:
    the best-scored reply chosen, the worst rejected (the widest margin the samples offer: a clearer
    signal than two replies drawn at random). Pairs are then kept or dropped as ``preference_pairs``
    does. ``replies`` and ``scores``: one list per prompt, each of the same length, at least 2."""
    n = len(prompts)
    for name, seq in (("replies", replies), ("scores", scores)):
        if len(seq) != n:
            raise validate.ShapeError(f"{name} has {len(seq)} lists, prompts has {n}: one list per prompt.")
    ends = []  # (best reply, worst reply, best score, worst score) per prompt
    for i, (reps, sc) in enumerate(zip(replies, scores)):
        if len(reps) < 2 or len(sc) != len(reps):
            raise validate.ShapeError(f"prompt {i} has {len(reps)} replies and {len(sc)} scores: give at least 2 "
                                      f"replies per prompt and one score for each.")
        ranked = sorted(zip(map(float, sc), reps), key=lambda t: -t[0])
        ends.append((ranked[0][1], ranked[-1][1], ranked[0][0], ranked[-1][0]))
    best, worst, s_best, s_worst = zip(*ends) if ends else ((), (), (), ())
    return preference_pairs(prompts, best, worst, s_best, s_worst)


def encode_pairs(tokenizer, pairs: Sequence[Pair], max_length: int = 512):
    """-> (input_ids, attention_mask, labels), each (N, 2, T): [:, 0] the prompt with the chosen reply,
    [:, 1] with the rejected one; labels only on the reply's tokens (``instruct.assistant_only_labels``)."""
    if not pairs:
        raise validate.ArgumentValueError("pairs is empty: no preference pair to encode (were they all dropped?).")
    convs = [p.prompt + [{"role": "assistant", "content": r}] for p in pairs for r in (p.chosen, p.rejected)]
    ids, mask, labels = encode_chats(tokenizer, convs, max_length)  # (2N, T), chosen and rejected interleaved
    return tuple(t.view(len(pairs), 2, -1) for t in (ids, mask, labels))


def sequence_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed log-probability of each sequence's labelled tokens: (B, T) each -> (B,)."""
    input_ids, attention_mask, labels = trim_padding(input_ids, attention_mask, labels)
    logits, targets, rows = labelled_logits(model, input_ids, attention_mask, labels)  # (N, vocab), (N,), (N,)
    logp = torch.gather(F.log_softmax(logits.float(), -1), 1, targets[:, None])[:, 0]  # (N,)
    return torch.zeros(len(input_ids), dtype=logp.dtype, device=logp.device).index_add(0, rows, logp)  # (B,)


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(0, 1)  # (B, 2, T) -> (2B, T): chosen and rejected of a pair next to each other


def pair_logps(model, batch) -> torch.Tensor:
    """(B, 2) log-probabilities of the chosen [:, 0] and rejected [:, 1] replies of a pair batch."""
    ids, mask, labels = batch[:3]
    return sequence_logps(model, _flat(ids), _flat(mask), _flat(labels)).view(-1, 2)


def reference(model):
    """A context in which ``model`` is its reference: peft adapters switched off (a no-op for a model
    without adapters; then pass a separate frozen reference model instead)."""
    return model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()


@torch.no_grad()
def add_reference_logps(model, batch, batch_size: int = 8, ref_model=None):
    """The batch with a fourth tensor, the reference's (B, 2) log-probabilities, computed once: the
    reference never changes, so the training steps need not run it again."""
    ref = ref_model if ref_model is not None else model
    was = ref.training
    ref.eval()
    with (reference(model) if ref_model is None else contextlib.nullcontext()):
        out = torch.cat([pair_logps(ref, tuple(t[i:i + batch_size] for t in batch[:3]))
                         for i in range(0, len(batch[0]), batch_size)])
    ref.train(was)
    return (*batch[:3], out)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float = 0.1):
    """DPO's loss from the four (B,) log-probabilities -> (mean loss, chosen rewards, rejected rewards),
    the rewards being beta * (log pi - log ref) of each response."""
    beta = validate.positive("beta", beta)
    for name, t in (("policy_chosen", policy_chosen), ("policy_rejected", policy_rejected),
                    ("ref_chosen", ref_chosen), ("ref_rejected", ref_rejected)):
        validate.tensor(name, t, dtype="float", ndim=1)
        if t.shape != policy_chosen.shape:
            raise validate.ShapeError(f"{name} has shape {tuple(t.shape)}, policy_chosen {tuple(policy_chosen.shape)}.")
    chosen = beta * (policy_chosen - ref_chosen)  # (B,) implicit rewards
    rejected = beta * (policy_rejected - ref_rejected)
    return -F.logsigmoid(chosen - rejected).mean(), chosen.detach(), rejected.detach()


def dpo_step(beta: float = 0.1, ref_model=None):
    """A ``step_fn`` for ``helpers.training.train``: batch = (ids, mask, labels[, ref_logps]) of pairs
    (B, 2, T) -> (DPO loss, {"reward_margin", "reward_accuracy"}). Without ref_logps in the batch the
    reference runs each step (``ref_model``, or the model with its adapters off)."""
    beta = validate.positive("beta", beta)

    def step(model, batch):
        policy = pair_logps(model, batch)  # (B, 2)
        if len(batch) > 3:
            ref = batch[3]
        else:
            with torch.no_grad(), (reference(model) if ref_model is None else contextlib.nullcontext()):
                ref = pair_logps(ref_model if ref_model is not None else model, batch)
        loss, chosen, rejected = dpo_loss(policy[:, 0], policy[:, 1], ref[:, 0], ref[:, 1], beta)
        return loss, {"reward_margin": (chosen - rejected).mean(),
                      "reward_accuracy": (chosen > rejected).float().mean()}

    return step


def chosen_only_batch(batch):
    """The chosen half of a pair batch as an SFT batch (ids, mask, labels) (B, T): the baseline
    "fine-tune on the preferred responses only", for ``instruct.sft_step``."""
    return tuple(t[:, 0] for t in batch[:3])


@torch.no_grad()
def kl_from_reference(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                      ref_model=None, batch_size: int = 8) -> float:
    """KL(policy || reference) in nats per response, estimated on responses sampled from the policy:
    the mean of log pi(y|x) - log ref(y|x) over them (each (B, T), labels on the responses)."""
    diffs = []
    for i in range(0, len(input_ids), batch_size):
        part = [t[i:i + batch_size] for t in (input_ids, attention_mask, labels)]
        pol = sequence_logps(model, *part)
        with (reference(model) if ref_model is None else contextlib.nullcontext()):
            ref = sequence_logps(ref_model if ref_model is not None else model, *part)
        diffs.append(pol - ref)
    return float(torch.cat(diffs).mean())
