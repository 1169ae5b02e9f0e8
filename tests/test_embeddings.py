"""Tests of helpers.embeddings (word2vec, GloVe), its bad-input errors, and the checks of 01 to 03."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import embeddings as E
from helpers.checks import CheckFailed, check

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ a planted corpus


def planted_corpus(n_docs=300, groups=4, words_per_group=8, length=30, seed=0):
    """Documents that each draw their words from one of ``groups`` topics: a word's neighbours
    should be the words of its own topic."""
    rng = np.random.default_rng(seed)
    vocab = [[f"g{g}w{w}" for w in range(words_per_group)] for g in range(groups)]
    docs = []
    for i in range(n_docs):
        g = i % groups
        docs.append(list(rng.choice(vocab[g], size=length)))
    return docs, vocab


def group_margin(kv, vocab) -> float:
    """Mean cosine within topics minus mean cosine across topics."""
    words = [w for group in vocab for w in group]
    labels = np.repeat(np.arange(len(vocab)), len(vocab[0]))
    v = np.stack([kv[w] for w in words])
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    sim = v @ v.T
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(words), dtype=bool)
    return float(sim[same & off].mean() - sim[~same].mean())


@pytest.mark.parametrize("sg", [True, False], ids=["skip-gram", "cbow"])
def test_word2vec_learns_planted_topics(sg):
    docs, vocab = planted_corpus()
    m = E.train_word2vec(docs, dim=16, window=3, min_count=1, sample=0, epochs=5, sg=sg,
                         device="cpu", workers=1, progress=False)
    assert len(m.vocab) == 32 and m.wv.vector_size == 16
    margin = group_margin(m.wv, vocab)
    assert margin > 0.3, f"within-topic minus across-topic cosine is only {margin:.3f}"
    # the nearest neighbour of every word is in its own topic
    for group in vocab:
        assert m.wv.most_similar(group[0], topn=1)[0][0] in group
    assert m.losses[-1] < m.losses[0], "the loss should fall"


def test_glove_learns_planted_topics():
    docs, vocab = planted_corpus()
    m = E.train_glove(docs, dim=16, window=5, min_count=1, epochs=15, x_max=10, device="cpu",
                      workers=1, progress=False)
    margin = group_margin(m.wv, vocab)
    assert margin > 0.3, f"within-topic minus across-topic cosine is only {margin:.3f}"
    assert m.losses[-1] < 0.5 * m.losses[0]


def test_word2vec_on_a_real_corpus_finds_related_words():
    from helpers import data

    docs = data.corpus("lee")
    m = E.train_word2vec(docs, dim=50, window=5, min_count=3, epochs=10, device="cpu", workers=2,
                         progress=False, seed=0)
    # Lee is news: "police" should be closer to "officers" than to "cricket"
    assert m.wv.similarity("police", "officers") > m.wv.similarity("police", "cricket") + 0.1
    assert m.words_per_s > 0 and m.seconds > 0


# ------------------------------------------------------------------------------ the pieces


def test_keep_probabilities_match_gensim_formula():
    counts = np.array([100_000, 1_000, 10])
    p = E.keep_probabilities(counts, 1e-3)
    f = counts / counts.sum()
    np.testing.assert_allclose(p, np.minimum(1, (np.sqrt(f / 1e-3) + 1) * 1e-3 / f))
    assert p[0] < p[1] <= p[2] == 1.0
    assert (E.keep_probabilities(counts, 0) == 1).all()


def test_noise_distribution_flattens_unigrams():
    p = E.noise_distribution(np.array([1000, 10]))
    assert abs(p.sum() - 1) < 1e-12
    assert p[1] > 10 / 1010  # rare words are drawn more often than their frequency
    table = E._noise_table(np.array([1000, 10, 1]))
    share = np.bincount(table, minlength=3) / len(table)
    np.testing.assert_allclose(share, E.noise_distribution(np.array([1000, 10, 1])), atol=1e-4)


def test_pairs_respect_window_and_documents():
    ids = np.arange(10, dtype=np.int32)
    docs = np.array([0] * 6 + [1] * 4, dtype=np.int32)
    rng = np.random.default_rng(0)
    c, x = E.skipgram_pairs(ids, docs, window=3, rng=rng)
    assert len(c) == len(x) > 0
    assert (np.abs(c - x) <= 3).all() and (c != x).all()
    assert (docs[c] == docs[x]).all(), "a pair crosses a document boundary"
    # context windows hold the same pairs as skip-gram pairs (same seed, same window sizes)
    cw, ctx = E.context_windows(ids, docs, 3, np.random.default_rng(0), pad=-1)
    from_windows = sorted((int(a), int(b)) for a, row in zip(cw, ctx) for b in row if b != -1)
    assert from_windows == sorted(zip(c.tolist(), x.tolist()))


def test_dynamic_window_weights_near_words_more():
    rng = np.random.default_rng(0)
    ids = np.arange(20_000, dtype=np.int32)
    c, x = E.skipgram_pairs(ids, np.zeros_like(ids), window=5, rng=rng)
    dist = np.bincount(np.abs(c - x))[1:6] / (2 * len(ids))
    np.testing.assert_allclose(dist, [1.0, 0.8, 0.6, 0.4, 0.2], atol=0.02)  # (W - d + 1) / W


def test_sg_step_is_the_gradient_of_the_negative_sampling_loss():
    torch.manual_seed(0)
    V, D, K, lr = 12, 6, 3, 0.1
    w_in, w_out = torch.randn(V + 1, D) * 0.3, torch.randn(V, D) * 0.3
    w_in[V] = 0
    ctx = torch.tensor([[0, 1, V, V], [2, 3, 4, V]])  # two windows, padded with V
    out = torch.tensor([5, 6])
    neg = torch.tensor([[7, 8, 9], [10, 11, 7]])
    a_in, a_out = w_in.clone().requires_grad_(), w_out.clone().requires_grad_()
    loss = 0
    for b in range(2):
        for c in ctx[b][ctx[b] != V]:
            loss = loss + E.sgns_loss(a_in[c][None], a_out[out[b]][None], a_out[neg[b]][None])
    loss.backward()
    E._sg_step(w_in, w_out, ctx, out, neg, lr, pad=V)
    torch.testing.assert_close(w_in[:V], (a_in - lr * a_in.grad)[:V].detach(), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(w_out, (a_out - lr * a_out.grad).detach(), atol=1e-6, rtol=1e-5)


def test_glove_step_is_adagrad_on_the_weighted_least_squares():
    torch.manual_seed(0)
    V, D, lr = 6, 4, 0.05
    w, c, b, bc = torch.randn(V, D) * 0.3, torch.randn(V, D) * 0.3, torch.randn(V) * 0.1, torch.randn(V) * 0.1
    W = torch.cat([w, b[:, None], torch.ones(V, 1)], 1)  # [w | b | 1]
    C = torch.cat([c, torch.ones(V, 1), bc[:, None]], 1)  # [w~ | 1 | b~]
    mask_w, mask_c = torch.ones(D + 2), torch.ones(D + 2)
    mask_w[-1], mask_c[-2] = 0, 0
    i, j, x = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5]), torch.tensor([2.0, 50.0, 300.0])
    ref = [p.clone().requires_grad_() for p in (w, c, b, bc)]
    # the sum (not mean) of the weighted squared errors; the C code folds its factor 2 into lr
    loss = 0.5 * 3 * E.glove_loss(ref[0][i], ref[1][j], ref[2][i], ref[3][j], x)
    loss.backward()
    E._glove_step(W, C, torch.ones_like(W), torch.ones_like(C), i, j, torch.log(x), E.glove_weight(x),
                  lr, mask_w, mask_c)  # AdaGrad's first step, sums at 1: plain SGD
    want = [(r - lr * r.grad).detach() for r in ref]
    torch.testing.assert_close(W[:, :D], want[0])
    torch.testing.assert_close(C[:, :D], want[1])
    torch.testing.assert_close(W[:, D], want[2])
    torch.testing.assert_close(C[:, D + 1], want[3])
    assert (W[:, D + 1] == 1).all() and (C[:, D] == 1).all()


def test_cooccurrence_matrix_counts_with_distance_weights():
    ids = np.array([0, 1, 2, 0], dtype=np.int32)
    docs = np.array([0, 0, 0, 1], dtype=np.int32)  # the last word is another document
    X = E.cooccurrence_matrix(ids, docs, 3, window=2).toarray()
    want = np.array([[0, 1, 0.5], [1, 0, 1], [0.5, 1, 0]])
    np.testing.assert_allclose(X, want)
    X1 = E.cooccurrence_matrix(ids, docs, 3, window=2, distance_weighting=False).toarray()
    assert X1[0, 2] == 1


def test_glove_weight():
    x = torch.tensor([1.0, 100.0, 1000.0])
    torch.testing.assert_close(E.glove_weight(x), torch.tensor([100 ** -0.75, 1.0, 1.0]))


def test_keyed_vectors_and_evaluation_report_skips():
    from helpers import data

    kv = data.glove(max_words=10_000)  # the reference (30,000 words): 0.503 and 0.497
    ev = E.evaluate(kv, max_oov=0.7)
    assert 0.4 < ev["wordsim353"] < 0.7 and 0.45 < ev["analogy"] < 0.8
    assert ev["wordsim353_total"] == 353 and 0 <= ev["wordsim353_skipped"] < 120
    assert ev["analogy_skipped"] + 0 < ev["analogy_total"] == 19_544
    words = ["alpha", "beta"]
    kv2 = E.to_keyed_vectors(words, torch.eye(2))
    assert kv2.index_to_key == words and kv2.most_similar("alpha", topn=1)[0][0] == "beta"


# ------------------------------------------------------------------------------ bad input


def test_unknown_word_suggests_close_matches():
    docs, _ = planted_corpus(n_docs=40)
    vocab = E.Vocab.from_corpus(docs, min_count=1)
    with pytest.raises(KeyError, match="g1w3"):
        vocab.id("g1w3x")
    kv = E.to_keyed_vectors(["movie", "movies", "film"], torch.randn(3, 4))
    with pytest.raises(KeyError, match="Close matches: movie"):
        E.neighbours(kv, "moive")
    with pytest.raises(KeyError, match="lower-case"):
        E.analogy(kv, "Movie", "film", "movies")


def test_empty_and_tiny_corpora_are_refused():
    with pytest.raises(ValueError, match="empty"):
        E.train_word2vec([], progress=False)
    with pytest.raises(ValueError, match="no words"):
        E.Vocab.from_corpus([[], []])
    with pytest.raises(ValueError, match="distinct words"):
        E.train_word2vec([["a", "b", "a"]] * 10, min_count=1, progress=False)
    with pytest.raises(TypeError, match="list of words"):
        E.train_word2vec(["a whole sentence as a string"], progress=False)
    with pytest.raises(ValueError, match="distinct words"):
        E.train_glove([["rare", "words", "only"]], min_count=5, progress=False)


@pytest.mark.parametrize("kwargs, message", [
    ({"window": 0}, "window"), ({"window": 2.5}, "window"), ({"dim": 0}, "dim"),
    ({"dim": -3}, "dim"), ({"negative": 0}, "negative"), ({"epochs": 0}, "epochs"),
    ({"min_count": 0}, "min_count"), ({"sample": -1.0}, "sample"), ({"alpha": 0}, "alpha"),
])
def test_nonsense_settings_are_refused(kwargs, message):
    docs, _ = planted_corpus(n_docs=40)
    with pytest.raises(ValueError, match=message):
        E.train_word2vec(docs, min_count=kwargs.pop("min_count", 1), progress=False, **kwargs)


def test_glove_nonsense_settings_are_refused():
    docs, _ = planted_corpus(n_docs=40)
    with pytest.raises(ValueError, match="window"):
        E.train_glove(docs, window=0, min_count=1, progress=False)
    with pytest.raises(ValueError, match="dim"):
        E.train_glove(docs, dim=0, min_count=1, progress=False)


def test_evaluation_on_mostly_unknown_words_says_how_many_were_skipped():
    docs, _ = planted_corpus(n_docs=40)
    m = E.train_word2vec(docs, dim=8, min_count=1, sample=0, epochs=1, device="cpu", progress=False)
    with pytest.raises(ValueError, match=r"353 of 353 pairs"):
        E.evaluate(m.wv)
    with pytest.raises(ValueError, match="sets must be one of"):
        E.evaluate(m.wv, sets=["toefl"])


# ------------------------------------------------------------------------------ graded exercises


def _solutions(name):
    path = ROOT / "lessons" / "solutions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"solutions_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SOLUTION_FILES = [p.stem for p in sorted((ROOT / "lessons" / "solutions").glob("0[123]_*.py"))]


@pytest.mark.parametrize("name", SOLUTION_FILES)
def test_solutions_pass_and_wrong_answers_fail(name, capsys):
    mod = _solutions(name)
    assert set(mod.SOLUTIONS) == set(mod.WRONG) and mod.SOLUTIONS
    for id, fn in mod.SOLUTIONS.items():
        check(id, fn)
    for id, fn in mod.WRONG.items():
        with pytest.raises(CheckFailed) as err:
            check(id, fn)
        assert "not yet" in str(err.value) and len(str(err.value)) > 60
