"""Stamp every notebook with its "Open in Colab" link and a first cell that installs the course there.

    python -m tools.colab            # stamp (or re-stamp) notebooks/*.ipynb
    python -m tools.colab --check    # exit 1 if a notebook is not stamped or out of date
    python -m tools.colab notebooks/03_contextual.ipynb   # only these

The repository URL lives in one place, ``[tool.llm-course] repository`` in pyproject.toml. The two
cells this tool writes carry the cell tag ``colab``: re-running the tool replaces them (so a new URL
reaches every notebook), never duplicates them, and leaves every other cell untouched.

The install cell does nothing wherever the course is already importable (``make lab``, conda, the
tests); on Colab, or any fresh kernel without it, it pip-installs the course from the repository,
then the offline data packages (``python -m helpers.data install``), and the notebook goes on.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
TAG = "colab"
BADGE_ID, INSTALL_ID = "colab-badge", "colab-install"


def settings(pyproject: Path = ROOT / "pyproject.toml") -> dict:
    """``[tool.llm-course]`` of pyproject.toml: ``repository`` (required) and ``branch``."""
    text = pyproject.read_text(encoding="utf-8")
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:  # Python 3.10: the one table is simple enough to read by hand
        section = re.search(r"^\[tool\.llm-course\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
        table = dict(re.findall(r'^(\w+)\s*=\s*"([^"]*)"', section.group(1), re.M)) if section else {}
    else:
        table = tomllib.loads(text).get("tool", {}).get("llm-course", {})
    if "repository" not in table:
        raise SystemExit(f"{pyproject}: set the course's URL in [tool.llm-course] repository = \"...\"")
    return {"repository": table["repository"].rstrip("/"), "branch": table.get("branch", "main")}


def colab_url(repository: str, branch: str, notebook: str) -> str:
    m = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?", repository)
    if not m:
        raise SystemExit(f"Colab opens notebooks from GitHub; {repository!r} is not a GitHub URL.")
    owner, repo = m.groups()
    return f"https://colab.research.google.com/github/{owner}/{repo}/blob/{branch}/notebooks/{notebook}"


INSTALL_SOURCE = '''\
# On Colab, or wherever the course is missing, install it and its offline data; elsewhere: nothing.
# From a fork or another branch: set COURSE_REPOSITORY (and COURSE_BRANCH) before running this cell.
import importlib, os, subprocess, sys
from pathlib import Path

try:
    import helpers.data  # noqa: F401  (the course's own package)
except ImportError:
    checkout = next((p for p in (Path.cwd(), *Path.cwd().parents)
                     if (p / "pyproject.toml").exists() and (p / "helpers").is_dir()), None)
    repository = os.environ.get("COURSE_REPOSITORY", "{repository}")
    source = str(checkout) if checkout else f"git+{{repository}}@{{os.environ.get('COURSE_BRANCH', '{branch}')}}"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", source], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"Could not install the course from {{source}}:\\n{{done.stderr.strip()[-600:]}}\\n\\n"
            "Install it from a copy you have:   pip install /path/to/the/course\\n"
            "or point this cell at a fork:     os.environ['COURSE_REPOSITORY'] = 'https://github.com/<you>/<repo>'\\n"
            "and run this cell again.") from None
    subprocess.run([sys.executable, "-m", "helpers.data", "install"], check=True)
    importlib.invalidate_caches()'''


def colab_cells(notebook: str, repository: str, branch: str) -> list:
    url = colab_url(repository, branch, notebook)
    badge = nbformat.v4.new_markdown_cell(
        f"[Open in Colab]({url}) · On Colab (Runtime → Change runtime type → GPU, if you like), the "
        "next cell installs the course and its data first; on your own machine it does nothing."
    )
    install = nbformat.v4.new_code_cell(INSTALL_SOURCE.format(repository=repository, branch=branch))
    for cell, cell_id in ((badge, BADGE_ID), (install, INSTALL_ID)):
        cell.id = cell_id
        cell.metadata["tags"] = [TAG]
    return [badge, install]


def stamped(nb, notebook: str, repository: str, branch: str):
    """``nb`` with its ``colab`` cells (if any) replaced by fresh ones at the top."""
    nb = nbformat.from_dict(nb)  # a copy
    rest = [c for c in nb.cells if TAG not in c.get("metadata", {}).get("tags", [])]
    nb.cells = colab_cells(notebook, repository, branch) + rest
    nbformat.validate(nb)
    return nb


def stamp(path: Path, check: bool = False, cfg: dict | None = None) -> bool:
    """Stamp notebook ``path``; returns True when it was (``check``: would be) changed."""
    cfg = cfg or settings()
    before = path.read_text(encoding="utf-8")
    nb = nbformat.reads(before, as_version=4)
    after = nbformat.writes(stamped(nb, path.name, cfg["repository"], cfg["branch"]))
    after += "" if after.endswith("\n") else "\n"  # as nbformat.write ends a file
    if after == before:
        return False
    if not check:
        path.write_text(after, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/[0-9][0-9]_*.ipynb")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if any is out of date")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    cfg = settings()
    changed = [p for p in paths if stamp(p, check=args.check, cfg=cfg)]
    for p in changed:
        print(f"{'out of date' if args.check else 'stamped'}: {p}")
    if args.check and changed:
        print("Run `python -m tools.colab` to stamp them.", file=sys.stderr)
        return 1
    if not changed:
        print(f"{len(paths)} notebook(s) up to date ({cfg['repository']}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
