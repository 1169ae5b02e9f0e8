"""Extractive question answering on cloze questions: windows, a span head, choosing a span, SQuAD's scores.

    encode_questions       (question, context) pairs -> overlapping windows of tokens with offset maps and
                           the answer's start and end token in each window (its first mention there, as
                           answer_mentions finds them; [CLS] where none is)
    span_model             MiniLM with a span head: a start and an end score per token (transformers)
    fine_tune_qa           the course's loop (helpers.pretraining.train), cross-entropy on start and end
    best_span              the best (start, end) of one window: end >= start, at most max_tokens long
    predict_answers        the best span over all the windows of each question, as text of the context
    exact_match, token_f1  SQuAD's scores, on normalised text (lower case, no punctuation or articles)
    most_frequent_entity   the baseline: the passage's most frequent entity of the answer's type

    questions = cloze_questions(n_articles=106)          # {"train": [...], "validation": [...], "test": [...]}
    features = encode_questions(tokenizer, questions["train"])
    model = span_model(); fine_tune_qa(model, features, encode_questions(tokenizer, questions["validation"]))
    answers = predict_answers(model, encode_questions(tokenizer, questions["test"]), questions["test"])

The questions (``Question``, ``cloze_questions``) are ``helpers.cloze``.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import validation as validate
from .cloze import Question
from .device import autocast, get_device


# --------------------------------------------------------------------------------------------
# Windows of tokens, with the answer's position in each
# --------------------------------------------------------------------------------------------


@dataclass
class QAFeatures:
    input_ids: torch.Tensor  # (windows, tokens) [CLS] question [SEP] part of the context [SEP] [PAD]...
    attention_mask: torch.Tensor  # (windows, tokens)
    token_type_ids: torch.Tensor  # (windows, tokens) 0 for the question, 1 for the context
    offsets: torch.Tensor  # (windows, tokens, 2) character span of each context token; (-1, -1) elsewhere
    question_index: torch.Tensor  # (windows,) the question each window belongs to
    start_positions: torch.Tensor  # (windows,) the answer's first token, 0 ([CLS]) when not in the window
    end_positions: torch.Tensor  # (windows,) its last token (inclusive)

    def __len__(self) -> int:
        return len(self.input_ids)


def encode_questions(tokenizer, questions: Sequence[Question], max_length: int = 192,
                     stride: int = 64) -> QAFeatures:
    """Tokenise (question, context) pairs. A context too long for ``max_length`` tokens is cut into
    overlapping windows (``stride`` tokens shared by neighbours), never truncated: every character of
    it is in some window. The answer's characters are mapped to token positions with the offset map."""
    max_length, stride = validate.positive_int("max_length", max_length), validate.non_negative_int("stride", stride)
    if isinstance(questions, (str, Question)) or any(not isinstance(q, Question) for q in questions):
        raise validate.ArgumentTypeError("questions must be a list of cloze.Question (from cloze_questions).")
    if not getattr(tokenizer, "is_fast", False):
        raise validate.ArgumentTypeError("encode_questions needs a fast tokenizer: only fast tokenizers give offset maps.")
    if len(questions) == 0:
        raise validate.ArgumentValueError("No questions to encode.")
    if not 0 <= stride < max_length // 2 - 3:  # a question may fill half a window; the rest must exceed stride
        raise validate.ArgumentValueError(f"stride must lie in [0, max_length / 2 - 3), got {stride} for max_length {max_length}.")
    lengths = [len(ids) for ids in tokenizer([q.question for q in questions])["input_ids"]]
    for i, q in enumerate(questions):
        if lengths[i] > max_length // 2:
            raise validate.ArgumentValueError(f"question {i} has {lengths[i]} tokens: too long to leave room for its context in "
                             f"windows of {max_length} tokens. Use shorter questions or a larger max_length.")
        if q.context[q.answer_start:q.answer_start + len(q.answer)] != q.answer:
            raise validate.ArgumentValueError(f"question {i}: the answer {q.answer!r} is not at character {q.answer_start} of "
                             f"its context; drop the question or fix answer_start.")
    enc = tokenizer([q.question for q in questions], [q.context for q in questions], truncation="only_second",
                    max_length=max_length, stride=stride, return_overflowing_tokens=True,
                    return_offsets_mapping=True, padding="max_length", return_tensors="pt")
    which = enc["overflow_to_sample_mapping"]  # (windows,)
    offsets = enc["offset_mapping"].clone()
    starts, ends = torch.zeros(len(which), dtype=torch.long), torch.zeros(len(which), dtype=torch.long)
    for w in range(len(which)):
        in_context = torch.tensor([s == 1 for s in enc.sequence_ids(w)])
        offsets[w][~in_context] = -1
        q = questions[int(which[w])]
        tokens = in_context.nonzero().flatten()
        first, last = offsets[w, tokens[0], 0], offsets[w, tokens[-1], 1]
        # the first mention of the answer inside this window: in a cloze passage the entity is named at
        # least twice, and a window holding only a later mention must not be taught "the answer is not here"
        inside = [(a, b) for a, b in answer_mentions(q) if first <= a and b <= last]
        if inside:
            a, b = inside[0]  # the answer's characters [a, b)
            starts[w] = tokens[(offsets[w, tokens, 0] <= a).nonzero().flatten()[-1]]
            ends[w] = tokens[(offsets[w, tokens, 1] >= b).nonzero().flatten()[0]]
    return QAFeatures(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], offsets, which,
                      starts, ends)


def answer_mentions(question: Question) -> list[tuple[int, int]]:
    """Character spans [a, b) of the answer in the context: ``answer_start`` and every other whole-word
    occurrence of the answer's text (each is a right answer; exact match and F1 compare text)."""
    if not isinstance(question, Question):
        raise validate.ArgumentTypeError(f"question must be a cloze.Question (from cloze_questions); got "
                                         f"{type(question).__name__}.")
    spans = {(m.start(), m.end()) for m in re.finditer(r"(?<!\w)" + re.escape(question.answer) + r"(?!\w)",
                                                        question.context)}
    return sorted(spans | {(question.answer_start, question.answer_start + len(question.answer))})


# --------------------------------------------------------------------------------------------
# The model, training, and choosing a span
# --------------------------------------------------------------------------------------------


def span_model(model_dir=None, seed: int = 0):
    """MiniLM (by default) with a fresh span head: ``AutoModelForQuestionAnswering``, a linear layer that
    gives every token a start score and an end score."""
    seed = validate.non_negative_int("seed", seed)
    from transformers import AutoModelForQuestionAnswering

    from . import data

    torch.manual_seed(seed)
    return AutoModelForQuestionAnswering.from_pretrained(model_dir or data.minilm_dir())


def span_loss(model, batch) -> tuple[torch.Tensor, dict]:
    """Mean of the cross-entropies of the start and of the end position over a window's tokens."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 5:
        raise validate.ArgumentTypeError("batch must be (input_ids, attention_mask, token_type_ids, starts, ends) tensors.")
    input_ids, attention_mask, token_type_ids, starts, ends = batch
    out = model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
    start = F.cross_entropy(out.start_logits.float(), starts)
    end = F.cross_entropy(out.end_logits.float(), ends)
    return (start + end) / 2, {"start": start.item(), "end": end.item()}


def fine_tune_qa(model, train: QAFeatures, validation: QAFeatures, *, steps: int = 300, batch_size: int = 16,
                 lr: float = 1e-4, eval_interval: int | None = None, eval_iters: int = 5, seed: int = 0,
                 device=None, progress: bool = True) -> dict:
    """The course's loop (``helpers.pretraining.train``) on random batches of windows: AdamW, warm-up,
    cosine decay, clipping. Windows without the answer learn to point at [CLS]."""
    for name, split in (("train", train), ("validation", validation)):
        if not isinstance(split, QAFeatures):
            raise validate.ArgumentTypeError(f"{name} must be QAFeatures (from encode_questions); got {type(split).__name__}.")
    steps, batch_size = validate.positive_int("steps", steps), validate.positive_int("batch_size", batch_size)
    lr, eval_iters = validate.positive("lr", lr), validate.positive_int("eval_iters", eval_iters)
    eval_interval, seed = validate.positive_int("eval_interval", eval_interval, optional=True), validate.non_negative_int("seed", seed)
    from .batches import random_batches
    from .training import TrainConfig
    from .training import train as train_loop

    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    get_batch = random_batches({split: (part.input_ids, part.attention_mask, part.token_type_ids,
                                        part.start_positions, part.end_positions)
                                for split, part in (("train", train), ("val", validation))}, batch_size, device)

    cfg = TrainConfig(max_iters=steps, batch_size=batch_size, learning_rate=lr, min_lr=lr / 10,
                      warmup_iters=max(1, steps // 10), weight_decay=0.01, beta2=0.999,
                      eval_interval=eval_interval or max(1, steps // 4), eval_iters=eval_iters, seed=seed)
    return train_loop(model, get_batch, cfg, step_fn=span_loss, device=device, progress=progress)


def best_span(start_logits: torch.Tensor, end_logits: torch.Tensor, max_tokens: int = 15,
              allowed: torch.Tensor | None = None) -> tuple[int, int, float]:
    """The (start, end, score) maximising start_logits[start] + end_logits[end] over valid spans:
    start <= end < start + max_tokens, both where ``allowed`` (by default everywhere)."""
    validate.tensor("start_logits", start_logits, dtype="float", ndim=1)  # (tokens,)
    if validate.tensor("end_logits", end_logits, dtype="float", ndim=1).shape != start_logits.shape:
        raise validate.ShapeError(f"end_logits {tuple(end_logits.shape)} must match start_logits {tuple(start_logits.shape)}.")
    max_tokens = validate.positive_int("max_tokens", max_tokens)
    if allowed is not None and validate.tensor("allowed", allowed, dtype="bool").shape != start_logits.shape:
        raise validate.ShapeError(f"allowed {tuple(allowed.shape)} must match start_logits {tuple(start_logits.shape)}.")
    T = len(start_logits)
    scores = start_logits[:, None] + end_logits[None, :]  # (T, T) [start, end]
    i = torch.arange(T)
    valid = (i[None, :] >= i[:, None]) & (i[None, :] < i[:, None] + max_tokens)  # end in [start, start+max)
    if allowed is not None:
        valid &= allowed[:, None] & allowed[None, :]
    if not valid.any():
        raise validate.ArgumentValueError("No valid span: no allowed token (is the context empty?).")
    flat = scores.masked_fill(~valid, float("-inf")).flatten().argmax()
    start, end = divmod(int(flat), T)
    return start, end, float(scores[start, end].detach())  # a score, not part of a graph


@torch.no_grad()
def entity_mentions(question: Question) -> list[tuple[int, int]]:
    """Character spans [a, b) of the whole-word mentions, in the context, of the entities spaCy found there."""
    if not isinstance(question, Question):
        raise validate.ArgumentTypeError(f"question must be a cloze.Question; got {type(question).__name__}.")
    spans = set()
    for text, _ in question.entities:
        for m in re.finditer(r"(?<!\w)" + re.escape(text) + r"(?!\w)", question.context):
            spans.add((m.start(), m.end()))
    return sorted(spans)


def predict_answers(model, features: QAFeatures, questions: Sequence[Question], max_tokens: int = 15,
                    batch_size: int = 64, device=None, entities_only: bool = False) -> list[str]:
    """For each question, the best span of its context over all its windows, as text of the context.
    With ``entities_only``, only the context's entity mentions compete (the way the CNN/Daily Mail readers
    choose among the entities); a question whose windows hold no whole mention falls back to any span."""
    if not isinstance(features, QAFeatures):
        raise validate.ArgumentTypeError(f"features must be QAFeatures (from encode_questions); got {type(features).__name__}.")
    max_tokens, batch_size = validate.positive_int("max_tokens", max_tokens), validate.positive_int("batch_size", batch_size)
    entities_only = validate.boolean("entities_only", entities_only)
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    best: dict[int, tuple[float, int, int]] = {}  # question -> (score, first char, end char)
    for i in range(0, len(features), batch_size):
        sl = slice(i, i + batch_size)
        with autocast(device):
            out = model(input_ids=features.input_ids[sl].to(device), attention_mask=features.attention_mask[sl].to(device),
                        token_type_ids=features.token_type_ids[sl].to(device))
        for j in range(len(out.start_logits)):
            w = i + j
            start_logits, end_logits = out.start_logits[j].float().cpu(), out.end_logits[j].float().cpu()
            q = int(features.question_index[w])
            found = []
            if entities_only:  # (score, a, b) of each mention whose first and last characters start/end a token
                first = {a: t for t, (a, _) in enumerate(features.offsets[w].tolist()) if a >= 0}
                last = {b: t for t, (a, b) in enumerate(features.offsets[w].tolist()) if a >= 0}
                found = [(float(start_logits[first[a]] + end_logits[last[b]]), a, b)
                         for a, b in entity_mentions(questions[q]) if a in first and b in last]
            if found:
                score, a, b = max(found)
                score += 1e6  # any mention beats the fallback of another window
            else:
                allowed = features.offsets[w, :, 0] >= 0  # context tokens only
                s, e, score = best_span(start_logits, end_logits, max_tokens, allowed)
                a, b = int(features.offsets[w, s, 0]), int(features.offsets[w, e, 1])
            if q not in best or score > best[q][0]:
                best[q] = (score, a, b)
    model.train(was_training)
    return [questions[q].context[best[q][1]:best[q][2]] for q in range(len(questions))]


# --------------------------------------------------------------------------------------------
# Scores (SQuAD's) and the baseline
# --------------------------------------------------------------------------------------------


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles (a, an, the), single spaces."""
    validate.string("text", text, non_empty=False)
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    validate.string("prediction", prediction, non_empty=False), validate.string("gold", gold, non_empty=False)
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """F1 of the overlap of normalised tokens (each counted as often as it occurs in both)."""
    validate.string("prediction", prediction, non_empty=False), validate.string("gold", gold, non_empty=False)
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def qa_scores(predictions: Sequence[str], questions: Sequence[Question]) -> dict:
    """Exact match and token F1, averaged over questions and given in percent, as SQuAD reports them."""
    predictions = validate.list_of_str("predictions", predictions, min_len=1)
    if len(predictions) != len(questions):
        raise validate.ArgumentValueError(f"{len(predictions)} predictions for {len(questions)} questions.")
    em = [exact_match(p, q.answer) for p, q in zip(predictions, questions)]
    f1 = [token_f1(p, q.answer) for p, q in zip(predictions, questions)]
    return {"exact_match": 100 * float(np.mean(em)), "f1": 100 * float(np.mean(f1)), "n": len(questions)}


def most_frequent_entity(question: Question) -> str:
    """The baseline: the entity of the answer's type mentioned most often in the context (the first
    mentioned on a tie); any entity if none has that type; '' if the context names none."""
    if not isinstance(question, Question):
        raise validate.ArgumentTypeError(f"question must be a cloze.Question; got {type(question).__name__}.")
    same = [text for text, kind in question.entities if kind == question.answer_type]
    pool = same or [text for text, _ in question.entities]
    return Counter(pool).most_common(1)[0][0] if pool else ""
