"""helpers.selection: average precision and precision at k on hand-computed rankings, ACLSum read from
the course asset, pairs laid out as [CLS] question [SEP] sentence [SEP], the baselines, and a tiny run
of the cross-encoder through the course's loop."""

import numpy as np
import pytest
from transformers import AutoTokenizer

from helpers import data
from helpers import selection as S
from helpers.validation import ArgumentValueError, ShapeError


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(data.minilm_dir())


@pytest.fixture(scope="module")
def test_papers():
    return S.aclsum_papers("test")


# ---- the measures, by hand ----------------------------------------------------------------------


def test_average_precision_hand_computed():
    # ranked: relevant, not, relevant -> precisions at the hits 1/1 and 2/3 -> AP = (1 + 2/3) / 2
    assert S.average_precision([3, 2, 1], [1, 0, 1]) == pytest.approx(5 / 6)
    # the scores decide the order, not the positions: ranked not, relevant, relevant -> (1/2 + 2/3) / 2
    assert S.average_precision([0.1, 0.9, 0.2], [1, 0, 1]) == pytest.approx(7 / 12)
    assert S.average_precision([5, 4, 3, 2], [0, 0, 0, 1]) == pytest.approx(1 / 4)
    assert S.average_precision([1, 2], [1, 1]) == 1.0
    assert S.average_precision([1, 2, 3], [0, 0, 0]) == 0.0  # nothing relevant
    assert S.average_precision([1, 1, 1], [0, 1, 0]) == pytest.approx(1 / 2)  # ties keep the given order


def test_precision_at_3_hand_computed():
    assert S.precision_at_k([0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 0, 1, 1]) == pytest.approx(1 / 3)
    assert S.precision_at_k([5, 1, 4, 3], [1, 1, 0, 1], k=3) == pytest.approx(2 / 3)  # ranked 1, 0, 1 (then 1)
    assert S.precision_at_k([2, 1], [0, 1]) == pytest.approx(1 / 2)  # fewer than 3 items: of all of them
    assert S.precision_at_k([3, 2, 1], [1, 1, 0], k=1) == 1.0


def test_average_precision_equals_scikit_learn_without_ties():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(2, 30))
        labels = rng.integers(0, 2, n)
        labels[0] = 1
        scores = rng.permutation(n).astype(float)
        assert S.average_precision(scores, labels) == pytest.approx(average_precision_score(labels, scores))


def test_ranking_scores_average_over_rankings():
    pairs = [S.Pair("q", "s", "s", y, (paper, "challenge"), i)
             for paper, ys in (("a", [1, 0, 1]), ("b", [0, 1])) for i, y in enumerate(ys)]
    scores = [3, 2, 1, 2, 1]  # a: AP 5/6, P@3 2/3; b: AP 1/2, P@3 1/2
    r = S.ranking_scores(scores, pairs)
    assert r["rankings"] == 2
    assert r["map"] == pytest.approx((5 / 6 + 1 / 2) / 2)
    assert r["p_at_3"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert r["by_aspect"]["challenge"]["map"] == pytest.approx(r["map"])


def test_bad_rankings_are_refused():
    with pytest.raises(ShapeError, match="scores and labels"):
        S.average_precision([1, 2, 3], [1, 0])
    with pytest.raises(ArgumentValueError, match="0 or 1"):
        S.average_precision([1, 2], [2, 0])
    with pytest.raises(ArgumentValueError, match="NaN"):
        S.precision_at_k([float("nan"), 1], [1, 0])
    with pytest.raises(ArgumentValueError, match="k must"):
        S.precision_at_k([1, 2], [1, 0], k=0)


# ---- ACLSum, pairs, baselines ---------------------------------------------------------------------


def test_aclsum_splits_and_highlights(test_papers):
    assert [len(S.aclsum_papers(s)) for s in ("train", "validation")] == [100, 50]
    assert len(test_papers) == 100
    for p in test_papers:
        assert len(p.sentences) == len(p.sections) > 0
        assert set(p.sections) <= set(S.SECTIONS) and p.sections[0] == "abstract"
        for a in S.ASPECTS:
            assert p.highlights[a].shape == (len(p.sentences),) and p.highlights[a].sum() >= 1
    with pytest.raises(ArgumentValueError, match="split"):
        S.aclsum_papers("dev")


def test_selection_pairs(test_papers):
    papers = test_papers[:3]
    pairs = S.selection_pairs(papers)
    assert len(pairs) == 3 * sum(len(p.sentences) for p in papers)
    first = pairs[0]
    assert first.question == S.QUESTIONS["challenge"] and first.group == (papers[0].id, "challenge")
    assert first.sentence == "abstract: " + papers[0].sentences[0] and first.text == papers[0].sentences[0]
    assert sum(p.label for p in pairs) == sum(int(p.highlights[a].sum()) for p in papers for a in S.ASPECTS)
    assert S.selection_pairs(papers, ["outcome"], show_section=False)[0].sentence == papers[0].sentences[0]
    with pytest.raises(ArgumentValueError, match="aspects"):
        S.selection_pairs(papers, ["result"])
    with pytest.raises(ArgumentValueError, match="papers"):
        S.selection_pairs([])


def test_encode_pairs_layout(tokenizer, test_papers):
    pairs = S.selection_pairs(test_papers[:1], ["approach"])
    enc = S.encode_pairs(tokenizer, pairs, max_length=24)
    assert enc.input_ids.shape == (len(pairs), 24) and enc.labels.tolist() == [p.label for p in pairs]
    text = tokenizer.decode(enc.input_ids[0])
    assert text.startswith("[CLS] " + S.QUESTIONS["approach"].lower()[:-1]) and text.count("[SEP]") == 2
    assert enc.truncated == sum(len(tokenizer(p.question, p.sentence)["input_ids"]) > 24 for p in pairs)


def test_baselines():
    pairs = [S.Pair(S.QUESTIONS["approach"], f"abstract: {t}", t, 0, ("p", "approach"), i)
             for i, t in enumerate(["We thank the reviewers .", "We propose a new method for parsing .",
                                    "Parsing is hard ."])]
    tfidf = S.tfidf_scores(pairs)
    assert tfidf.argmax() == 1 and tfidf[0] == 0.0  # shares "propose" and "method" with the question
    assert S.lead_scores(pairs).tolist() == [0.0, -1.0, -2.0]


@pytest.mark.slow
def test_cross_encoder_trains_through_the_course_loop(tokenizer, test_papers):
    pairs = S.selection_pairs(test_papers[:1], ["challenge"])[:24]
    enc = S.encode_pairs(tokenizer, pairs, max_length=48)
    model = S.cross_encoder(seed=0)
    history = S.fine_tune_selection(model, enc, enc, steps=2, batch_size=8, progress=False, device="cpu")
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()
    scores = S.pair_scores(model, enc)
    assert scores.shape == (len(pairs),) and np.isfinite(scores).all()
    assert 0 <= S.ranking_scores(scores, pairs)["map"] <= 1
