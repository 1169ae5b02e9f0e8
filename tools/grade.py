"""Grade a class: run every exercise check on each learner's notebook and write a CSV grade book.

    python -m tools.grade SUBMISSIONS/ [--out grades.csv] [--time-limit 120]

SUBMISSIONS holds learners' notebooks, either as ``<learner>/<NN_name>.ipynb`` (one folder per learner)
or flat, where the file name (without ``.ipynb``) names the learner. Each notebook is graded in its own
Python process with a time limit, so one that never ends, does not parse or imports something missing
gets a row saying why and the others are still graded.

The notebook never grades itself: from each exercise cell the grader takes only the function the learner
wrote (the ``def`` passed to ``check``) and the cell's imports, and calls the course's check on it. Every
registered exercise of the notebook gets a row: correct, not attempted, failed (with the check's
message) or missing (no cell calls ``check`` for it).
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ["learner", "notebook", "exercise", "passed", "status", "message"]


def _exercise_cells(source_cells: list[str]) -> tuple[list[ast.stmt], dict[str, tuple[str, list[ast.stmt]]]]:
    """The notebook's imports, and {exercise id: (function name, the cell's imports and defs)}."""
    imports, found = [], {}
    for source in source_cells:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue  # IPython magics or a learner's half-written cell: not an exercise we can use
        imports += [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check" and len(node.args) == 2
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[1], ast.Name)):
                keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef))]
                found.setdefault(str(node.args[0].value), (node.args[1].id, keep))
    return imports, found


def grade_one(path: Path) -> list[dict]:
    """Rows for one notebook (runs inside the worker process)."""
    import nbformat

    from helpers.checks import exercises, verdict

    known = exercises()  # the course's checks, loaded before any learner code runs
    nb = nbformat.read(path, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    imports, found = _exercise_cells(cells)
    numbers = {path.name[:2]} if path.name[:2].isdigit() else set()
    numbers |= {ex_id[:2] for ex_id in found}
    rows = []
    for ex_id in sorted(i for i in known if i[:2] in numbers):
        if ex_id not in found:
            rows.append({"exercise": ex_id, "status": "missing", "message": "no cell calls check() for it"})
            continue
        name, body = found[ex_id]
        namespace: dict = {"__name__": "__learner__"}
        try:
            exec(compile(ast.Module(body=imports + body, type_ignores=[]), str(path), "exec"), namespace)
            result = verdict(ex_id, namespace.get(name))
            status, message = result.status, result.message
        except Exception as err:  # the cell itself failed (an import that is missing, a bad decorator)
            status, message = "failed", f"the exercise cell could not run: {type(err).__name__}: {err}"
        rows.append({"exercise": ex_id, "status": status, "message": message})
    return rows


def grade_in_subprocess(path: Path, time_limit: float) -> list[dict]:
    """Grade one notebook in a fresh Python process; a crash or a time-out becomes one row."""
    cmd = [sys.executable, "-m", "tools.grade", "--one", str(path)]
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=time_limit)
    except subprocess.TimeoutExpired:
        return [{"exercise": "*", "status": "error", "message": f"grading stopped after {time_limit:g} s"}]
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return [{"exercise": "*", "status": "error", "message": f"the notebook could not be graded: {last}"}]
    return json.loads(done.stdout.strip().splitlines()[-1])


def submissions(folder: Path) -> list[tuple[str, Path]]:
    """(learner, notebook) pairs: learner folders, or flat files named after the learner."""
    pairs = []
    for path in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        learner = path.parent.name if path.parent != folder else path.stem
        pairs.append((learner, path))
    return pairs


def grade_class(folder: Path, out: Path, time_limit: float = 120.0) -> list[dict]:
    """Grade every notebook under ``folder``; write the CSV grade book to ``out``; return its rows."""
    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise NotADirectoryError(f"submissions: {folder} is not a folder of learners' notebooks.")
    pairs = submissions(folder)
    if not pairs:
        raise FileNotFoundError(f"submissions: no .ipynb files under {folder}.")
    from tqdm.auto import tqdm

    rows = []
    for learner, path in tqdm(pairs, desc="grading", unit="notebook"):
        for row in grade_in_subprocess(path, time_limit):
            rows.append({"learner": learner, "notebook": path.name, **row, "passed": row["status"] == "correct"})
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows({k: r[k] for k in FIELDS} for r in rows)
    return rows


def summary(rows: list[dict]) -> list[str]:
    """One line per learner: how many exercises passed, and what the others were."""
    by_learner = defaultdict(list)
    for r in rows:
        by_learner[r["learner"]].append(r)
    lines = []
    for learner, mine in by_learner.items():
        graded = [r for r in mine if r["exercise"] != "*"]
        counts = defaultdict(int)
        for r in mine:
            counts[r["status"]] += 1
        rest = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s != "correct")
        lines.append(f"{learner}: {counts['correct']}/{len(graded)} correct" + (f" ({rest})" if rest else ""))
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", type=Path, help="the learners' notebooks")
    ap.add_argument("--out", type=Path, default=Path("grades.csv"), help="the CSV grade book to write")
    ap.add_argument("--time-limit", type=float, default=120.0, help="seconds per notebook")
    ap.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # the worker: grade one notebook, print JSON
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(grade_one(args.one)))
        return 0
    if args.folder is None:
        ap.error("give the folder of learners' notebooks")
    rows = grade_class(args.folder, args.out, args.time_limit)
    print("\n".join(summary(rows)))
    print(f"grade book: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
