"""Property-based tests of every public function of helpers.selection: valid arguments drawn by
hypothesis work, and bad ones are refused with the course's own error naming the argument, before any
work starts (see tests/_properties.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _properties import covers as shared_covers
from _properties import FAST, FEW, TALLY, bad_int, bad_real, public_functions, refuses
from helpers import data
from helpers import selection as S

COVERED: set[str] = set()
EXEMPT = {"Paper": "a record (dataclass)", "Pair": "a record (dataclass)"}


def covers(*names):
    """Mark a property test here and in the shared registry (tests/test_properties_coverage.py reads it)."""
    COVERED.update(names)
    return shared_covers(S, *names)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(data.minilm_dir())


@pytest.fixture(scope="module")
def few_pairs():
    return S.selection_pairs(S.aclsum_papers("validation")[:1], ["challenge"])[:12]


RANKING = st.integers(1, 25).flatmap(lambda n: st.tuples(
    st.lists(st.floats(-5, 5, allow_nan=False), min_size=n, max_size=n),
    st.lists(st.integers(0, 1), min_size=n, max_size=n)))
NOT_PAIRS = st.one_of(st.just([]), st.text(max_size=3), st.integers(), st.lists(st.integers(), min_size=1, max_size=2))


@covers("average_precision", "precision_at_k")
@FAST
@given(ranking=RANKING, k=st.integers(1, 6), bad_k=bad_int(1), bad_label=st.integers(2, 9))
def test_measures(ranking, k, bad_k, bad_label):
    scores, labels = ranking
    ap, pk = S.average_precision(scores, labels), S.precision_at_k(scores, labels, k)
    assert 0 <= ap <= 1 and 0 <= pk <= 1
    assert (ap == 0) == (sum(labels) == 0)
    perfect = [float(y) for y in labels]  # every relevant item ranked first
    assert S.average_precision(perfect, labels) == (1.0 if sum(labels) else 0.0)
    refuses(lambda: S.precision_at_k(scores, labels, bad_k), "k")
    refuses(lambda: S.average_precision(scores, labels[:-1] + [bad_label]), "labels")
    refuses(lambda: S.average_precision(scores + [0.0], labels), "scores")
    refuses(lambda: S.average_precision("high", labels), "scores")


@covers("aclsum_papers", "selection_pairs", "lead_scores", "tfidf_scores", "ranking_scores")
@FEW
@given(split=st.sampled_from(["train", "validation", "test"]), aspect=st.sampled_from(S.ASPECTS),
       bad_split=st.text(max_size=5).filter(lambda s: s not in S.SPLITS), bad_pairs=NOT_PAIRS,
       show=st.booleans())
def test_papers_pairs_and_baselines(split, aspect, bad_split, bad_pairs, show):
    papers = S.aclsum_papers(split)[:2]
    pairs = S.selection_pairs(papers, [aspect], show_section=show)
    assert len(pairs) == sum(len(p.sentences) for p in papers) and all(p.group[1] == aspect for p in pairs)
    for scores in (S.lead_scores(pairs), S.tfidf_scores(pairs)):
        r = S.ranking_scores(scores, pairs)
        assert r["rankings"] == 2 and 0 <= r["map"] <= 1 and set(r["by_aspect"]) == {aspect}
    refuses(lambda: S.aclsum_papers(bad_split), "split")
    refuses(lambda: S.selection_pairs(papers, [aspect + "s"]), "aspects")
    refuses(lambda: S.selection_pairs(papers, aspect), "aspects")
    refuses(lambda: S.selection_pairs(papers, show_section=1), "show_section")
    refuses(lambda: S.selection_pairs(bad_pairs), "papers")
    for fn in (S.lead_scores, S.tfidf_scores):
        refuses(lambda: fn(bad_pairs), "pairs")
    refuses(lambda: S.tfidf_scores(pairs, fit_on="one text"), "fit_on")
    refuses(lambda: S.ranking_scores(S.lead_scores(pairs)[:-1], pairs), "scores")
    refuses(lambda: S.ranking_scores(S.lead_scores(pairs), pairs, k=0), "k")


@covers("encode_pairs", "cross_encoder", "fine_tune_selection", "pair_scores")
@FEW
@given(max_length=st.integers(16, 64), bad_length=bad_int(16), bad_steps=bad_int(1), bad_lr=bad_real(0.0),
       bad_pooling=st.text(max_size=4).filter(lambda s: s not in ("mean", "cls")))
def test_cross_encoder(tokenizer, few_pairs, max_length, bad_length, bad_steps, bad_lr, bad_pooling):
    enc = S.encode_pairs(tokenizer, few_pairs, max_length=max_length)
    assert enc.input_ids.shape[0] == len(few_pairs) and enc.input_ids.shape[1] <= max_length
    model = S.cross_encoder(seed=0)
    S.fine_tune_selection(model, enc, enc, steps=1, batch_size=4, eval_iters=1, progress=False, device="cpu")
    scores = S.pair_scores(model, enc)
    assert scores.shape == (len(few_pairs),) and np.isfinite(scores).all()
    refuses(lambda: S.encode_pairs(tokenizer, few_pairs, max_length=bad_length), "max_length")
    refuses(lambda: S.encode_pairs(tokenizer, []), "pairs")
    refuses(lambda: S.cross_encoder(pooling=bad_pooling), "pooling")
    refuses(lambda: S.fine_tune_selection(model, enc, enc, steps=bad_steps), "steps")
    refuses(lambda: S.fine_tune_selection(model, enc, enc, lr=bad_lr), "lr")
    refuses(lambda: S.fine_tune_selection(model, few_pairs, enc), "train")
    refuses(lambda: S.pair_scores(model, few_pairs), "encoded")


def test_every_public_function_has_a_property_test():
    public = public_functions(S, EXEMPT)
    assert not public - COVERED, f"public names of helpers.selection without a property test: {sorted(public - COVERED)}"
    assert COVERED <= public, "a covered name is gone"


def test_zz_bad_inputs_all_got_a_clear_error():
    assert TALLY["tried"] == TALLY["clear"] > 0
