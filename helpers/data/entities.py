"""Named entities, machine-labelled by spaCy's small English pipeline (en_core_web_sm).

``spacy_tag`` labels texts as words with one BIO tag per word; ``entity_sentences`` builds a
seeded train / validation / test set of real sentences from a corpus, cached on disk. The tags are
spaCy's predictions, not human annotations.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .assets import MissingAssetError, asset_path, install_command
from .cache import cached
from .. import validation as validate
from .loaders import _fractions, _sources, documents, split_indices


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
    types = validate.list_of_str("types", types, hint='For example ["PERSON", "GPE"].')
    known = json.loads((spacy_model_dir() / "meta.json").read_text(encoding="utf-8"))["labels"]["ner"]
    unknown = [t for t in types if t not in known]
    if unknown:
        raise validate.ArgumentValueError(f"Unknown entity types {unknown}; spaCy's model knows "
                                          f"{', '.join(known)}.")
    return tuple(types)


def spacy_tag(texts: Sequence[str], types: Sequence[str] = ENTITY_TYPES, split_sentences: bool = False,
              progress: bool = False) -> TaggedSentences:
    """Machine-label ``texts`` with spaCy: each text (or, with ``split_sentences``, each of its
    sentences) as spaCy's words and a BIO tag per word. Entities of other types are tagged O."""
    texts = validate.list_of_str("texts", texts)
    split_sentences = validate.boolean("split_sentences", split_sentences)
    progress = validate.boolean("progress", progress)
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
    validate.string("source", source)
    fractions = _fractions(fractions, 3)
    seed = validate.non_negative_int("seed", seed)
    n_docs = validate.integer("n_docs", n_docs, low=3)
    min_words = validate.positive_int("min_words", min_words)
    max_words = validate.integer(f"max_words (at least min_words={min_words})", max_words, low=min_words)
    empty_fraction = validate.probability("empty_fraction", empty_fraction)
    types = sorted(_check_entity_types(types))
    docs = documents(source)
    if n_docs > len(docs):
        raise validate.ArgumentValueError(f"n_docs={n_docs} is impossible: {source} has {len(docs)} "
                                          f"documents; ask for between 3 and {len(docs)}.")

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
