"""Every dataset and pretrained model the course uses, loaded offline from pip-installed packages.

One idea per module:

    assets     the table of assets (which package ships each, how to install it), ``asset_path``
    cache      the disk cache for slow-to-build data: keyed by sources and arguments, atomic writes
    loaders    corpora (raw and tokenised), seeded sentiment splits, evaluation sets, GloVe, models
    entities   sentences whose named entities spaCy has machine-labelled (``entity_sentences``)

Everything is importable from ``helpers.data`` itself: ``data.corpus("imdb")``,
``data.sentiment(...)``, ``data.minilm_dir()``. Tokenised corpora are cached on disk under
``$COURSE_CACHE_DIR`` (default ``~/.cache/llm-course``).

Run ``python -m helpers.data`` to list the assets and ``python -m helpers.data install`` to
install whichever packages are missing (with ``--no-deps`` where the package needs it).
"""

from .assets import (ASSETS, PACKAGES, Asset, MissingAssetError, Package, UnknownAssetError, asset_path,
                     assets_table, install_command, install_missing, is_installed, package_dir)
from .cache import CACHE_ENV, PREPROCESS_VERSION, cache_dir, cache_key, cached, read_cache, write_cache
from .entities import ENTITY_TYPES, TaggedSentences, entity_sentences, spacy_model_dir, spacy_pipeline, spacy_tag
from .loaders import (LabelledTexts, analogies, corpus, documents, glove, minilm_dir, read_text_file, sentiment,
                      shakespeare_text, smollm2_gguf, split_indices, tokenize, tokenize_documents, word_pairs)
# Private names the tests reach for (kept where they were before the split).
from .assets import _main  # noqa: F401
from .loaders import _labelled_texts  # noqa: F401

__all__ = [
    "ASSETS", "PACKAGES", "Asset", "Package", "UnknownAssetError", "MissingAssetError", "package_dir",
    "install_command", "asset_path", "is_installed", "assets_table", "install_missing",
    "CACHE_ENV", "PREPROCESS_VERSION", "cache_dir", "cache_key", "write_cache", "read_cache", "cached",
    "shakespeare_text", "documents", "read_text_file", "tokenize", "tokenize_documents", "corpus",
    "LabelledTexts", "split_indices", "sentiment", "word_pairs", "analogies", "glove", "minilm_dir",
    "smollm2_gguf", "ENTITY_TYPES", "spacy_model_dir", "spacy_pipeline", "TaggedSentences", "spacy_tag",
    "entity_sentences",
]
