"""The course's BLEU, chrF and ROUGE agree with sacrebleu and rouge-score on the same texts."""

import random

import pytest

from helpers import metrics

HYPS = [
    "Nay answer me: Stand & vnfold your selfe",
    "Long liue the King",
    "the cat sat on the mat.",
    "It is 3.5 meters, or 1,000 cm - more or less.",
    "O",
    "",
    "Give you good night, honest soldier; who hath relieved you?",
]
REFS = [
    "Nay, answer me: stand, and unfold yourself.",
    "Long live the king!",
    "The cat is on the mat.",
    "It is 3.5 metres, or 1,000 cm -- more or less.",
    "O, farewell!",
    "Nothing at all.",
    "O, farewell, honest soldier; Who hath reliev'd you?",
]


def _noisy_corpus(n=300, seed=0):
    """References of random words, hypotheses that copy them with edits: a realistic spread of scores."""
    rng = random.Random(seed)
    words = "the a king love night good my lord thee thou art, is! and? of to: heaven; sweet".split()
    refs, hyps = [], []
    for _ in range(n):
        ref = [rng.choice(words) for _ in range(rng.randint(1, 15))]
        hyp = [w if rng.random() > 0.25 else rng.choice(words) for w in ref if rng.random() > 0.1]
        refs.append(" ".join(ref).capitalize())
        hyps.append(" ".join(hyp))
    return hyps, refs


@pytest.mark.parametrize("corpus", ["hand-made", "noisy"])
def test_bleu_and_chrf_match_sacrebleu(corpus):
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps, refs = (HYPS, REFS) if corpus == "hand-made" else _noisy_corpus()
    ours, theirs = metrics.corpus_bleu(hyps, refs), sacrebleu.corpus_bleu(hyps, [refs])
    assert ours.score == pytest.approx(theirs.score, abs=1e-6)
    assert ours.precisions == pytest.approx(theirs.precisions, abs=1e-6)
    assert ours.brevity_penalty == pytest.approx(theirs.bp, abs=1e-9)
    assert (ours.hyp_len, ours.ref_len) == (theirs.sys_len, theirs.ref_len)
    assert metrics.corpus_chrf(hyps, refs) == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-6)


def test_bleu_edge_cases_match_sacrebleu():
    sacrebleu = pytest.importorskip("sacrebleu")
    for hyps, refs in [(["a b c d e"], ["a b c d e"]), (["a b"], ["a b c d e f"]), (["x y z"], ["a b c"]),
                       (["a b c x"], ["a b c d"]), ([""], ["a"])]:
        assert metrics.corpus_bleu(hyps, refs).score == pytest.approx(
            sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-6), (hyps, refs)
        assert metrics.corpus_chrf(hyps, refs) == pytest.approx(
            sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-6), (hyps, refs)
    assert metrics.corpus_bleu(["a b c d e"], ["a b c d e"]).score == pytest.approx(100.0)


def test_brevity_penalty_and_tokeniser():
    assert metrics.brevity_penalty(10, 8) == 1.0
    assert metrics.brevity_penalty(5, 10) == pytest.approx(2.718281828 ** (1 - 2))
    assert metrics.brevity_penalty(0, 10) == 0.0
    assert metrics.tokenize_13a("Nay, answer me: stand!") == ["Nay", ",", "answer", "me", ":", "stand", "!"]
    assert metrics.tokenize_13a("3.5 and 1,000") == ["3.5", "and", "1,000"]


def test_rouge_matches_rouge_score_with_stemming():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    hyps, refs = _noisy_corpus(60, seed=3)
    hyps, refs = hyps + HYPS + ["running runners ran quickly"], refs + REFS + ["the runner runs quick"]
    ours = metrics.rouge(hyps, refs, stem=True)
    for key in ("rouge1", "rouge2", "rougeL"):
        theirs = [scorer.score(r, h)[key] for h, r in zip(hyps, refs)]  # rouge_score takes (target, prediction)
        for field, attr in (("precision", "precision"), ("recall", "recall"), ("f", "fmeasure")):
            want = sum(getattr(s, attr) for s in theirs) / len(theirs)
            assert ours[key][field] == pytest.approx(want, abs=1e-9), (key, field)


def test_lcs_and_rouge_n_by_hand():
    assert metrics.lcs_length("ABCBDAB", "BDCABA") == 4
    assert metrics.rouge_n(["a", "b", "a"], ["a", "a", "c"], 1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert metrics.rouge_l([], ["a"]) == (0.0, 0.0, 0.0)


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        metrics.corpus_bleu(["a", "b"], ["a"])
    with pytest.raises(TypeError, match="not a single string"):
        metrics.corpus_bleu("a b", ["a b"])
    with pytest.raises(TypeError, match="must be a string"):
        metrics.corpus_chrf(["a"], [None])
    with pytest.raises(ValueError, match="empty"):
        metrics.corpus_chrf([], [])
    with pytest.raises(ValueError, match="predictions"):
        metrics.rouge(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="max_order"):
        metrics.corpus_bleu(["a"], ["a"], max_order=0)
