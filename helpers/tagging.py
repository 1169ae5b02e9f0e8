"""Token classification (sequence labelling): sub-token alignment, a tagger, its training and predictions.

    align_labels          word labels -> one label per sub-token, through the tokenizer's word_ids
    encode_tagged         tokenise words (is_split_into_words) and align their labels: a TaggedBatch
    token_classifier      the MiniLM encoder with a fresh token-classification head (transformers)
    fine_tune_tagger      the course's training loop (helpers.pretraining.train) on random batches
    predict_tags          one tag per word back from the sub-token predictions
    CRFTagger             the same encoder and head, with a CRF (helpers.crf) on the words' scores:
                          trained on whole tag sequences, decoded with Viterbi, never an invalid BIO move

    labels = label_list(data.ENTITY_TYPES)                      # label_list, entity_scores: helpers.bio
    model = token_classifier(labels)                            # MiniLM + a linear layer per sub-token
    train = encode_tagged(tokenizer, split.words, split.tags, labels)
    fine_tune_tagger(model, train, validation, steps=300)
    entity_scores(test.tags, predict_tags(model, encode_tagged(tokenizer, test.words), labels))

The tags themselves (label sets, spans, entity-level scores, the most-frequent-tag baseline) are
``helpers.bio``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import validation as validate
from .bio import OUTSIDE, check_tagged
from .crf import CRF
from .device import autocast, get_device
from .pretraining import IGNORE_INDEX
from .text_batches import trim_batch


# --------------------------------------------------------------------------------------------
# Sub-tokens: aligning word labels, encoding, predicting
# --------------------------------------------------------------------------------------------


def align_labels(word_labels: Sequence[int], word_ids: Sequence[int | None]) -> list[int]:
    """One label per sub-token from one label per word.

    ``word_ids[j]`` is the word that sub-token j belongs to (None for [CLS], [SEP], padding), as a
    fast tokenizer's ``word_ids()`` gives it. The first sub-token of each word gets the word's label;
    the other sub-tokens of the word and the special tokens get -100, which the loss ignores, so each
    word is counted once.
    """
    if isinstance(word_ids, (str, torch.Tensor)) or isinstance(word_labels, str):
        raise validate.ArgumentTypeError("word_labels and word_ids must be lists (a fast tokenizer's word_ids()).")
    bad = [w for w in word_ids if w is not None and not (0 <= w < len(word_labels))]
    if bad:
        raise validate.ArgumentValueError(f"word_ids holds word {bad[0]}, but word_labels has {len(word_labels)} words.")
    out, previous = [], None
    for w in word_ids:
        out.append(IGNORE_INDEX if w is None or w == previous else int(word_labels[w]))
        previous = w
    return out


@dataclass
class TaggedBatch:
    input_ids: torch.Tensor  # (n, tokens)
    attention_mask: torch.Tensor  # (n, tokens)
    word_ids: torch.Tensor  # (n, tokens) the word of each sub-token, -1 for special tokens and padding
    labels: torch.Tensor | None  # (n, tokens) label ids on first sub-tokens, -100 elsewhere; None: no tags
    n_words: list[int]  # words per sentence
    truncated: int  # sentences cut at max_length (their last words get no prediction)

    def __len__(self) -> int:
        return len(self.n_words)


def encode_tagged(tokenizer, words: Sequence[Sequence[str]], tags: Sequence[Sequence[str]] | None = None,
                  labels: Sequence[str] | None = None, max_length: int = 128) -> TaggedBatch:
    """Tokenise sentences given as words into sub-tokens (padding to the longest) and, given ``tags``
    and the label set ``labels``, align the tags to the sub-tokens (``align_labels``)."""
    max_length = validate.positive_int("max_length", max_length)
    if isinstance(words, str):
        raise validate.ArgumentTypeError("words must be sentences as lists of words, e.g. [['Tom', 'Hanks', 'smiled']].")
    if not getattr(tokenizer, "is_fast", False):
        raise validate.ArgumentTypeError("encode_tagged needs a fast tokenizer (AutoTokenizer.from_pretrained(..., "
                        "use_fast=True)): only fast tokenizers say which word each sub-token came from.")
    if tags is not None:
        if labels is None:
            raise validate.ArgumentValueError("Give the label set (labels=label_list(types)) to turn tags into label ids.")
        check_tagged(words, tags, labels)
    elif any(isinstance(w, str) for w in words):
        raise validate.ArgumentTypeError("Give sentences as lists of words, e.g. [['Tom', 'Hanks', 'smiled']].")
    if len(words) == 0:
        raise validate.ArgumentValueError("No sentences to encode.")
    enc = tokenizer([list(w) for w in words], is_split_into_words=True, truncation=True,
                    max_length=max_length, padding=True, return_tensors="pt")
    label2id = {label: i for i, label in enumerate(labels)} if labels is not None else {}
    word_ids, aligned, truncated = [], [], 0
    for i, sentence in enumerate(words):
        ids = enc.word_ids(i)
        seen = [w for w in ids if w is not None]
        truncated += bool(sentence) and (not seen or max(seen) < len(sentence) - 1)
        word_ids.append([-1 if w is None else w for w in ids])
        if tags is not None:
            aligned.append(align_labels([label2id[t] for t in tags[i]], ids))
    if truncated:
        print(f"Note: {truncated} of {len(words)} sentences are longer than {max_length} sub-tokens and "
              f"were truncated; their last words are predicted O.")
    return TaggedBatch(enc["input_ids"], enc["attention_mask"], torch.tensor(word_ids),
                       torch.tensor(aligned) if tags is not None else None,
                       [len(w) for w in words], truncated)


def _logits(model, input_ids, attention_mask) -> torch.Tensor:
    out = model(input_ids=input_ids, attention_mask=attention_mask)
    return getattr(out, "logits", out)  # (batch, tokens, num_labels)


def first_subtokens(word_ids: torch.Tensor) -> torch.Tensor:
    """(n, tokens) True at the first sub-token of every word (``word_ids`` as in a TaggedBatch)."""
    validate.tensor("word_ids", word_ids, dtype="integer", ndim=2)  # (n, tokens), -1 where no word
    first = word_ids >= 0
    first[:, 1:] &= word_ids[:, 1:] != word_ids[:, :-1]
    return first


def pack_words(scores: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows' kept positions moved to the front, in order: sub-token scores (B, T, L) at each word's
    first sub-token -> word scores (B, W, L) and a prefix mask (B, W), W the most words in a row."""
    validate.tensor("scores", scores, ndim=3)
    if tuple(validate.tensor("keep", keep, dtype="bool", ndim=2).shape) != tuple(scores.shape[:2]):
        raise validate.ShapeError(f"keep {tuple(keep.shape)} must be (batch, tokens) of scores {tuple(scores.shape)}.")
    T = keep.size(1)
    order = (~keep * T + torch.arange(T, device=keep.device)).argsort(1)  # kept positions first, in order
    n = keep.sum(1)  # (B,) words per row
    width = max(int(n.max()), 1)
    index = order[:, :width]  # (B, W)
    mask = torch.arange(width, device=keep.device) < n[:, None]  # (B, W)
    return scores.gather(1, index[..., None].expand(-1, -1, scores.size(-1))), mask


@torch.no_grad()
def predict_tags(model, batch: TaggedBatch, labels: Sequence[str], batch_size: int = 64,
                 device=None) -> list[list[str]]:
    """One tag per word: the model's most likely label at the word's first sub-token; for a
    ``CRFTagger``, the words' most likely tag sequence (Viterbi)."""
    if not isinstance(batch, TaggedBatch):
        raise validate.ArgumentTypeError(f"batch must be a TaggedBatch (from encode_tagged); got {type(batch).__name__}.")
    labels, batch_size = validate.list_of_str("labels", labels), validate.positive_int("batch_size", batch_size)
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    first = first_subtokens(batch.word_ids)  # (n, tokens)
    out = []
    for i in range(0, len(batch), batch_size):
        ids, mask = trim_batch(batch.input_ids[i:i + batch_size], batch.attention_mask[i:i + batch_size])
        width = ids.size(1)  # the batch's longest sentence, in sub-tokens
        with autocast(device):
            logits = _logits(model, ids.to(device), mask.to(device)).float().cpu()  # (b, width, L)
        keep = first[i:i + batch_size, :width]
        words, word_mask = pack_words(logits, keep)  # (b, W, L), (b, W)
        if isinstance(model, CRFTagger):
            word_mask[:, 0] = True  # a sentence with no word left is decoded on junk, then ignored
            paths = model.crf.decode(words, word_mask)
        else:
            paths = words.argmax(-1).tolist()
        for j, path in enumerate(paths):
            n = int(keep[j].sum())
            tags = [labels[p] for p in path[:n]]
            out.append(tags + [OUTSIDE] * (batch.n_words[i + j] - n))  # words lost to truncation stay O
    model.train(was_training)
    return out


# --------------------------------------------------------------------------------------------
# The model and its training
# --------------------------------------------------------------------------------------------


def token_classifier(labels: Sequence[str], model_dir=None, seed: int = 0):
    """A pretrained encoder (MiniLM by default) with a fresh linear layer that scores every label at
    every sub-token: ``transformers.AutoModelForTokenClassification``. ``seed`` fixes the new layer."""
    labels, seed = validate.list_of_str("labels", labels), validate.non_negative_int("seed", seed)
    from transformers import AutoModelForTokenClassification

    from . import data

    torch.manual_seed(seed)
    return AutoModelForTokenClassification.from_pretrained(
        model_dir or data.minilm_dir(), num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})


class CRFTagger(nn.Module):
    """A token classifier (its linear head scores every label at every sub-token) with a CRF on top:
    the scores at each word's first sub-token are the CRF's emissions, and the CRF adds the scores of
    moving from one tag to the next. With ``constrain=True`` the moves BIO forbids (O -> I-X, B-X ->
    I-Y, I-X at the start) are forbidden, so Viterbi never produces them."""

    def __init__(self, emitter: nn.Module, labels: Sequence[str], constrain: bool = True):
        super().__init__()
        labels, constrain = validate.list_of_str("labels", labels), validate.boolean("constrain", constrain)
        if not isinstance(emitter, nn.Module):
            raise validate.ArgumentTypeError(f"emitter must be a torch.nn.Module; got {type(emitter).__name__}.")
        self.emitter, self.labels = emitter, list(labels)
        self.crf = CRF.for_bio(labels) if constrain else CRF(len(labels))

    def forward(self, input_ids, attention_mask):
        return _logits(self.emitter, input_ids, attention_mask)  # (batch, tokens, num_labels)


def crf_tagger(labels: Sequence[str], model_dir=None, seed: int = 0, constrain: bool = True) -> CRFTagger:
    """``token_classifier`` (the same encoder and head, from the same seed) with a CRF on top."""
    labels, constrain = validate.list_of_str("labels", labels), validate.boolean("constrain", constrain)
    return CRFTagger(token_classifier(labels, model_dir, seed), labels, constrain)


def tagging_loss(model, batch) -> tuple[torch.Tensor, dict]:
    """The loss of a batch (input_ids, attention_mask, labels): the mean cross-entropy over the labelled
    sub-tokens, or for a ``CRFTagger`` the CRF's mean negative log-likelihood of each sentence's tags."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 3:
        raise validate.ArgumentTypeError("batch must be (input_ids, attention_mask, labels), three tensors.")
    input_ids, attention_mask, labels = batch
    logits = _logits(model, input_ids, attention_mask).float()  # (B, T, num_labels)
    if isinstance(model, CRFTagger):
        keep = labels != IGNORE_INDEX  # (B, T) the first sub-token of every word
        emissions, mask = pack_words(logits, keep)  # (B, W, L)
        tags, _ = pack_words(labels[..., None], keep)  # (B, W, 1)
        return model.crf.loss(emissions, tags[..., 0], mask), {}
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX), {}


class _ScaledAdamW(torch.optim.AdamW):
    """AdamW whose parameter groups may carry an ``lr_scale``: the course's loop sets one learning rate
    for every group at every step, and the CRF's few scores start at zero and need larger steps."""

    def step(self, closure=None):
        base = [g["lr"] for g in self.param_groups]
        for g in self.param_groups:
            g["lr"] *= g.get("lr_scale", 1.0)
        try:
            return super().step(closure)
        finally:
            for g, lr in zip(self.param_groups, base):
                g["lr"] = lr


def fine_tune_tagger(model, train: TaggedBatch, validation: TaggedBatch, *, steps: int = 300,
                     batch_size: int = 16, lr: float = 5e-5, weight_decay: float = 0.01,
                     eval_interval: int | None = None, eval_iters: int = 5, seed: int = 0,
                     max_seconds: float | None = None, crf_lr_scale: float = 100.0, device=None,
                     progress: bool = True) -> dict:
    """Train a token classifier with the course's loop (``helpers.pretraining.train``): random
    batches, AdamW, warm-up then cosine decay, gradient clipping, train and validation loss every
    ``eval_interval`` steps. Returns its history (``step``, ``loss``, ``eval_step``, ``train``, ``val``).
    A ``CRFTagger`` trains on its sequence loss, its CRF scores with ``crf_lr_scale`` times the learning rate."""
    for name, split in (("train", train), ("validation", validation)):
        if not isinstance(split, TaggedBatch):
            raise validate.ArgumentTypeError(f"{name} must be a TaggedBatch (from encode_tagged); got {type(split).__name__}.")
    steps, batch_size = validate.positive_int("steps", steps), validate.positive_int("batch_size", batch_size)
    lr, weight_decay = validate.positive("lr", lr), validate.non_negative("weight_decay", weight_decay)
    eval_interval = validate.positive_int("eval_interval", eval_interval, optional=True)
    eval_iters, seed = validate.positive_int("eval_iters", eval_iters), validate.non_negative_int("seed", seed)
    max_seconds = validate.positive("max_seconds", max_seconds, optional=True)
    crf_lr_scale, progress = validate.positive("crf_lr_scale", crf_lr_scale), validate.boolean("progress", progress)
    from .batches import random_batches
    from .training import TrainConfig
    from .training import train as train_loop

    if train.labels is None or validation.labels is None:
        raise validate.ArgumentValueError("Both splits need tags: encode them with encode_tagged(tokenizer, words, tags, labels).")
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    get_batch = random_batches({split: (part.input_ids, part.attention_mask, part.labels)
                                for split, part in (("train", train), ("val", validation))}, batch_size, device)

    cfg = TrainConfig(max_iters=steps, batch_size=batch_size, learning_rate=lr, min_lr=lr / 10,
                      warmup_iters=max(1, steps // 10), weight_decay=weight_decay, beta2=0.999,
                      eval_interval=eval_interval or max(1, steps // 5), eval_iters=eval_iters, seed=seed,
                      max_seconds=max_seconds)
    crf = list(model.crf.parameters()) if isinstance(model, CRFTagger) else []
    rest = [p for p in model.parameters() if p.requires_grad and all(p is not q for q in crf)]
    groups = [{"params": [p for p in rest if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in rest if p.dim() < 2], "weight_decay": 0.0},
              {"params": crf, "weight_decay": 0.0, "lr_scale": crf_lr_scale}]
    optimizer = _ScaledAdamW([g for g in groups if g["params"]], lr=lr, betas=(0.9, 0.999))
    return train_loop(model, get_batch, cfg, step_fn=tagging_loss, device=device, progress=progress,
                      optimizer=optimizer)

