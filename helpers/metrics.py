"""Scoring generated text against references: BLEU and chrF (translation), ROUGE (summarisation).

    tokenize_13a    the tokeniser of WMT's mteval-v13a script, which BLEU scores are reported with
    corpus_bleu     clipped n-gram precisions (n = 1..4) summed over the corpus, their geometric mean,
                    times a brevity penalty for output shorter than the references (Papineni et al.)
    corpus_chrf     character n-gram (n = 1..6) precision and recall over the corpus, F with beta = 2
                    (Popović), so recall counts twice as much as precision
    rouge           ROUGE-1, ROUGE-2 (n-gram overlap) and ROUGE-L (longest common subsequence),
                    precision / recall / F per pair, averaged (Lin), with Porter stemming as an option

Each matches its reference library on the same corpus (tests/test_metrics.py): ``corpus_bleu`` and
``corpus_chrf`` agree with sacrebleu's defaults to 1e-6, ``rouge`` with ``rouge_score`` and
``use_stemmer=True``. Scores are on sacrebleu's 0-100 scale for BLEU and chrF, and 0-1 for ROUGE as
``rouge_score`` reports them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from . import validation as validate

# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _check_corpus(hypotheses, references, hyp_name: str = "hypotheses") -> None:
    for name, texts in ((hyp_name, hypotheses), ("references", references)):
        if not isinstance(texts, (str, list, tuple)) and not hasattr(texts, "__len__"):
            raise validate.ArgumentTypeError(f"{name} must be a list of strings (one per sentence); got {type(texts).__name__}.")
    for name, texts in ((hyp_name, hypotheses), ("references", references)):
        if isinstance(texts, str):
            raise validate.ArgumentTypeError(f"{name} must be a list of strings (one per sentence), not a single string; "
                            f"wrap it: [{texts[:30]!r}].")
        bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
        if bad:
            raise validate.ArgumentTypeError(f"every item of {name} must be a string; found {len(bad)} of type {bad[0]}.")
    if len(hypotheses) != len(references):
        raise validate.ArgumentValueError(f"{len(hypotheses)} {hyp_name} but {len(references)} references: give exactly one "
                         f"reference per {hyp_name.rstrip('es')}, in the same order.")
    if len(hypotheses) == 0:
        raise validate.ArgumentValueError(f"no {hyp_name} to score: the corpus is empty.")


# --------------------------------------------------------------------------------------------
# BLEU
# --------------------------------------------------------------------------------------------

_13A_RULES = [
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),  # punctuation and symbols stand alone
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),  # a full stop or comma after a non-digit
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),  # ... or before a non-digit (so 3.5 and 1,000 stay)
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),  # a dash after a digit
]


@lru_cache(maxsize=2**16)
def tokenize_13a(line: str) -> list[str]:
    """mteval-v13a tokens: 'Nay, answer me: stand!' -> ['Nay', ',', 'answer', 'me', ':', 'stand', '!']."""
    validate.string("line", line, non_empty=False)
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    for pattern, repl in _13A_RULES:
        line = pattern.sub(repl, line)
    return line.split()


def ngrams(tokens: Sequence, n: int) -> Counter:
    """Counts of the n-grams (as tuples) of a token sequence."""
    n = validate.positive_int("n", n)  # tokens may be a string: its character n-grams (chrF)
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


@dataclass
class BLEU:
    score: float  # 0-100
    precisions: list[float]  # modified n-gram precisions, 0-100, n = 1..max_order
    brevity_penalty: float
    hyp_len: int  # tokens in all hypotheses
    ref_len: int  # tokens in all references
    matches: list[int]  # clipped n-gram matches per order
    totals: list[int]  # hypothesis n-grams per order

    def __repr__(self) -> str:
        p = "/".join(f"{x:.1f}" for x in self.precisions)
        return (f"BLEU = {self.score:.2f} {p} (BP = {self.brevity_penalty:.3f} ratio = "
                f"{self.hyp_len / max(self.ref_len, 1):.3f} hyp_len = {self.hyp_len} ref_len = {self.ref_len})")


def brevity_penalty(hyp_len: int, ref_len: int) -> float:
    """1 when the output is at least as long as the references, exp(1 - r/c) when shorter, 0 when empty."""
    hyp_len, ref_len = validate.non_negative_int("hyp_len", hyp_len), validate.non_negative_int("ref_len", ref_len)
    if hyp_len >= ref_len:
        return 1.0
    return math.exp(1 - ref_len / hyp_len) if hyp_len > 0 else 0.0


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], max_order: int = 4) -> BLEU:
    """Corpus BLEU of hypotheses against one reference each, as sacrebleu computes it by default.

    Matches and totals are summed over all sentences before the precisions are taken (a corpus score is
    not an average of sentence scores). An order with no match gets sacrebleu's "exp" smoothing:
    the k-th such order counts 1 / 2^k matches, so one missing 4-gram does not zero the score.
    """
    _check_corpus(hypotheses, references)
    max_order = validate.positive_int("max_order", max_order)
    matches, totals = [0] * max_order, [0] * max_order
    hyp_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references):
        h, r = tokenize_13a(hyp), tokenize_13a(ref)
        hyp_len, ref_len = hyp_len + len(h), ref_len + len(r)
        for n in range(1, max_order + 1):
            h_counts, r_counts = ngrams(h, n), ngrams(r, n)
            matches[n - 1] += sum(min(c, r_counts[g]) for g, c in h_counts.items())  # clipped
            totals[n - 1] += max(len(h) - n + 1, 0)
    precisions, halvings = [0.0] * max_order, 1.0
    for n in range(max_order):
        if totals[n] == 0:
            break  # sentences too short for this order: its precision stays 0
        if matches[n] == 0:
            halvings *= 2
            precisions[n] = 100.0 / (halvings * totals[n])
        else:
            precisions[n] = 100.0 * matches[n] / totals[n]
    bp = brevity_penalty(hyp_len, ref_len)
    if any(p == 0 for p in precisions):
        score = 0.0
    else:
        score = bp * math.exp(sum(math.log(p) for p in precisions) / max_order)
    return BLEU(score, precisions, bp, hyp_len, ref_len, matches, totals)


# --------------------------------------------------------------------------------------------
# chrF
# --------------------------------------------------------------------------------------------


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[str], char_order: int = 6,
                beta: float = 2.0) -> float:
    """Corpus chrF (0-100) with sacrebleu's defaults: characters without spaces, n = 1..6, beta = 2.

    For each order n the character n-gram counts of hypotheses, references and their overlap are
    summed over the corpus; precision and recall are averaged over the orders that occur, then
    combined as F_beta = (1 + beta²) P R / (beta² P + R).
    """
    char_order, beta = validate.positive_int("char_order", char_order), validate.positive("beta", beta)
    _check_corpus(hypotheses, references)
    stats = [[0, 0, 0] for _ in range(char_order)]  # per order: hypothesis n-grams, reference, matched
    for hyp, ref in zip(hypotheses, references):
        h, r = "".join(hyp.split()), "".join(ref.split())
        for n in range(1, char_order + 1):
            h_counts, r_counts = ngrams(h, n), ngrams(r, n)
            if r_counts:  # as sacrebleu: hypothesis n-grams count only where the reference has some
                stats[n - 1][0] += max(len(h) - n + 1, 0)
            stats[n - 1][1] += max(len(r) - n + 1, 0)
            stats[n - 1][2] += sum(min(c, r_counts[g]) for g, c in h_counts.items())
    precisions = [m / h for h, r, m in stats if h > 0 and r > 0]
    recalls = [m / r for h, r, m in stats if h > 0 and r > 0]
    if not precisions:
        return 0.0
    p, r = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    if p + r == 0:
        return 0.0
    return 100 * (1 + beta**2) * p * r / (beta**2 * p + r)


# --------------------------------------------------------------------------------------------
# ROUGE
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem import porter  # the stemmer rouge_score uses

    return porter.PorterStemmer()


def rouge_tokens(text: str, stem: bool = True) -> list[str]:
    """Lower-case alphanumeric words, as ROUGE-1.5.5 splits them; words over 3 letters stemmed."""
    validate.string("text", text, non_empty=False), validate.boolean("stem", stem)
    tokens = re.split(r"\s+", re.sub(r"[^a-z0-9]+", " ", text.lower()))
    if stem:
        tokens = [_stemmer().stem(t) if len(t) > 3 else t for t in tokens]
    return [t for t in tokens if re.fullmatch(r"[a-z0-9]+", t)]


def _prf(overlap: int, n_pred: int, n_ref: int) -> tuple[float, float, float]:
    p, r = overlap / max(n_pred, 1), overlap / max(n_ref, 1)
    return p, r, (2 * p * r / (p + r) if p + r > 0 else 0.0)


def rouge_n(prediction: list[str], reference: list[str], n: int) -> tuple[float, float, float]:
    """(precision, recall, F) of the n-grams two token lists share (each counted at most as often as in both)."""
    if isinstance(prediction, str) or isinstance(reference, str):
        raise validate.ArgumentTypeError("prediction and reference must be token lists (rouge_tokens(text)), not strings.")
    n = validate.positive_int("n", n)
    p_counts, r_counts = ngrams(prediction, n), ngrams(reference, n)
    overlap = sum(min(c, p_counts[g]) for g, c in r_counts.items())
    return _prf(overlap, sum(p_counts.values()), sum(r_counts.values()))


def lcs_length(a: Sequence, b: Sequence) -> int:
    """Length of the longest common subsequence (in order, not necessarily adjacent), by dynamic programming."""
    if isinstance(a, (int, float)) or isinstance(b, (int, float)):
        raise validate.ArgumentTypeError("a and b must be sequences (token lists or strings).")
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: list[str], reference: list[str]) -> tuple[float, float, float]:
    """(precision, recall, F) from the longest common subsequence of two token lists."""
    if isinstance(prediction, str) or isinstance(reference, str):
        raise validate.ArgumentTypeError("prediction and reference must be token lists (rouge_tokens(text)), not strings.")
    if not prediction or not reference:
        return 0.0, 0.0, 0.0
    return _prf(lcs_length(prediction, reference), len(prediction), len(reference))


def rouge(predictions: Sequence[str], references: Sequence[str], stem: bool = True) -> dict[str, dict]:
    """Mean ROUGE-1, ROUGE-2 and ROUGE-L over pairs: {"rouge1": {"precision", "recall", "f"}, ...}."""
    stem = validate.boolean("stem", stem)
    _check_corpus(predictions, references, "predictions")
    sums = {k: [0.0, 0.0, 0.0] for k in ("rouge1", "rouge2", "rougeL")}
    for pred, ref in zip(predictions, references):
        p, r = rouge_tokens(pred, stem), rouge_tokens(ref, stem)
        for key, prf in (("rouge1", rouge_n(p, r, 1)), ("rouge2", rouge_n(p, r, 2)), ("rougeL", rouge_l(p, r))):
            sums[key] = [s + x for s, x in zip(sums[key], prf)]
    n = len(predictions)
    return {k: {"precision": v[0] / n, "recall": v[1] / n, "f": v[2] / n} for k, v in sums.items()}
