"""Key results a notebook reports to the rendered course (``make render``).

A notebook calls ``record("name", value)`` on the few numbers a teacher wants to see at a glance
(final loss, accuracy, the device it ran on). When the renderer (``tools/render_course.py``) runs the
notebook it sets ``$COURSE_REPORT_FILE``, and each call appends one JSON line to that file; the
renderer puts them in ``rendered/report.md``. Anywhere else (JupyterLab, Colab, the tests) a call
does nothing but hand the value back, so it can sit inside an expression::

    from helpers import report
    report.record("test accuracy", round(acc, 3))
"""

from __future__ import annotations

import json
import math
import os
import warnings

from . import validation as validate

REPORT_ENV = "COURSE_REPORT_FILE"


def _plain(value):
    """A JSON-friendly version of ``value``: tensors and NumPy scalars become Python numbers."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # torch / numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def record(name: str, value):
    """Report ``value`` as the key result ``name`` when the renderer runs; returns ``value``."""
    validate.string("name", name)
    path = os.environ.get(REPORT_ENV)
    if path:
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"name": str(name), "value": _plain(value)}) + "\n")
        except OSError as err:  # a stale path left in the environment must not break a lesson
            warnings.warn(f"could not record {name!r} to ${REPORT_ENV}={path}: {err}", stacklevel=2)
    return value


def read(path: str | os.PathLike) -> dict:
    """The key results recorded in ``path``, by name (a later record of a name replaces an earlier)."""
    path = validate.file_path("path", path, must_exist=False)
    if not path.exists():
        return {}
    results = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            results[item["name"]] = item["value"]
    return results
