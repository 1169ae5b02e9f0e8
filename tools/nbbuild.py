"""Build a notebook from a short list of (kind, source) cells: the course's notebooks are written this way
by their authors and stored clean. Usage from a build script:

    from tools.nbbuild import md, code, params, write
    write("notebooks/00_start_here.ipynb", [md("# Title"), params("SMOKE = ..."), code("print(1)")])
"""

from __future__ import annotations

import textwrap

import nbformat

KERNELSPEC = {"name": "llm-course", "display_name": "Python 3 (llm-course)", "language": "python"}


def md(src: str):
    return nbformat.v4.new_markdown_cell(textwrap.dedent(src).strip())


def code(src: str, tags: tuple[str, ...] = ()):
    cell = nbformat.v4.new_code_cell(textwrap.dedent(src).strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def params(src: str):
    return code(src, tags=("parameters",))


def write(path: str, cells: list) -> None:
    """Write the notebook, with the Colab link and install cell stamped on top (tools.colab)."""
    from pathlib import Path

    from tools.colab import settings, stamped

    nb = nbformat.v4.new_notebook(cells=cells)
    for i, cell in enumerate(cells):  # stable ids keep diffs small when a notebook is rebuilt
        cell.id = f"c{i:02d}"
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    nb = stamped(nb, Path(path).name, **settings())
    nbformat.validate(nb)
    nbformat.write(nb, path)
