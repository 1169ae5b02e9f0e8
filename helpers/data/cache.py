"""The disk cache for tokenised corpora and other slow-to-build data.

Files live under ``$COURSE_CACHE_DIR`` (default ``~/.cache/llm-course``). A cache file's name is a
hash of its source files (path, size, modification time), the preprocessing version and the
loader's arguments, so changing any of them rebuilds it; a file is written atomically and checked
against its own checksum on reading, so a write cut short is rebuilt rather than read as data.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from .. import validation as validate

# Bump when a tokeniser or cleaning step changes: every cached corpus is then rebuilt.
PREPROCESS_VERSION = 1
CACHE_ENV = "COURSE_CACHE_DIR"
_MAGIC = b"LLMCOURSE-CACHE-1\n"


def cache_dir() -> Path:
    """The cache folder (``$COURSE_CACHE_DIR``, default ``~/.cache/llm-course``), created if needed."""
    where = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "llm-course"
    return validate.dir_path(f"${CACHE_ENV}", where, writable=True)


def _sources(sources) -> list[Path]:
    if isinstance(sources, (str, bytes, os.PathLike)) or not isinstance(sources, (list, tuple)):
        raise validate.ArgumentTypeError(f"sources must be a list of paths (wrap one path in a list); got "
                                         f"{type(sources).__name__}.")
    return [validate.file_path(f"sources[{i}]", p, must_exist=False) if not Path(p).is_dir() else Path(p)
            for i, p in enumerate(sources)]


def _fingerprint(paths: Sequence[Path]) -> list:
    """What identifies the source files cheaply: path, size and modification time of each."""
    out = []
    for p in paths:
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        out += [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files if f.is_file()]
    return out


def cache_key(label: str, sources: Sequence[Path], **params) -> str:
    """The cache file's name for ``label``: a hash of the sources' fingerprints, the preprocessing
    version and ``params``."""
    validate.string("label", label)
    if "/" in label or os.sep in label:
        raise validate.ArgumentValueError(f"label becomes a file name; it cannot hold a path separator: "
                                          f"{label!r}.")
    sources = _sources(sources)
    blob = json.dumps(
        {"label": label, "sources": _fingerprint(sources), "version": PREPROCESS_VERSION,
         "params": params},
        sort_keys=True, default=str,
    )
    return f"{label}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def write_cache(path: Path, obj) -> None:
    """Pickle ``obj`` to ``path`` atomically, with a checksum that makes a torn file detectable."""
    path = validate.file_path("path", path, must_exist=False, writable=True)
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
    path = validate.file_path("path", path, must_exist=False)
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
    try:
        return pickle.loads(payload)
    except (AttributeError, ImportError):  # written by another version of the course: rebuild
        return None


def cached(label: str, sources: Sequence[Path], build: Callable[[], object], **params):
    """``build()``'s result, from the disk cache when its sources and parameters are unchanged."""
    validate.callable_("build", build)
    path = cache_dir() / (cache_key(label, sources, **params) + ".pkl")
    obj = read_cache(path)
    if obj is None:
        obj = build()
        write_cache(path, obj)
    return obj
