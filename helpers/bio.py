"""BIO tags, with no model: label sets, checks, entity spans, entity-level scores and a baseline.

    label_list            the BIO label set of some entity types: O, B-TYPE, I-TYPE, ...
    check_tagged          clear errors for words and tags of different lengths, tags outside the label set
    bio_spans             entity spans (type, start, end) read from BIO tags, with conlleval's rules
    format_entities       "[Tom Hanks](PERSON) stars in ..." for printing
    entity_scores         entity-level precision, recall and F1, overall and per type (exact span + type)
    MostFrequentTag       the baseline: each word's most frequent tag in training

An entity counts as found only when its type and both of its boundaries match (seqeval's default,
the CoNLL-2003 convention): finding "Hanks" for the gold "Tom Hanks" is one false positive and one
false negative, not half a success. ``helpers.tagging`` trains the taggers whose tags these score.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Sequence

from . import validation as validate

OUTSIDE = "O"

# --------------------------------------------------------------------------------------------
# Tags and spans
# --------------------------------------------------------------------------------------------


def label_list(types: Sequence[str]) -> list[str]:
    """The BIO labels of ``types``: O first, then B-TYPE and I-TYPE for each type."""
    types = validate.list_of_str("types", types, min_len=0, hint="e.g. ['PERSON', 'ORG']")
    if isinstance(types, str):
        raise validate.ArgumentTypeError("Give a list of entity types, e.g. ['PERSON', 'ORG'], not a single string.")
    return [OUTSIDE] + [f"{prefix}-{t}" for t in types for prefix in "BI"]


def _parse(tag: str) -> tuple[str, str]:
    """'B-PERSON' -> ('B', 'PERSON'); 'O' -> ('O', ''); anything else is a clear error."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, sep, kind = str(tag).partition("-")
    if prefix not in ("B", "I") or not sep or not kind:
        raise validate.ArgumentValueError(f"{tag!r} is not a BIO tag: tags are 'O', 'B-TYPE' (an entity begins) or "
                         f"'I-TYPE' (it continues), e.g. 'B-PERSON'.")
    return prefix, kind


def check_tagged(words: Sequence[Sequence[str]], tags: Sequence[Sequence[str]],
                 labels: Sequence[str] | None = None) -> None:
    """Raise ValueError unless there is one tag per word in every sentence and (given ``labels``)
    every tag belongs to the label set."""
    if isinstance(words, str) or isinstance(tags, str):
        raise validate.ArgumentTypeError("words and tags must be lists of sentences, each a list (one entry per word).")
    if len(words) != len(tags):
        raise validate.ArgumentValueError(f"{len(words)} sentences of words but {len(tags)} of tags: give one tag "
                         f"sequence per sentence.")
    known = set(labels) if labels is not None else None
    for i, (w, t) in enumerate(zip(words, tags)):
        if isinstance(w, str) or isinstance(t, str):
            raise validate.ArgumentTypeError(f"sentence {i}: words and tags must be lists (one entry per word), not strings.")
        if len(w) != len(t):
            raise validate.ArgumentValueError(f"sentence {i} has {len(w)} words but {len(t)} tags: {list(w)[:8]} / "
                             f"{list(t)[:8]}. Give exactly one tag per word.")
        for tag in t:
            _parse(tag)
        if known is not None:
            unknown = sorted(set(t) - known)
            if unknown:
                raise validate.ArgumentValueError(f"sentence {i} has tags that are not in the label set: {unknown}. "
                                 f"The label set is {list(labels)}; map or drop the other types first.")


def bio_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The entities of a BIO tag sequence as (type, start, end) with ``end`` exclusive.

    conlleval's rules (seqeval's default): B- always starts an entity; I- continues the entity
    before it when the type is the same, and otherwise starts one (an I- with no B- is still an
    entity); O ends the current entity.
    """
    tags = validate.list_of_str("tags", tags, min_len=0, hint="one BIO tag per word")
    spans, kind, start = [], None, 0
    for i, tag in enumerate(list(tags) + [OUTSIDE]):  # a final O closes the last entity
        prefix, t = _parse(tag)
        if kind is not None and (prefix != "I" or t != kind):
            spans.append((kind, start, i))
            kind = None
        if prefix == "B" or (prefix == "I" and kind is None):
            kind, start = t, i
    return spans


def format_entities(words: Sequence[str], tags: Sequence[str]) -> str:
    """The sentence with each entity bracketed and typed: '[Tom Hanks](PERSON) stars in ...'."""
    words, tags = validate.list_of_str("words", words, min_len=0), validate.list_of_str("tags", tags, min_len=0)
    if len(words) != len(tags):
        raise validate.ArgumentValueError(f"{len(words)} words but {len(tags)} tags: give one tag per word.")
    out, spans = list(words), bio_spans(tags)
    for kind, start, end in reversed(spans):
        out[start:end] = [f"[{' '.join(words[start:end])}]({kind})"]
    return " ".join(out)


# --------------------------------------------------------------------------------------------
# Metrics and a baseline
# --------------------------------------------------------------------------------------------


def _prf(tp: int, predicted: int, gold: int) -> dict:
    p = tp / predicted if predicted else 0.0
    r = tp / gold if gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "tp": tp, "predicted": predicted, "gold": gold}


def entity_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    """Entity-level precision, recall and F1 (micro-averaged over entities), and the same per type.

    An entity is a span from ``bio_spans``; a predicted entity is a true positive only when a gold
    entity has the same type, start and end. Precision = TP / predicted entities, recall = TP / gold
    entities, F1 their harmonic mean (0 when undefined). Tokens tagged O count for nothing.
    """

    check_tagged(gold, pred)  # one predicted tag per gold tag, sentence by sentence
    tp, n_pred, n_gold = Counter(), Counter(), Counter()
    for g, p in zip(gold, pred):
        gold_spans, pred_spans = set(bio_spans(g)), set(bio_spans(p))
        n_gold.update(kind for kind, _, _ in gold_spans)
        n_pred.update(kind for kind, _, _ in pred_spans)
        tp.update(kind for kind, _, _ in gold_spans & pred_spans)
    scores = _prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    scores["per_type"] = {kind: _prf(tp[kind], n_pred[kind], n_gold[kind])
                          for kind in sorted(set(n_gold) | set(n_pred))}
    return scores


class MostFrequentTag:
    """The baseline a tagger has to beat: each word gets the tag it carried most often in the training
    data (a gazetteer learned by counting); words never seen get O. Case-sensitive."""

    def fit(self, words: Sequence[Sequence[str]], tags: Sequence[Sequence[str]]) -> "MostFrequentTag":
        check_tagged(words, tags)
        counts: dict[str, Counter] = defaultdict(Counter)
        for ws, ts in zip(words, tags):
            for w, t in zip(ws, ts):
                counts[w][t] += 1
        self.table = {w: c.most_common(1)[0][0] for w, c in counts.items()}
        return self

    def predict(self, words: Sequence[Sequence[str]]) -> list[list[str]]:
        return [[self.table.get(w, OUTSIDE) for w in ws] for ws in words]

