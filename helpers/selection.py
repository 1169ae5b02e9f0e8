"""Answer-sentence selection: rank a paper's sentences for a question, on ACLSum's human highlights.

ACLSum marks, for each of 250 ACL papers and each aspect (challenge, approach, outcome), the sentences of
its abstract, introduction and conclusion that a person highlighted. Asking the aspect as a question turns
it into answer-sentence selection: score every (question, sentence) pair, rank the sentences, and compare
the ranking with the highlights by mean average precision and precision at 3.

    aclsum_papers          one split of ACLSum (train 100 / validation 50 / test 100 papers), read from
                           the JSON-lines files the course asset ships
    selection_pairs        (question, sentence, highlighted?) for every paper, aspect and sentence
    encode_pairs           the pairs tokenised as [CLS] question [SEP] sentence [SEP] (text_batches.Encoded)
    cross_encoder          MiniLM with a two-way head that reads both texts at once (finetuning.SequenceClassifier)
    fine_tune_selection    the course's loop (helpers.training.train), cross-entropy on the pair's label
    pair_scores            the model's score of each pair: the logit of "highlighted" minus the other one
    average_precision, precision_at_k, ranking_scores   the measures, per (paper, aspect) and averaged
    lead_scores, tfidf_scores                           the baselines: document order, and TF-IDF cosine

    papers = {s: aclsum_papers(s) for s in ("train", "validation", "test")}
    pairs = {s: selection_pairs(p) for s, p in papers.items()}
    model = cross_encoder(); fine_tune_selection(model, encode_pairs(tok, pairs["train"]), ...)
    ranking_scores(pair_scores(model, encode_pairs(tok, pairs["test"])), pairs["test"])   # {"map", "p_at_3"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import validation as validate
from .device import get_device

ASPECTS = ("challenge", "approach", "outcome")
QUESTIONS = {  # each aspect asked as a question (the cross-encoder reads it; TF-IDF matches its words)
    "challenge": "What problem or challenge does the paper address?",
    "approach": "What approach or method does the paper propose?",
    "outcome": "What are the outcomes and results of the paper?",
}
SECTIONS = ("abstract", "introduction", "conclusion")
SPLITS = {"train": "train", "validation": "val", "test": "test"}  # the course's names -> ACLSum's files


@dataclass
class Paper:
    id: str
    title: str
    sentences: list[str]  # abstract, then introduction, then conclusion, in order
    sections: list[str]  # the section of each sentence
    highlights: dict[str, np.ndarray]  # aspect -> (sentences,) 0/1, 1 where a person highlighted it


@dataclass
class Pair:
    question: str
    sentence: str  # as the cross-encoder reads it: "section: sentence"
    text: str  # the sentence alone (what TF-IDF compares with the question)
    label: int  # 1 if highlighted for the question's aspect
    group: tuple[str, str]  # (paper id, aspect): the ranking it belongs to
    position: int  # the sentence's index in the paper (the lead baseline ranks by it)


def aclsum_papers(split: str) -> list[Paper]:
    """The papers of one ACLSum split ("train", "validation" or "test"), with human highlights per aspect."""
    from . import data

    split = validate.one_of("split", split, SPLITS)
    papers = []
    with open(data.asset_path("aclsum") / f"{SPLITS[split]}.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            sentences = [s for sec in SECTIONS for s in row["sentences"][sec]]
            sections = [sec for sec in SECTIONS for _ in row["sentences"][sec]]
            marks = {a: np.array([m for sec in SECTIONS for m in row["highlights"][a][sec]], dtype=np.int64)
                     for a in ASPECTS}
            if any(len(m) != len(sentences) for m in marks.values()):
                raise ValueError(f"ACLSum paper {row['id']}: highlights and sentences differ in length.")
            papers.append(Paper(row["id"], row["title"], sentences, sections, marks))
    return papers


def _pairs(name: str, pairs) -> list[Pair]:
    """A non-empty list of ``Pair``s (what ``selection_pairs`` makes)."""
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise validate.ArgumentTypeError(f"{name} must be a list of Pair (selection_pairs(papers)); got "
                                         f"{type(pairs).__name__}.")
    if len(pairs) == 0:
        raise validate.ArgumentValueError(f"{name} is empty: make the pairs with selection_pairs(papers).")
    bad = next((i for i, p in enumerate(pairs) if not isinstance(p, Pair)), None)
    if bad is not None:
        raise validate.ArgumentTypeError(f"{name} must hold Pair objects; item {bad} is {type(pairs[bad]).__name__}.")
    return list(pairs)


def _encoded(name: str, value):
    from .text_batches import Encoded

    if not isinstance(value, Encoded):
        raise validate.ArgumentTypeError(f"{name} must be the encoded pairs (encode_pairs(tokenizer, pairs)); got "
                                         f"{type(value).__name__}.")
    return value


def selection_pairs(papers: Sequence[Paper], aspects: Sequence[str] = ASPECTS,
                    show_section: bool = True) -> list[Pair]:
    """One pair per paper, aspect and sentence. With ``show_section`` the sentence is prefixed by its
    section ("abstract: ..."), a cue a reader has too (challenges open introductions, outcomes fill
    conclusions)."""
    if isinstance(papers, (str, bytes)) or not isinstance(papers, Sequence) or \
            not all(isinstance(p, Paper) for p in papers):
        raise validate.ArgumentTypeError("papers must be a list of Paper (aclsum_papers('train')).")
    if len(papers) == 0:
        raise validate.ArgumentValueError("papers is empty: give at least one paper (aclsum_papers('train')).")
    aspects = [validate.one_of("aspects", a, ASPECTS) for a in validate.list_of_str("aspects", aspects)]
    validate.boolean("show_section", show_section)
    return [Pair(QUESTIONS[a], f"{sec}: {s}" if show_section else s, s, int(p.highlights[a][i]), (p.id, a), i)
            for p in papers for a in aspects for i, (s, sec) in enumerate(zip(p.sentences, p.sections))]


# --------------------------------------------------------------------------------------------
# The cross-encoder
# --------------------------------------------------------------------------------------------


def encode_pairs(tokenizer, pairs: Sequence[Pair], max_length: int = 128):
    """[CLS] question [SEP] sentence [SEP], cut to ``max_length`` tokens (only the sentence is cut; the
    few longer ones are counted), padded to the longest: a ``text_batches.Encoded`` with the pairs' labels."""
    from .text_batches import Encoded

    max_length = validate.integer("max_length", max_length, low=16)
    pairs = _pairs("pairs", pairs)
    questions, sentences = [p.question for p in pairs], [p.sentence for p in pairs]
    full = tokenizer(questions, sentences)["input_ids"]
    enc = tokenizer(questions, sentences, truncation="only_second", max_length=max_length, padding=True,
                    return_tensors="pt")
    labels = torch.tensor([p.label for p in pairs], dtype=torch.long)
    return Encoded(enc["input_ids"], enc["attention_mask"], labels, sum(len(ids) > max_length for ids in full))


def cross_encoder(model_dir=None, seed: int = 0, pooling: str = "mean"):
    """MiniLM (all-MiniLM-L6-v2 by default) under a fresh two-way head: it reads question and sentence
    together, so every layer's attention can compare them (a cross-encoder, unlike two sentence vectors)."""
    from transformers import AutoModel

    from . import data
    from .finetuning import SequenceClassifier

    seed = validate.integer("seed", seed)
    pooling = validate.one_of("pooling", pooling, ("mean", "cls"))
    torch.manual_seed(seed)
    return SequenceClassifier(AutoModel.from_pretrained(model_dir or data.minilm_dir()), 2, pooling=pooling)


def fine_tune_selection(model, train, validation, *, steps: int = 300, batch_size: int = 32, lr: float = 5e-5,
                        eval_iters: int = 4, seed: int = 0, device=None, progress: bool = True) -> dict:
    """The course's loop (``helpers.training.train``) on random batches of pairs (``encode_pairs``),
    cross-entropy on highlighted / not, AdamW with warm-up and cosine decay. Returns the loop's history."""
    from .batches import random_batches
    from .training import TrainConfig
    from .training import train as train_loop

    steps = validate.positive_int("steps", steps)
    batch_size = validate.positive_int("batch_size", batch_size)
    lr = validate.positive("lr", lr)
    eval_iters = validate.positive_int("eval_iters", eval_iters)
    train, validation = _encoded("train", train), _encoded("validation", validation)
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    get_batch = random_batches({"train": (train.input_ids, train.attention_mask, train.labels),
                                "val": (validation.input_ids, validation.attention_mask, validation.labels)},
                               batch_size, device)

    def step_fn(net, batch):
        ids, mask, labels = batch  # (batch, longest in batch) x2, (batch,)
        return F.cross_entropy(net(ids, mask).float(), labels), {}

    cfg = TrainConfig(max_iters=steps, batch_size=batch_size, learning_rate=lr, min_lr=lr / 10,
                      warmup_iters=max(1, steps // 10), weight_decay=0.01, beta2=0.999,
                      eval_interval=steps, eval_iters=eval_iters, seed=seed)  # one evaluation, at the end
    return train_loop(model, get_batch, cfg, step_fn=step_fn, device=device, progress=progress)


def pair_scores(model, encoded, batch_size: int = 128) -> np.ndarray:
    """(pairs,) the model's score of each pair: logit("highlighted") - logit("not"), the log-odds."""
    from .finetuning import predict_logits

    logits = predict_logits(model, _encoded("encoded", encoded), validate.positive_int("batch_size", batch_size))  # (pairs, 2)
    return (logits[:, 1] - logits[:, 0]).numpy()


# --------------------------------------------------------------------------------------------
# Measures and baselines
# --------------------------------------------------------------------------------------------


def _numbers(name: str, value) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise validate.ArgumentTypeError(f"{name} must be a list or array of numbers; got "
                                         f"{type(value).__name__}.") from None


def _ranked_labels(scores, labels) -> np.ndarray:
    scores, labels = _numbers("scores", scores), _numbers("labels", labels)
    if scores.ndim != 1 or scores.shape != labels.shape or len(scores) == 0:
        raise validate.ShapeError(f"scores and labels must be 1-D and of one non-zero length; got shapes "
                                  f"{scores.shape} and {labels.shape}.")
    if not np.isin(labels, (0, 1)).all():
        raise validate.ArgumentValueError(f"labels must be 0 or 1; got {sorted(set(labels.tolist()))}.")
    if not np.isfinite(scores).all():
        raise validate.ArgumentValueError("scores hold NaN or infinite values.")
    return labels.astype(np.int64)[np.argsort(-scores, kind="stable")]  # best first; ties keep the given order


def average_precision(scores, labels) -> float:
    """The mean, over the relevant items, of the precision of the ranking cut just after each of them.
    ``scores``: higher ranks first (ties in the given order); ``labels``: 1 relevant, 0 not. 0 if none is relevant."""
    ranked = _ranked_labels(scores, labels)
    if ranked.sum() == 0:
        return 0.0
    hits = np.cumsum(ranked)  # relevant items among the first k
    return float(np.mean(hits[ranked == 1] / (np.flatnonzero(ranked) + 1)))


def precision_at_k(scores, labels, k: int = 3) -> float:
    """The share of relevant items among the ``k`` ranked first (of all items, when there are fewer)."""
    k = validate.positive_int("k", k)
    ranked = _ranked_labels(scores, labels)
    return float(ranked[:k].mean())


def ranking_scores(scores, pairs: Sequence[Pair], k: int = 3) -> dict:
    """MAP and precision at ``k`` over the rankings (one per paper and aspect) of ``pairs``, given each
    pair's score; also per aspect."""
    k = validate.positive_int("k", k)
    pairs = _pairs("pairs", pairs)
    scores = _numbers("scores", scores)
    if scores.shape != (len(pairs),):
        raise validate.ShapeError(f"{len(scores)} scores for {len(pairs)} pairs.")
    groups: dict[tuple[str, str], list[int]] = {}
    for i, p in enumerate(pairs):
        groups.setdefault(p.group, []).append(i)
    ap, pk = {}, {}
    for g, idx in groups.items():
        labels = np.array([pairs[i].label for i in idx])
        ap[g], pk[g] = average_precision(scores[idx], labels), precision_at_k(scores[idx], labels, k)
    aspects = sorted({a for _, a in groups}, key=lambda a: ASPECTS.index(a) if a in ASPECTS else len(ASPECTS))
    by_aspect = {a: {"map": float(np.mean([v for (_, b), v in ap.items() if b == a])),
                     f"p_at_{k}": float(np.mean([v for (_, b), v in pk.items() if b == a]))} for a in aspects}
    return {"map": float(np.mean(list(ap.values()))), f"p_at_{k}": float(np.mean(list(pk.values()))),
            "rankings": len(groups), "by_aspect": by_aspect}


def lead_scores(pairs: Sequence[Pair]) -> np.ndarray:
    """The lead baseline: the earlier the sentence, the higher (the abstract's first sentence first)."""
    return -np.array([p.position for p in _pairs("pairs", pairs)], dtype=np.float64)


def tfidf_scores(pairs: Sequence[Pair], fit_on: Sequence[str] | None = None) -> np.ndarray:
    """The TF-IDF baseline: cosine similarity of the question's and the sentence's TF-IDF vectors, the
    inverse document frequencies counted over ``fit_on`` (by default the pairs' own sentences)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    pairs = _pairs("pairs", pairs)
    if fit_on is not None:
        fit_on = validate.list_of_str("fit_on", fit_on)
    sentences = [p.text for p in pairs]
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True)
    vectorizer.fit(list(dict.fromkeys(fit_on if fit_on is not None else sentences)))
    q = vectorizer.transform([p.question for p in pairs])  # rows are L2-normalised: dot = cosine
    s = vectorizer.transform(sentences)
    return np.asarray(q.multiply(s).sum(1)).ravel()
