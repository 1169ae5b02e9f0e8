"""environment.yml (conda) installs what pyproject.toml (pip) declares: the same dependencies, the
test extra, and the same Python. Edit both together; this test names what differs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
ENV = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))


def normalise(requirements) -> dict[str, str]:
    """{canonical name: 'extras specifier ; marker'}: spelling-insensitive, order-insensitive."""
    out = {}
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name not in out, f"{req.name} is listed twice"
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        spec = ",".join(sorted(str(s) for s in req.specifier))
        out[name] = f"{extras}{spec}" + (f"; {req.marker}" if req.marker else "")
    return out


def conda_parts():
    conda, pip = [], None
    for dep in ENV["dependencies"]:
        if isinstance(dep, dict):
            pip = dep["pip"]
        else:
            conda.append(dep)
    assert pip is not None, "environment.yml has no pip: section"
    return conda, pip


def test_pip_dependencies_match_pyproject():
    _, pip = conda_parts()
    editable = [d for d in pip if d.startswith("-e")]
    assert editable == ["-e ."], "environment.yml must install the course itself with `-e .`"
    listed = normalise(d for d in pip if not d.startswith("-"))
    project = PYPROJECT["project"]
    declared = normalise(project["dependencies"] + project["optional-dependencies"]["test"])
    only_env = {k: v for k, v in listed.items() if declared.get(k) != v}
    only_pyproject = {k: v for k, v in declared.items() if listed.get(k) != v}
    assert not only_env and not only_pyproject, (
        f"environment.yml and pyproject.toml differ.\n  environment.yml: {only_env}\n"
        f"  pyproject.toml (dependencies + test extra): {only_pyproject}")


def test_python_requirement_matches():
    conda, _ = conda_parts()
    pythons = [d for d in conda if Requirement(d).name == "python"]
    assert len(pythons) == 1, "environment.yml must name python once"
    assert Requirement(pythons[0]).specifier == SpecifierSet(PYPROJECT["project"]["requires-python"])


def test_environment_name_matches_the_kernel():
    assert ENV["name"] == "llm-course"
