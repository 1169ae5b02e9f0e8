"""How good are word vectors? Neighbours, analogies, and scores on the standard test sets.

``evaluate`` scores vectors (any gensim ``KeyedVectors``) on WordSim353 and SimLex-999 (Spearman
correlation with human judgements) and on the Google analogies (accuracy), and says how many
pairs it had to skip because a word is missing. ``analogy_accuracy`` is gensim's rule batched into
matrix products: seconds instead of minutes.
"""

from __future__ import annotations

from typing import Iterable

import torch

from .. import data
from .. import validation as validate
from .vocab import check_word


def neighbours(kv, word: str, topn: int = 10) -> list[tuple[str, float]]:
    """``kv.most_similar(word)``, with close matches suggested when the word is unknown."""
    _check_kv(kv)
    topn = validate.positive_int("topn", topn)
    check_word(word, kv)
    return kv.most_similar(word, topn=topn)


def analogy(kv, a: str, b: str, c: str, topn: int = 5) -> list[tuple[str, float]]:
    """a is to b as c is to ?: the words nearest b - a + c (3CosAdd, as gensim)."""
    _check_kv(kv)
    topn = validate.positive_int("topn", topn)
    for w in (a, b, c):
        check_word(w, kv)
    return kv.most_similar(positive=[b, c], negative=[a], topn=topn)


def _check_kv(kv) -> None:
    if not (hasattr(kv, "key_to_index") and hasattr(kv, "most_similar")):
        raise validate.ArgumentTypeError(f"kv must be gensim KeyedVectors (for example model.wv or "
                                         f"data.glove()); got {type(kv).__name__}.")


def _questions(questions) -> list[tuple[str, str, str, str]]:
    """Analogy questions as (a, b, c, d): rows of data.analogies() (section first) or 4 words."""
    if isinstance(questions, (str, bytes)) or not isinstance(questions, (list, tuple)):
        raise validate.ArgumentTypeError(f"questions must be a list of (a, b, c, d) word tuples, as "
                                         f"data.analogies() returns; got {type(questions).__name__}.")
    out = []
    for i, q in enumerate(questions):
        ok = isinstance(q, (list, tuple)) and len(q) in (4, 5) and all(isinstance(w, str) for w in q)
        if not ok:
            raise validate.ArgumentTypeError(f"Question {i} must be 4 words (a, b, c, d), or 5 with the "
                                             f"section first as data.analogies() gives; got {q!r:.80}.")
        out.append(tuple(q[-4:]))
    return out


def _pairs_coverage(kv, name: str) -> tuple[int, int]:
    pairs = data.word_pairs(name)
    known = sum(1 for a, b, _ in pairs if a in kv.key_to_index and b in kv.key_to_index)
    return known, len(pairs)


def analogy_accuracy(kv, questions=None, restrict_vocab: int = 30_000, batch: int = 2048) -> float:
    """Share of analogy questions (a, b, c, d) for which d is the word nearest b - a + c.

    The same rule as gensim's ``evaluate_word_analogies`` (cosine on unit vectors, a, b and c
    excluded, only the ``restrict_vocab`` most frequent words, questions with another word
    skipped), batched into matrix products: seconds instead of minutes.
    """
    _check_kv(kv)
    questions = _questions(data.analogies() if questions is None else questions)
    restrict_vocab = validate.positive_int("restrict_vocab", restrict_vocab)
    batch = validate.positive_int("batch", batch)
    n = min(restrict_vocab, len(kv))
    index = {w: i for i, w in enumerate(kv.index_to_key[:n])}
    rows = [[index[w] for w in q] for q in questions if all(w in index for w in q)]
    if not rows:
        return float("nan")
    q = torch.tensor(rows)  # (Q, 4) ids of a, b, c, d
    unit = torch.from_numpy(kv.get_normed_vectors()[:n]).float()  # (n, D)
    correct = 0
    for lo in range(0, len(q), batch):
        a, b, c, d = q[lo:lo + batch].T  # (Qb,) each
        target = unit[b] - unit[a] + unit[c]  # (Qb, D)
        sims = target @ unit.T  # (Qb, n)
        sims.scatter_(1, torch.stack([a, b, c], 1), float("-inf"))  # the question's words cannot answer
        correct += (sims.argmax(1) == d).sum().item()
    return correct / len(q)


def evaluate(kv, restrict_vocab: int = 30_000, max_oov: float = 0.5, sets: Iterable[str] = (
        "wordsim353", "simlex999", "analogy")) -> dict:
    """Score vectors on WordSim353, SimLex-999 (Spearman) and the Google analogies (accuracy).

    Pairs and questions with a word outside the vocabulary are skipped, and the result says how
    many: ``{"wordsim353": 0.34, "wordsim353_skipped": 12, "wordsim353_total": 353, ...}``.
    Analogies use the ``restrict_vocab`` most frequent words (gensim's convention). When more than
    ``max_oov`` of a set is skipped, an ArgumentValueError says so: a score on a few pairs means little.
    """
    import logging

    _check_kv(kv)
    restrict_vocab = validate.positive_int("restrict_vocab", restrict_vocab)
    max_oov = validate.probability("max_oov", max_oov)
    sets = validate.list_of_str("sets", sets, hint='For example ["wordsim353", "analogy"].')
    for name in sets:
        validate.one_of("sets", name, ("wordsim353", "simlex999", "analogy"))
    out = {}
    gensim_log = logging.getLogger("gensim.models.keyedvectors")
    level = gensim_log.level
    gensim_log.setLevel(logging.ERROR)  # gensim logs every section; we report the totals
    try:
        for name in sets:
            if name in ("wordsim353", "simlex999"):
                known, n = _pairs_coverage(kv, name)
                skipped = n - known
                if known < 3 or skipped / n > max_oov:
                    raise validate.ArgumentValueError(
                        f"{name}: {skipped} of {n} pairs have a word outside the vocabulary "
                        f"({len(kv):,} words); only {known} could be scored. Train on a bigger "
                        f"corpus (e.g. data.corpus('imdb')) or pass a higher max_oov.")
                score = kv.evaluate_word_pairs(str(data.asset_path(name)), restrict_vocab=len(kv))
                out[name] = float(score[1].statistic if hasattr(score[1], "statistic") else score[1][0])
            else:  # analogy
                questions = data.analogies()
                allowed = set(kv.index_to_key[:restrict_vocab])
                known = sum(1 for _, a, b, c, d in questions if {a, b, c, d} <= allowed)
                n, skipped = len(questions), len(questions) - known
                if known == 0 or skipped / n > max_oov:
                    raise validate.ArgumentValueError(
                        f"analogy: {skipped} of {n} questions have a word outside the "
                        f"{min(restrict_vocab, len(kv)):,} most frequent words; only {known} could "
                        f"be scored. Train on a bigger corpus or pass a higher max_oov.")
                out[name] = analogy_accuracy(kv, questions, restrict_vocab)
            out[f"{name}_skipped"], out[f"{name}_total"] = skipped, n
    finally:
        gensim_log.setLevel(level)
    return out
