"""Property-based tests of every public function of helpers.data and helpers.embeddings: valid
arguments drawn by hypothesis work, and bad ones are refused with the course's own error naming
the argument, before any work starts (see tests/_properties.py)."""

from __future__ import annotations

import atexit
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from _properties import (BAD_BOOL, BAD_POSITIVE, BAD_PROBABILITY, BAD_STR_LIST, FAST, FEW, TALLY,
                         WORD, arrays, bad_int, bad_real, covers, one_bad, refuses)
from helpers import data
from helpers import embeddings as E

TMP = Path(tempfile.mkdtemp(prefix="course-properties-"))
atexit.register(shutil.rmtree, TMP, ignore_errors=True)


@pytest.fixture(scope="module")
def glove_kv():
    return data.glove(max_words=30_000)


# A small corpus of real documents: 12 documents of 10 distinct words from a 40-word vocabulary.
WORDS = [f"w{c}{d}" for c in "abcd" for d in "abcdefghij"]
CORPUS = st.lists(st.permutations(WORDS).map(lambda p: list(p[:10])), min_size=12, max_size=12)
FIXED = [WORDS[i % 7::3] for i in range(12)]
UNKNOWN_NAME = st.text(min_size=1, max_size=8).filter(lambda s: s not in data.ASSETS)


# --- data: assets and the cache ----------------------------------------------------------------


@covers(data, "package_dir", "install_command", "asset_path", "is_installed", "assets_table", "install_missing")
@FAST
@given(name=st.sampled_from(sorted(data.ASSETS)), bad=UNKNOWN_NAME, bad_type=st.one_of(st.integers(), st.none()))
def test_assets(name, bad, bad_type):
    assert data.is_installed(name) and data.asset_path(name).exists()
    assert data.install_command(name).startswith("pip install")
    assert data.package_dir(data.ASSETS[name].package).is_dir()
    for fn in (data.asset_path, data.install_command, data.is_installed):
        refuses(lambda: fn(bad), "asset")
        refuses(lambda: fn(bad_type), "name")
    refuses(lambda: data.package_dir(bad), "package")
    assert {row["asset"] for row in data.assets_table()} == set(data.ASSETS)
    assert data.install_missing(dry_run=True) == []
    refuses(lambda: data.install_missing(dry_run="no"), "dry_run")


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                       lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=3), kids, max_size=3),
                       max_leaves=8)


@covers(data, "cache_dir", "cache_key", "write_cache", "read_cache", "cached")
@FAST
@given(obj=JSONISH, label=st.from_regex(r"[a-z]{1,8}", fullmatch=True),
       bad=one_bad(label=st.one_of(st.integers(), st.just("a/b"), st.just("")),
                   sources=st.one_of(st.just("file.txt"), st.integers())))
def test_cache(obj, label, bad):
    assert data.cache_dir().is_dir()
    path = TMP / f"{label}.pkl"
    data.write_cache(str(path), obj)
    assert data.read_cache(path) == obj
    assert data.cached(f"prop-{label}", [], lambda: obj) == data.read_cache(
        data.cache_dir() / (data.cache_key(f"prop-{label}", []) + ".pkl"))
    assert data.cache_key(label, [path]).startswith(label)
    name, value = bad
    refuses(lambda: data.cache_key(**{"label": label, "sources": [], name: value}), name)
    refuses(lambda: data.write_cache(TMP, obj), "path")
    refuses(lambda: data.read_cache(TMP), "path")
    refuses(lambda: data.write_cache(TMP / "no" / "f.pkl", obj), "path")
    refuses(lambda: data.cached(label, [], obj), "build")


# --- data: loaders -----------------------------------------------------------------------------

TEXT = st.lists(WORD, min_size=1, max_size=8).map(" ".join)


@covers(data, "tokenize", "tokenize_documents", "read_text_file")
@FAST
@given(docs=st.lists(TEXT, min_size=1, max_size=5), bad=BAD_STR_LIST, bad_min=bad_int(1))
def test_tokenising(docs, bad, bad_min):
    assert data.tokenize(docs[0]) == docs[0].split()
    refuses(lambda: data.tokenize(docs), "doc")
    assert data.tokenize_documents(docs) == [d.split() for d in docs]
    refuses(lambda: data.tokenize_documents(bad), "docs")
    refuses(lambda: data.tokenize_documents(docs, min_tokens=bad_min), "min_tokens")
    f = TMP / "text.txt"
    f.write_text("\n".join(docs), encoding="utf-8")
    assert data.read_text_file(str(f)) == "\n".join(docs)
    for bad_path in (TMP, TMP / "missing.txt", 3):
        refuses(lambda: data.read_text_file(bad_path), "path")


@covers(data, "documents", "corpus", "shakespeare_text")
@FAST
@given(name=st.sampled_from(["lee", "pang_lee", "rotten_tomatoes"]), n=st.integers(1, 400),
       bad=bad_int(1, optional=True), bad_name=st.sampled_from(["wordsim353", "minilm", "glove-6b-50d"]))
def test_corpora(name, n, bad, bad_name):
    docs = data.documents(name)
    corpus = data.corpus(name, max_docs=n)
    assert len(corpus) == min(n, len(data.corpus(name))) and all(isinstance(w, str) for w in corpus[0])
    assert len(docs) >= len(data.corpus(name))
    refuses(lambda: data.corpus(name, max_docs=bad), "max_docs")
    refuses(lambda: data.corpus(bad_name), "name")
    refuses(lambda: data.documents(bad_name), "name")
    refuses(lambda: data.corpus("shakspeare"), "asset")
    assert "To be, or not to be" in data.shakespeare_text()


FRACTIONS = st.lists(st.floats(0.05, 1), min_size=1, max_size=4).map(lambda xs: [x / sum(xs) for x in xs])


@covers(data, "split_indices", "sentiment")
@FAST
@given(labels=st.lists(st.integers(0, 2), min_size=0, max_size=40), fractions=FRACTIONS, seed=st.integers(0, 99),
       n=st.integers(30, 300),
       bad=one_bad(fractions=st.one_of(st.just((0.5, 0.6, -0.1)), st.just((0.5, 0.5)), st.just("0.8"),
                                       st.just((0.8, float("nan"), 0.2))),
                   seed=bad_int(0), max_examples=st.one_of(bad_int(1, 8530, optional=True), st.integers(1, 5)),
                   source=st.sampled_from(["imdb!", "lee", ""])))
def test_splits(labels, fractions, seed, n, bad):
    parts = data.split_indices(np.array(labels, dtype=np.int64), fractions, seed)
    together = np.sort(np.concatenate(parts))
    assert len(parts) == len(fractions) and together.tolist() == list(range(len(labels)))
    refuses(lambda: data.split_indices(["a"] * 3, fractions, seed), "labels")
    refuses(lambda: data.split_indices(labels, [f + 0.1 for f in fractions], seed), "fractions")
    s = data.sentiment("rotten_tomatoes", seed=seed, max_examples=n)
    assert abs(sum(map(len, s.values())) - n) <= 2 and all(len(p) for p in s.values())
    name, value = bad
    refuses(lambda: data.sentiment(**{"source": "rotten_tomatoes", name: value}), name)


@covers(data, "word_pairs", "analogies", "glove", "minilm_dir", "smollm2_gguf")
@FEW
@given(name=st.sampled_from(["wordsim353", "simlex999"]), n=st.integers(1, 2000), bad=bad_int(1, optional=True),
       bad_name=st.sampled_from(["analogies", "lee", 3]))
def test_evaluation_sets_and_models(name, n, bad, bad_name):
    assert all(isinstance(s, float) for _, _, s in data.word_pairs(name))
    refuses(lambda: data.word_pairs(bad_name), "name")
    assert len(data.analogies()) == 19_544
    assert len(data.glove(max_words=n)) == n
    refuses(lambda: data.glove(max_words=bad), "max_words")
    assert (data.minilm_dir() / "config.json").is_file() and data.smollm2_gguf().suffix == ".gguf"


@covers(data, "spacy_model_dir", "spacy_pipeline", "spacy_tag", "entity_sentences")
@FEW
@given(texts=st.lists(st.sampled_from(["Tom Hanks flew to Paris.", "Nothing here.", "Rome in 1990."]),
                      min_size=1, max_size=3),
       bad=one_bad(texts=BAD_STR_LIST, types=st.one_of(st.just("PERSON"), st.just(["PEOPLE"]), st.just([])),
                   split_sentences=BAD_BOOL, progress=BAD_BOOL),
       bad_es=one_bad(n_docs=bad_int(3), fractions=st.just((0.5, 0.5)), seed=bad_int(0), min_words=bad_int(1),
                      max_words=bad_int(4), empty_fraction=BAD_PROBABILITY, types=st.just("GPE")))
def test_entities(texts, bad, bad_es):
    assert (data.spacy_model_dir() / "config.cfg").is_file() and data.spacy_pipeline() is data.spacy_pipeline()
    tagged = data.spacy_tag(texts)
    assert len(tagged) == len(texts) and all(len(w) == len(t) for w, t in zip(tagged.words, tagged.tags))
    name, value = bad
    refuses(lambda: data.spacy_tag(**{"texts": texts, name: value}), name)
    parts = data.entity_sentences("pang_lee", n_docs=5)
    assert set(parts) == {"train", "validation", "test"}
    name, value = bad_es
    refuses(lambda: data.entity_sentences(**{"source": "pang_lee", name: value}), name)


# --- embeddings: vocabulary and sampling -------------------------------------------------------


@covers(E, "Vocab", "check_word", "to_keyed_vectors")
@FAST
@given(corpus=CORPUS, min_count=st.integers(1, 3), bad_corpus=st.one_of(st.just("a b c"), st.just([]),
                                                                        st.just(["a b", "c d"]), st.integers()),
       bad=one_bad(min_count=bad_int(1), max_size=bad_int(1, optional=True), min_size=bad_int(1)))
def test_vocab(corpus, min_count, bad_corpus, bad):
    vocab = E.Vocab.from_corpus(corpus, min_count=min_count, min_size=1)
    assert list(vocab.counts) == sorted(vocab.counts, reverse=True) and vocab.counts.min() >= min_count
    ids, docs = vocab.encode(corpus)
    assert len(ids) == len(docs) and ids.max() < len(vocab)
    assert vocab.id(vocab.words[0]) == 0
    refuses(lambda: vocab.id("zz-not-a-word"), "vocabulary")
    refuses(lambda: E.check_word(3, vocab.index), "word")
    refuses(lambda: E.Vocab.from_corpus(bad_corpus), "corpus")
    name, value = bad
    refuses(lambda: E.Vocab.from_corpus(corpus, **{name: value}), name)
    kv = E.to_keyed_vectors(vocab.words, torch.randn(len(vocab), 3))
    assert kv.index_to_key == vocab.words
    refuses(lambda: E.to_keyed_vectors(" ".join(vocab.words), torch.randn(1, 3)), "words")
    refuses(lambda: E.to_keyed_vectors(vocab.words + vocab.words[:1], torch.randn(len(vocab) + 1, 3)), "words")
    refuses(lambda: E.to_keyed_vectors(vocab.words, torch.randn(len(vocab) + 1, 3)), "vector")
    refuses(lambda: E.to_keyed_vectors(vocab.words, [[0.0]] * len(vocab)), "vectors")


COUNTS = st.lists(st.integers(1, 10_000), min_size=1, max_size=20).map(np.array)
BAD_COUNTS = st.one_of(st.just("counts"), st.just([]), st.just([[1, 2]]), st.just([1, -1]), st.just([0, 0]),
                       st.just(["a"]), st.integers())


@covers(E, "keep_probabilities", "noise_distribution")
@FAST
@given(counts=COUNTS, sample=st.floats(0, 1e-2), power=st.floats(0, 1), bad_counts=BAD_COUNTS,
       bad_sample=bad_real(0.0), bad_power=bad_real(0.0))
def test_sampling_distributions(counts, sample, power, bad_counts, bad_sample, bad_power):
    keep = E.keep_probabilities(counts, sample)
    assert keep.shape == counts.shape and ((keep > 0) & (keep <= 1)).all()
    p = E.noise_distribution(counts, power)
    assert math.isclose(p.sum(), 1.0) and (p > 0).all()
    refuses(lambda: E.keep_probabilities(bad_counts), "counts")
    refuses(lambda: E.noise_distribution(bad_counts), "counts")
    refuses(lambda: E.keep_probabilities(counts, bad_sample), "sample")
    refuses(lambda: E.noise_distribution(counts, bad_power), "power")


@covers(E, "skipgram_pairs", "context_windows", "cooccurrence_matrix")
@FAST
@given(ids=arrays(), window=st.integers(1, 4), seed=st.integers(0, 9),
       bad=one_bad(ids=st.one_of(st.just([1, 2]), arrays(np.float32), st.just(np.array([-1, 2]))),
                   window=bad_int(1, 100), rng=st.one_of(st.integers(), st.none())))
def test_pairs_and_cooccurrences(ids, window, seed, bad):
    docs = np.arange(len(ids)) // 5  # documents of 5 tokens
    rng = np.random.default_rng(seed)
    centers, contexts = E.skipgram_pairs(ids, docs, window, rng)
    assert len(centers) == len(contexts) and set(centers) <= set(ids.tolist())
    c, ctx = E.context_windows(ids, docs, window, rng, pad=-1)
    assert ctx.shape == (len(c), 2 * window) and (ctx != -1).any(axis=1).all()
    X = E.cooccurrence_matrix(ids, docs, 10, window)
    assert X.shape == (10, 10) and abs(X - X.T).max() < 1e-9
    name, value = bad
    args = {"ids": ids, "docs": docs[:len(value)] if name == "ids" and hasattr(value, "__len__") else docs,
            "window": window, "rng": rng, name: value}
    refuses(lambda: E.skipgram_pairs(**args), name)
    refuses(lambda: E.context_windows(**args, pad=-1), name)
    if name != "rng":
        refuses(lambda: E.cooccurrence_matrix(**{k: v for k, v in args.items() if k != "rng"}, vocab_size=10), name)
    refuses(lambda: E.skipgram_pairs(ids, docs[:-1], window, rng), "ids and docs")
    refuses(lambda: E.cooccurrence_matrix(ids, docs, int(ids.max())), "vocab_size")


@covers(E, "sgns_loss", "glove_weight", "glove_loss")
@FAST
@given(B=st.integers(1, 4), K=st.integers(1, 3), D=st.integers(1, 5), x_max=st.floats(1, 100),
       bad_x_max=BAD_POSITIVE)
def test_losses(B, K, D, x_max, bad_x_max):
    c, o, n = torch.randn(B, D), torch.randn(B, D), torch.randn(B, K, D)
    assert E.sgns_loss(c, o, n).item() >= 0
    refuses(lambda: E.sgns_loss(c, o, n[0]), "negatives")
    refuses(lambda: E.sgns_loss(c.long(), o, n), "center")
    refuses(lambda: E.sgns_loss(c, torch.randn(B + 1, D), n), "context")
    x = torch.rand(B) * 200 + 0.5
    f = E.glove_weight(x, x_max)
    assert ((f > 0) & (f <= 1)).all() and (f[x >= x_max] == 1).all()
    refuses(lambda: E.glove_weight(x, bad_x_max), "x_max")
    refuses(lambda: E.glove_weight([1.0]), "x")
    assert E.glove_loss(c, o, torch.zeros(B), torch.zeros(B), x).item() >= 0
    refuses(lambda: E.glove_loss(c, o, torch.zeros(B + 1), torch.zeros(B), x), "b_i")


# --- embeddings: the two trainers --------------------------------------------------------------

W2V_BAD = one_bad(dim=bad_int(1, 10_000), window=bad_int(1, 100), negative=bad_int(1, 100), min_count=bad_int(1),
                  sample=bad_real(0.0), epochs=bad_int(1), sg=BAD_BOOL, alpha=bad_real(0.0, low_open=True, optional=True),
                  min_alpha=bad_real(0.0), batch_size=bad_int(1, optional=True), chunk_words=bad_int(1),
                  max_vocab=bad_int(1, optional=True), workers=bad_int(1, 256), seed=bad_int(0), progress=BAD_BOOL,
                  device=st.sampled_from(["gpu", 3]))
GLOVE_BAD = one_bad(dim=bad_int(1, 10_000), window=bad_int(1, 100), min_count=bad_int(1), epochs=bad_int(1),
                    x_max=BAD_POSITIVE, alpha=BAD_POSITIVE, lr=BAD_POSITIVE, batch_size=bad_int(1, optional=True),
                    max_vocab=bad_int(1, optional=True), workers=bad_int(1, 256), seed=bad_int(0),
                    progress=BAD_BOOL, device=st.sampled_from(["gpu", 3]),
                    cooccurrences=st.one_of(st.just(("vocab", "X")), st.just(3)))


@covers(E, "train_word2vec")
@FAST
@given(corpus=CORPUS, sg=st.booleans(), bad=W2V_BAD)
def test_train_word2vec(corpus, sg, bad):
    model = E.train_word2vec(corpus, dim=4, window=2, negative=2, min_count=1, epochs=1, sg=sg, workers=1,
                             device="cpu", progress=False)
    assert len(model.vocab) == model.wv.vectors.shape[0] and model.losses and np.isfinite(model.losses).all()
    name, value = bad
    refuses(lambda: E.train_word2vec(FIXED, **{"min_count": 1, "progress": False, name: value}), name)


@covers(E, "train_glove")
@FAST
@given(corpus=CORPUS, bad=GLOVE_BAD)
def test_train_glove(corpus, bad):
    model = E.train_glove(corpus, dim=4, window=2, min_count=1, epochs=2, workers=1, device="cpu", progress=False)
    assert len(model.losses) == 2 and np.isfinite(model.losses).all()
    again = E.train_glove(corpus, dim=4, epochs=1, device="cpu", progress=False,
                          cooccurrences=(model.vocab, E.cooccurrence_matrix(*model.vocab.encode(corpus),
                                                                            len(model.vocab), 2)))
    assert again.nonzeros == model.nonzeros
    name, value = bad
    refuses(lambda: E.train_glove(FIXED, **{"min_count": 1, "progress": False, name: value}), name)


# --- embeddings: evaluation --------------------------------------------------------------------


@covers(E, "neighbours", "analogy", "analogy_accuracy", "evaluate")
@FEW
@given(word=st.sampled_from(["king", "movie", "paris"]), topn=st.integers(1, 5), bad_topn=bad_int(1),
       bad=one_bad(kv=st.one_of(st.just({"a": 1}), st.just("kv")), restrict_vocab=bad_int(1),
                   max_oov=BAD_PROBABILITY, sets=st.one_of(st.just("analogy"), st.just(["toefl"]))))
def test_evaluation(glove_kv, word, topn, bad_topn, bad):
    assert len(E.neighbours(glove_kv, word, topn)) == topn
    assert len(E.analogy(glove_kv, "man", "king", "woman", topn)) == topn
    refuses(lambda: E.neighbours(glove_kv, word + "qqq"), "vocabulary")
    refuses(lambda: E.neighbours(glove_kv, word, bad_topn), "topn")
    refuses(lambda: E.analogy(glove_kv, "man", "king", 3), "word")
    questions = [("x", "man", "king", "woman", "queen"), ("athens", "greece", "paris", "france")]
    assert 0 <= E.analogy_accuracy(glove_kv, questions) <= 1
    refuses(lambda: E.analogy_accuracy(glove_kv, "man king woman queen"), "questions")
    refuses(lambda: E.analogy_accuracy(glove_kv, [("man", "king")]), "Question 0")
    refuses(lambda: E.analogy_accuracy(glove_kv, questions, batch=bad_topn), "batch")
    scores = E.evaluate(glove_kv, sets=("wordsim353",))
    assert -1 <= scores["wordsim353"] <= 1
    name, value = bad
    refuses(lambda: E.evaluate(**{"kv": glove_kv, name: value}), name)


# --- (tests/test_properties_coverage.py checks that every public name has a property test) ---


def test_zz_bad_inputs_all_got_a_clear_error():
    """Runs last in this file: every bad input tried above got the course's own error."""
    print(f"\nbad inputs tried: {TALLY['tried']}, clear errors: {TALLY['clear']}")
    assert TALLY["tried"] == TALLY["clear"] > 0
