"""Instruction data the course can make offline, FLAN-style: the labelled data it already has turned
into instructions, with several phrasings per task, split by source document.

    sentiment   is a review (IMDB) or a Rotten Tomatoes line positive or negative?     accuracy
    modernise   a First Folio line in modern English (the parallel corpus, by play)    BLEU
    summary     a paper's challenge, approach or outcome from its abstract (ACLSum)    ROUGE-L
    entities    the people and places a sentence names (spaCy's labels, by review)     F1 of the names
    continue    the next lines of a Shakespeare speech (by block of the text)           ROUGE-L

    data = instruction_data(n_per_task=200, held_out=("entities",))   # {"train", "validation", "test"}
    conv = data["train"][0].messages()                                  # [{"role": "user", ...}, ...]
    score("sentiment", predictions, [e.answer for e in examples])

Each ``Example`` keeps its task, the document it came from (``source``), the user's instruction and
the reference answer; the phrasing is drawn per example (seeded), and held-out phrasings are never
used in training. Tasks in ``held_out`` appear only in the test split, to ask whether instruction
tuning on the other tasks carries over to an instruction it never trained on.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Sequence

from . import validation as validate

SPLITS = ("train", "validation", "test")
PHRASINGS = {
    "sentiment": ["Is the following review positive or negative?\n\n{text}",
                  "Review: {text}\n\nDid the reviewer like the film? Answer positive or negative.",
                  "Classify the sentiment of this movie review as positive or negative.\n{text}",
                  "{text}\n\nWhat is the sentiment of the text above (positive / negative)?"],
    "modernise": ["Rewrite this line from Shakespeare's First Folio in modern English:\n{text}",
                  "Modernise the spelling and wording of: {text}",
                  "Translate into present-day English: \"{text}\"",
                  "{text}\n\nSay the same thing in modern English."],
    "summary": ["Here is the abstract of a paper.\n\n{text}\n\nIn one sentence, what is the paper's {aspect}?",
                "{text}\n\nState the {aspect} of this work in one sentence.",
                "Read the abstract and describe its {aspect} briefly.\n{text}",
                "Abstract: {text}\nOne-sentence {aspect}:"],
    "entities": ["List the people and places named in this sentence.\n{text}",
                 "Which people and which places does this sentence mention? {text}",
                 "Sentence: {text}\nName the people and the places in it.",
                 "Extract the names of people and places: {text}"],
    "continue": ["Continue this passage from Shakespeare with the next lines:\n{text}",
                 "{text}\n\nWhat comes next? Write the following lines.",
                 "Here is the start of a speech by Shakespeare. Go on with it.\n{text}",
                 "Complete the speech: {text}"],
}
TASKS = tuple(PHRASINGS)
METRICS = {"sentiment": "accuracy", "modernise": "BLEU", "summary": "ROUGE-L", "entities": "F1",
           "continue": "ROUGE-L"}


@dataclass
class Example:
    task: str
    source: str  # the document it came from: a split never shares one
    prompt: str  # the user's instruction, with the text in it
    answer: str  # the reference reply

    def messages(self, with_answer: bool = True) -> list[dict]:
        out = [{"role": "user", "content": self.prompt}]
        return out + [{"role": "assistant", "content": self.answer}] if with_answer else out


def _clip(text: str, max_chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= max_chars else text[:max_chars].rsplit(" ", 1)[0] + " ..."


def _sentiment(n: int, seed: int, max_chars: int) -> dict[str, list[tuple]]:
    from . import data

    out = {s: [] for s in SPLITS}
    for source in ("rotten_tomatoes", "imdb"):  # half and half, so each split has both
        parts = data.sentiment(source, seed=seed, max_examples=max(40, 2 * n))
        for split, name in zip(SPLITS, ("train", "validation", "test")):
            p = parts[name]
            out[split] += [(f"{source}:{split}:{i}", {"text": _clip(t, max_chars)}, ["negative", "positive"][y])
                           for i, (t, y) in enumerate(zip(p.texts, p.labels))][:(n + 1) // 2]
    return out


def _modernise(n: int, seed: int, max_chars: int) -> dict[str, list[tuple]]:
    from . import data, parallel

    files = parallel.pair_files()
    plays = sorted(files)[:4]  # four plays align in half a minute; the whole corpus is notebook 11's
    corpus = data.cached("chat-folio-plays", [p for play in plays for p in files[play]],
                         lambda: parallel.build_corpus(plays=plays, n_val=1, n_test=1, seed=seed, progress=False),
                         plays=plays, seed=seed, version=parallel.ALIGN_VERSION)
    out = {}
    for split, name in zip(SPLITS, ("train", "val", "test")):
        pairs = [(f, m) for f, m in corpus.split(name) if 20 <= len(f) <= max_chars and f.strip() != m.strip()]
        random.Random(seed).shuffle(pairs)
        play_of = {f: p for p, a in corpus.per_play.items() for f, _ in a.pairs}
        out[split] = [(f"folio:{play_of.get(f, '?')}", {"text": f}, m) for f, m in pairs[:n]]
    return out


def _summary(n: int, seed: int, max_chars: int) -> dict[str, list[tuple]]:
    import json

    from . import data

    out = {}
    for split, file in zip(SPLITS, ("train", "val", "test")):
        rows = [json.loads(line) for line in (data.asset_path("aclsum") / f"{file}.jsonl").open(encoding="utf-8")]
        out[split] = [(f"aclsum:{r['id']}", {"text": _clip(" ".join(r["sentences"]["abstract"]), max_chars),
                                              "aspect": aspect}, r["summary"][aspect])
                      for r in rows for aspect in ("challenge", "approach", "outcome")][:n]
    return out


def entity_answer(words: Sequence[str], tags: Sequence[str]) -> str:
    """The reference reply: "People: A, B. Places: C." with "none" where the sentence names none."""
    from .bio import bio_spans

    found = {"PERSON": [], "GPE": []}
    for kind, start, end in bio_spans(list(tags)):
        if kind in found and " ".join(words[start:end]) not in found[kind]:
            found[kind].append(" ".join(words[start:end]))
    return f"People: {', '.join(found['PERSON']) or 'none'}. Places: {', '.join(found['GPE']) or 'none'}."


def _entities(n: int, seed: int, max_chars: int) -> dict[str, list[tuple]]:
    from . import data

    parts = data.entity_sentences("imdb", n_docs=max(30, n // 2), seed=seed)
    out = {}
    for split, name in zip(SPLITS, ("train", "validation", "test")):
        p = parts[name]
        out[split] = [(f"imdb-entities:{d}", {"text": _clip(" ".join(w), max_chars)}, entity_answer(w, t))
                      for w, t, d in zip(p.words, p.tags, p.docs)][:n]
    return out


def _continue(n: int, seed: int, max_chars: int) -> dict[str, list[tuple]]:
    from . import data

    speeches = [s for s in data.documents("shakespeare") if s.count("\n") >= 3 and len(s) < 4 * max_chars]
    out = {s: [] for s in SPLITS}
    for i, s in enumerate(speeches):
        block = i // 50  # blocks of 50 neighbouring speeches, so one scene is never on both sides
        split = SPLITS[0 if block % 10 < 8 else 1 if block % 10 == 8 else 2]
        lines = s.splitlines()
        half = len(lines) // 2
        out[split].append((f"shakespeare:block{block}", {"text": _clip("\n".join(lines[:half]), max_chars)},
                           "\n".join(line.strip() for line in lines[half:half + 2])))
    for split in SPLITS:
        random.Random(seed).shuffle(out[split])
        out[split] = out[split][:n]
    return out


_BUILDERS = {"sentiment": _sentiment, "modernise": _modernise, "summary": _summary, "entities": _entities,
             "continue": _continue}


def task_examples(task: str, n: int = 200, seed: int = 0, max_chars: int = 400) -> dict[str, list[Example]]:
    """Up to n examples of one task per split, split by source document as the data's own split is
    (reviews, plays, papers, blocks of Shakespeare), each with one of the task's phrasings (seeded)."""
    validate.one_of("task", task, TASKS)
    n = validate.positive_int("n", n)
    seed = validate.non_negative_int("seed", seed)
    max_chars = validate.integer("max_chars", max_chars, low=40)
    rng = random.Random(f"{task}-{seed}")
    raw = _BUILDERS[task](n, seed, max_chars)
    out = {}
    for split in SPLITS:
        rows = raw[split][:n]
        out[split] = [Example(task, src, rng.choice(PHRASINGS[task]).format(**fields), answer)
                      for src, fields, answer in rows]
    return out


def instruction_data(tasks: Sequence[str] = TASKS, n_per_task: int = 200, held_out: Sequence[str] = ("entities",),
                     seed: int = 0, max_chars: int = 400) -> dict[str, list[Example]]:
    """Train / validation / test examples of several tasks; tasks in ``held_out`` only in "test".
    Training examples are shuffled together (seeded); the test split keeps tasks in order."""
    tasks = validate.list_of_str("tasks", list(tasks))
    held_out = list(held_out)
    for t in tasks + held_out:
        validate.one_of("tasks", t, TASKS)
    if not [t for t in tasks if t not in held_out]:
        raise validate.ArgumentValueError(f"held_out={held_out} leaves no task to train on among tasks={tasks}.")
    out = {s: [] for s in SPLITS}
    for t in dict.fromkeys(tasks + held_out):
        parts = task_examples(t, n_per_task, seed, max_chars)
        for split in SPLITS:
            if t not in held_out or split == "test":
                out[split] += parts[split]
    random.Random(seed).shuffle(out["train"])
    return out


def _names(text: str) -> set[str]:
    return {x.strip().lower() for part in re.split(r"[.;\n]", text) for x in part.split(":")[-1].split(",")
            if x.strip() and x.strip().lower() != "none"}


def score(task: str, predictions: Sequence[str], references: Sequence[str]) -> float:
    """The task's score in percent: sentiment accuracy (the first of "positive"/"negative" the reply
    says), modernise corpus BLEU, summary/continue ROUGE-L F, entities F1 of the names listed."""
    from .metrics import corpus_bleu, rouge

    validate.one_of("task", task, TASKS)
    predictions, references = list(predictions), list(references)
    if len(predictions) != len(references) or not predictions:
        raise validate.ArgumentValueError(f"predictions ({len(predictions)}) and references ({len(references)}) "
                                          f"must be equally many, and at least one.")
    if task == "sentiment":
        def label(text):
            m = re.search(r"positive|negative", text.lower())
            return m.group(0) if m else None
        return 100 * sum(label(p) == r for p, r in zip(predictions, references)) / len(references)
    if task == "modernise":
        return float(corpus_bleu(predictions, references).score)
    if task == "entities":
        tp = n_pred = n_ref = 0
        for p, r in zip(predictions, references):
            got, want = _names(p), _names(r)
            tp, n_pred, n_ref = tp + len(got & want), n_pred + len(got), n_ref + len(want)
        if n_ref == 0 and n_pred == 0:
            return 100.0
        return 100 * 2 * tp / max(1, n_pred + n_ref)
    return 100 * rouge(predictions, references)["rougeL"]["f"]
