"""Cloze questions from real text, made the CNN/Daily Mail way: the data of extractive QA.

    Question               one question: the blanked sentence, its passage, the answer and where it is
    questions_from_passage in one passage, remove a sentence that names an entity also named elsewhere in
                           the passage and blank the entity
    cloze_questions        questions from the Wikipedia excerpt's articles, split by article

``helpers.qa`` encodes them into windows, trains a span head on them and scores its answers.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import validation as validate

BLANK = "@placeholder"  # the CNN/Daily Mail sets' marker for the removed entity
CLOZE_TYPES = ("PERSON", "NORP", "ORG", "GPE", "LOC", "DATE", "WORK_OF_ART")


@dataclass
class Question:
    question: str  # the removed sentence with the entity blanked
    context: str  # the passage without that sentence
    answer: str  # the entity's text, found in the context
    answer_start: int  # character offset of its first occurrence in the context
    answer_type: str  # spaCy's entity type (PERSON, GPE, ...)
    entities: list[tuple[str, str]]  # (text, type) of every entity mention in the context: the baseline's
    doc: int  # the article it came from (the split is by article)


def _prose(article: str) -> str:
    """The running text of a Wikipedia article: paragraphs of 15 words or more, without markup quotes
    and headings (gensim's filter leaves lists, captions and '''bold''' marks behind)."""
    lines = [re.sub(r"'{2,}", "", line).strip() for line in article.splitlines()]
    return " ".join(line for line in lines if len(line.split()) >= 15 and not line.startswith("="))


def questions_from_passage(sentences: list[tuple[str, list[tuple[str, str]]]], rng: random.Random,
                           per_passage: int = 2, types: Sequence[str] = CLOZE_TYPES,
                           max_question_words: int = 40) -> tuple[list[dict], int]:
    """Cloze questions from one passage, given as sentences with their entities [(text, type), ...].

    A candidate is an entity of ``types`` in one sentence whose text also occurs in the rest of the
    passage, in a sentence of at most ``max_question_words`` words. Up to ``per_passage`` candidates
    (from different sentences, chosen with ``rng``) become questions. Returns the questions and how many candidates were dropped because the answer was not
    in the context after all (an entity found elsewhere only inside a longer word, say)."""
    if isinstance(sentences, str) or not isinstance(rng, random.Random):
        raise validate.ArgumentTypeError("sentences must be a list of (text, entities) pairs and rng a random.Random.")
    per_passage = validate.positive_int("per_passage", per_passage)
    types = validate.list_of_str("types", types)
    max_question_words = validate.positive_int("max_question_words", max_question_words)
    candidates = []
    for i, (text, ents) in enumerate(sentences):
        rest = " ".join(t for j, (t, _) in enumerate(sentences) if j != i)
        for ent, kind in dict.fromkeys(ents):
            if kind in types and ent in rest and ent in text and len(text.split()) <= max_question_words:
                candidates.append((i, ent, kind))
    rng.shuffle(candidates)
    out, used, dropped = [], set(), 0
    for i, ent, kind in candidates:
        if i in used or len(out) >= per_passage:
            continue
        context = " ".join(t for j, (t, _) in enumerate(sentences) if j != i)
        match = re.search(r"(?<!\w)" + re.escape(ent) + r"(?!\w)", context)  # a whole-word occurrence
        if match is None:
            dropped += 1
            continue
        used.add(i)
        others = [e for j, (_, es) in enumerate(sentences) if j != i for e in es]
        out.append({"question": sentences[i][0].replace(ent, BLANK), "context": context, "answer": ent,
                    "answer_start": match.start(), "answer_type": kind, "entities": others})
    return out, dropped


def cloze_questions(n_articles: int = 106, max_chars: int = 6000, sentences_per_passage: int = 6,
                    per_passage: int = 2, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                    progress: bool = True) -> dict[str, list[Question]]:
    """Cloze questions from the first ``max_chars`` characters of running text of ``n_articles``
    Wikipedia articles (gensim's excerpt), cut into passages of ``sentences_per_passage`` sentences and
    labelled by spaCy (sentences and entities; cached on disk). Split by article into train /
    validation / test (seeded). Prints how many candidate questions were dropped and why."""
    max_chars, per_passage = validate.positive_int("max_chars", max_chars), validate.positive_int("per_passage", per_passage)
    n_articles, seed = validate.positive_int("n_articles", n_articles), validate.non_negative_int("seed", seed)
    sentences_per_passage = validate.positive_int("sentences_per_passage", sentences_per_passage)
    fractions = [validate.probability("fractions", f) for f in fractions]
    progress = validate.boolean("progress", progress)
    from . import data

    if len(fractions) != 3:
        raise validate.ArgumentValueError(f"Give three fractions (train, validation, test); got {len(fractions)}.")
    articles = data.documents("wiki")
    if not 3 <= n_articles <= len(articles):
        raise validate.ArgumentValueError(f"n_articles={n_articles}: the excerpt has {len(articles)} articles; ask for 3 to "
                         f"{len(articles)}.")
    if sentences_per_passage < 2:
        raise validate.ArgumentValueError(f"sentences_per_passage must be at least 2 (one becomes the question), got "
                         f"{sentences_per_passage}.")

    def label():  # per article: its sentences, each with its entities
        from tqdm.auto import tqdm

        texts = [_prose(a)[:max_chars] for a in articles[:n_articles]]
        docs = data.spacy_pipeline().pipe(texts, batch_size=8)
        return [[(s.text.strip(), [(e.text, e.label_) for e in s.ents]) for s in doc.sents if s.text.strip()]
                for doc in tqdm(docs, total=len(texts), desc="spaCy labelling", disable=not progress)]

    labelled = data.cached("cloze-wiki", [data.asset_path("wiki"), data.spacy_model_dir()], label,
                           n_articles=n_articles, max_chars=max_chars)
    rng = random.Random(seed)
    made, dropped = [], 0
    for doc, sentences in enumerate(labelled):
        for k in range(0, len(sentences) - 1, sentences_per_passage):
            passage = sentences[k:k + sentences_per_passage]
            if len(passage) < 2:
                continue
            qs, lost = questions_from_passage(passage, rng, per_passage)
            made += [Question(**q, doc=doc) for q in qs]
            dropped += lost
    if progress and dropped:
        print(f"{dropped} candidate questions dropped: the answer was not a whole word of the context.")
    parts = data.split_indices(np.zeros(n_articles, dtype=np.int64), fractions, seed)
    part_of = {int(d): k for k, idx in enumerate(parts) for d in idx}
    out = {name: [q for q in made if part_of[q.doc] == k] for k, name in enumerate(["train", "validation", "test"])}
    empty = [name for name, qs in out.items() if not qs]
    if empty:
        raise validate.ArgumentValueError(f"No question in the {' and '.join(empty)} split of {n_articles} articles: use more "
                         f"articles (or larger fractions for those splits).")
    return out

