"""Key results a notebook reports to the rendered course (``make render``).

A notebook calls ``record("name", value)`` on the few numbers a teacher wants to see at a glance
(final loss, accuracy, the device it ran on). When the renderer (``tools/render_course.py``) runs the
notebook it sets ``$COURSE_REPORT_FILE``, and each call appends one JSON line to that file; the
renderer puts them in ``rendered/report.md``. Anywhere else (JupyterLab, Colab, the tests) a call
does nothing but hand the value back, so it can sit inside an expression::

    from helpers import report
    report.record("test accuracy", round(acc, 3))

Claims that hold only at full size go through ``claim("name", condition, "detail")``: in test mode
(``$COURSE_SMOKE=1``) it stays silent, since a few steps of training prove nothing; in full mode it
prints a warning when the claim does not hold, and under the renderer every claim is collected, listed
as held or failed in ``rendered/report.md``, and a failed one makes ``make verify`` exit non-zero::

    report.claim("fine-tuning beats the TF-IDF floor", acc > floor, f"{acc:.3f} vs {floor:.3f}")
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


def _append(item: dict) -> None:
    path = os.environ.get(REPORT_ENV)
    if path:
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(item) + "\n")
        except OSError as err:  # a stale path left in the environment must not break a lesson
            warnings.warn(f"could not record {item.get('name', item.get('claim'))!r} to ${REPORT_ENV}={path}: {err}", stacklevel=3)


def record(name: str, value):
    """Report ``value`` as the key result ``name`` when the renderer runs; returns ``value``."""
    validate.string("name", name)
    _append({"name": str(name), "value": _plain(value)})
    return value


def claim(name: str, condition, detail: str = "") -> bool:
    """A claim of the notebook's prose that holds at full size; returns whether it held.

    Test mode: silent. Full mode: a warning when it does not hold. Under the renderer: collected, and
    ``make verify`` fails when any claim failed."""
    validate.string("name", name)
    held = bool(condition)
    _append({"claim": str(name), "held": held, "detail": str(detail)})
    if not held and os.environ.get("COURSE_SMOKE", "0") not in ("1", "true", "True"):
        warnings.warn(f"claim not held at this run's size: {name} ({detail})", stacklevel=2)
    return held


def read(path: str | os.PathLike) -> dict:
    """The key results recorded in ``path``, by name (a later record of a name replaces an earlier)."""
    path = validate.file_path("path", path, must_exist=False)
    if not path.exists():
        return {}
    results = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            if "name" in item:
                results[item["name"]] = item["value"]
    return results


def read_claims(path: str | os.PathLike) -> list[dict]:
    """The claims recorded in ``path``, in order: ``{"claim", "held", "detail"}`` each."""
    path = validate.file_path("path", path, must_exist=False)
    if not path.exists():
        return []
    items = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return [item for item in items if "claim" in item]
