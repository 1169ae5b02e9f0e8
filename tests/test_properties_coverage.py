"""Every public function and class of every ``helpers`` module has a property test (or a reason in
tests/_properties.py's EXEMPT why it needs none). The registry is filled by the ``@covers(module,
"name")`` marks of tests/test_properties_*.py, all imported here, so this file also runs on its own."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import helpers
from _properties import COVERED, EXEMPT, EXEMPT_PREFIXES, defined_in, public_functions

# every test file that marks a property test with @covers (mostly tests/test_properties_*.py)
PROPERTY_FILES = sorted(p.stem for p in Path(__file__).parent.glob("test_*.py")
                        if p.stem != Path(__file__).stem and "@covers(" in p.read_text())


def helpers_modules() -> list:
    """Every module of the helpers package, sub-packages included (not ``__main__``, which would run)."""
    names = ["helpers"] + [m.name for m in pkgutil.walk_packages(helpers.__path__, "helpers.")]
    return [importlib.import_module(n) for n in names
            if not n.endswith("__main__") and not any(n.startswith(p) for p in EXEMPT_PREFIXES)]


def covered_names() -> set[str]:
    for name in PROPERTY_FILES:  # the @covers marks run on import
        importlib.import_module(name)
    return {defined_in(importlib.import_module(module), n) for module, names in COVERED.items() for n in names}


def test_every_public_function_has_a_property_test():
    public = {f"{m.__name__}.{n}" for m in helpers_modules() for n in public_functions(m)}
    covered = covered_names()
    missing = sorted(public - covered - set(EXEMPT))
    lines = []
    for full in missing:
        module, name = full.rsplit(".", 1)
        short = module.rsplit(".", 1)[-1]
        lines.append(f"  {full}:  @covers({short}, \"{name}\")  with  from {module.rsplit('.', 1)[0]} import {short}"
                     f"   (or EXEMPT: \"{full}\": \"<why>\",)")
    assert not missing, (
        f"{len(missing)} public name(s) of helpers have no property test. For each, add @covers(module, \"name\") "
        f"(from tests/_properties.py) above a hypothesis test in a tests/test_properties_<area>.py file that calls it "
        f"with valid arguments drawn by hypothesis and checks refuses(lambda: ..., \"<argument>\") for bad ones; "
        f"a name that needs none (a dataclass, an error type) goes into EXEMPT in tests/_properties.py with its "
        f"reason:\n" + "\n".join(lines))


def test_every_covered_or_exempt_name_still_exists():
    public = {f"{m.__name__}.{n}" for m in helpers_modules() for n in public_functions(m)}
    gone = sorted(set(EXEMPT) - public)
    assert not gone, f"EXEMPT in tests/_properties.py names what helpers no longer has (remove them): {gone}"
    assert covered_names() <= public | set(EXEMPT), "a @covers mark names a private or imported function"
