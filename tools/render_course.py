"""Render the course for teachers: execute every notebook, write HTML copies and a run report.

    make render                                  # full mode, every notebook (what a learner runs)
    python -m tools.render_course --smoke        # the small test mode: a quick check of the pipeline
    python -m tools.render_course notebooks/00_start_here.ipynb   # only these

Writes into ``rendered/`` (ignored by git):

- ``<notebook>.html``: the executed notebook, readable offline with no network at all;
- ``executed/<notebook>.ipynb``: the executed notebook itself (open it in JupyterLab to get the
  widgets back, live, once the kernel runs);
- ``report.md`` and ``report.json``: per notebook its status, seconds, device and key results
  (what the notebook passed to ``helpers.report.record``); ``index.html`` links it all.

Widgets offline. ``jupyter nbconvert --to html`` keeps a widget's saved state in the page and loads
the JavaScript that draws it from a CDN (unpkg, plus require.js from cdnjs), so offline a slider and
everything it drives (an ``interact`` plot lives inside an Output widget, not in the cell's outputs)
vanish without a trace. This renderer instead turns every widget output into static HTML before
export: display-only widgets (tqdm progress bars, labels) become their HTML; controls (sliders,
drop-downs, ...) become disabled copies showing their value, under a note that the widget needs a live
kernel; and an Output widget's captured outputs (the figure ``interact`` drew at the default value)
become ordinary cell outputs. The page then needs no widget script at all, and shows what the widget
showed when the notebook ran.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
KERNEL = "llm-course"
VIEW_MIME = "application/vnd.jupyter.widget-view+json"
STATE_MIME = "application/vnd.jupyter.widget-state+json"
# Widgets that show something but take no input: drawn as they are, with no "needs a kernel" note.
DISPLAY_ONLY = {"HTMLModel", "HTMLMathModel", "LabelModel", "FloatProgressModel", "IntProgressModel",
                "ImageModel", "ValidModel"}
BOXES = {"HBoxModel": "row", "VBoxModel": "column", "BoxModel": "row", "GridBoxModel": "row",
         "AccordionModel": "column", "TabModel": "column", "StackModel": "column"}
NOTE_STYLE = ("border-left:4px solid #e8a33d;background:#fff7e8;padding:6px 10px;margin:4px 0;"
              "font-size:13px;color:#444")


# --------------------------------------------------------------------------- widgets -> static HTML

def _ref(value: str) -> str:
    return value.removeprefix("IPY_MODEL_") if isinstance(value, str) else value


def _has_output_widget(model_id: str, state: dict) -> bool:
    model = state.get(model_id)
    if model is None:
        return False
    if model["model_name"] == "OutputModel":
        return True
    return any(_has_output_widget(_ref(c), state) for c in model["state"].get("children", []))


def _control_html(name: str, s: dict) -> tuple[str, str]:
    """A disabled copy of a control, and 'description = value' for the note."""
    desc = html.escape(str(s.get("description", "")))
    value = s.get("value")
    label = f"<b>{desc}</b> " if desc else ""
    if name in ("FloatSliderModel", "IntSliderModel", "FloatLogSliderModel"):
        try:
            shown = format(value, s.get("readout_format", ".2f")) if name != "IntSliderModel" else str(value)
        except (TypeError, ValueError):
            shown = str(value)
        widget = (f'<input type="range" disabled min="{s.get("min", 0)}" max="{s.get("max", 100)}" '
                  f'step="{s.get("step", 1)}" value="{value}"> {html.escape(shown)}')
    elif "_options_labels" in s:  # Dropdown, RadioButtons, ToggleButtons, Select, SelectionSlider
        labels = s["_options_labels"]
        index = s.get("index")
        chosen = [labels[i] for i in (index if isinstance(index, list) else [index])
                  if isinstance(i, int) and 0 <= i < len(labels)]
        shown = ", ".join(chosen)
        options = "".join(f"<option{' selected' if l in chosen else ''}>{html.escape(l)}</option>"
                          for l in labels)
        widget = f"<select disabled>{options}</select>"
    elif name in ("CheckboxModel", "ToggleButtonModel"):
        shown = str(bool(value))
        widget = f'<input type="checkbox" disabled{" checked" if value else ""}>'
    elif name == "ButtonModel":
        return f"<button disabled>{desc or 'button'}</button>", ""
    else:
        shown = str(value)
        widget = f'<input disabled value="{html.escape(shown)}">'
    return f'<span style="margin-right:12px">{label}{widget}</span>', f"{desc or name} = {shown}"


def _widget_html(model_id: str, state: dict, settings: list) -> str:
    model = state.get(model_id)
    if model is None:
        return ""
    name, s = model["model_name"], model["state"]
    if name in BOXES:
        inner = "".join(_widget_html(_ref(c), state, settings) for c in s.get("children", []))
        return (f'<div style="display:flex;flex-direction:{BOXES[name]};gap:6px;'
                f'align-items:{"center" if BOXES[name] == "row" else "flex-start"}">{inner}</div>')
    if name in ("HTMLModel", "HTMLMathModel"):
        return f"<span>{s.get('value', '')}</span>"
    if name == "LabelModel":
        return f"<span>{html.escape(str(s.get('value', '')))}</span>"
    if name in ("FloatProgressModel", "IntProgressModel"):
        return (f'<progress value="{s.get("value", 0)}" max="{s.get("max", 100)}" '
                f'style="width:260px"></progress>')
    if name in DISPLAY_ONLY or "Style" in name or name == "LayoutModel":
        return ""
    markup, setting = _control_html(name, s)
    if setting:
        settings.append(setting)
    elif name == "ButtonModel":
        settings.append("")  # a button is a control too
    return markup


def _walk(model_id: str, state: dict, items: list, settings: list) -> None:
    """Append ("html", markup) and ("output", output) items for the widget tree at ``model_id``."""
    model = state.get(model_id)
    if model is None:
        return
    if model["model_name"] == "OutputModel":
        items.extend(("output", out) for out in model["state"].get("outputs", []))
    elif model["model_name"] in BOXES and _has_output_widget(model_id, state):
        for child in model["state"].get("children", []):  # keep outputs in order, in a column
            _walk(_ref(child), state, items, settings)
    else:
        markup = _widget_html(model_id, state, settings)
        if markup:
            items.append(("html", markup))


def static_widget_outputs(view: dict, state: dict, text: str = "") -> list:
    """The outputs that stand in for one widget-view output: static HTML, then captured outputs."""
    model_id = view.get("model_id")
    if model_id not in state:
        note = ("Interactive widget (its state was not saved, so nothing of it can be shown here): "
                "run the notebook in JupyterLab or Colab to use it.")
        return [nbformat.v4.new_output("display_data", data={
            "text/html": f'<div style="{NOTE_STYLE}">{html.escape(note)}</div>',
            "text/plain": text or note})]
    items, settings = [], []
    _walk(model_id, state, items, settings)
    outputs = []
    if settings:
        shown = "; ".join(s for s in settings if s)
        note = ("Interactive widget: it needs a live kernel, so this page shows it as it was when the "
                f"notebook ran{f' ({html.escape(shown)})' if shown else ''}. Open the notebook in "
                "JupyterLab or Colab to move it.")
        outputs.append(nbformat.v4.new_output("display_data", data={
            "text/html": f'<div class="course-widget-note" style="{NOTE_STYLE}"><b>Note.</b> {note}</div>',
            "text/plain": f"[{html.unescape(note)}]"}))
    for kind, item in items:
        if kind == "html":
            outputs.append(nbformat.v4.new_output("display_data", data={
                "text/html": f'<div class="course-widget-static">{item}</div>', "text/plain": text}))
        else:
            outputs.append(nbformat.from_dict(item))
    return outputs


def static_widgets(nb):
    """A copy of executed notebook ``nb`` with every widget output made static (see the module doc)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    state = nb.metadata.get("widgets", {}).get(STATE_MIME, {}).get("state", {})
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(VIEW_MIME)
            if view is None:
                outputs.append(out)
            else:
                outputs.extend(static_widget_outputs(view, state, out["data"].get("text/plain", "")))
        cell.outputs = outputs
    nb.metadata.pop("widgets", None)  # no state left: nbconvert then loads no widget script
    return nb


def to_html(nb, title: str, banner: str = "") -> str:
    from nbconvert import HTMLExporter

    nb = static_widgets(nb)
    if banner:
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(banner))
    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    if "require(" not in body.replace(exporter.require_js_url, ""):  # nothing needs require.js
        body = body.replace(f'<script src="{exporter.require_js_url}"></script>', "")
    return body


# --------------------------------------------------------------------------- running

class _QuietParameters(logging.Filter):
    """The parameters cell computes SMOKE from $COURSE_SMOKE, so papermill calls SMOKE 'unknown'
    (it still injects it): drop that one warning."""

    def filter(self, record):
        return not record.getMessage().startswith("Passed unknown parameter")


_QUIET = _QuietParameters()


def run_notebook(path: Path, out: Path, smoke: bool, timeout: int | None) -> dict:
    import papermill as pm

    logging.getLogger("papermill").addFilter(_QUIET)

    from helpers import report

    executed_dir = out / "executed"
    executed_dir.mkdir(parents=True, exist_ok=True)
    executed = executed_dir / path.name
    saved = {k: os.environ.get(k) for k in (report.REPORT_ENV, "COURSE_SMOKE")}
    with tempfile.TemporaryDirectory() as tmp:
        records = Path(tmp) / "records.jsonl"
        os.environ[report.REPORT_ENV] = str(records)  # the kernel inherits both
        os.environ["COURSE_SMOKE"] = "1" if smoke else "0"
        status, error = "ok", ""
        start, load_before, cpu_before = time.perf_counter(), os.getloadavg()[0], _children_cpu()
        try:
            pm.execute_notebook(str(path), str(executed), parameters={"SMOKE": smoke}, kernel_name=KERNEL,
                                cwd=str(path.parent), progress_bar=False, execution_timeout=timeout)
        except Exception as err:  # PapermillExecutionError and friends: report it, go on
            status = "failed"
            error = f"{getattr(err, 'ename', type(err).__name__)}: {getattr(err, 'evalue', err)}"
            error = error.strip().splitlines()[0][:300] if error.strip() else type(err).__name__
        finally:
            # Always put the environment back (even on a timeout or Ctrl-C): a stale report path
            # would be inherited by every kernel started later in this process.
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        seconds = time.perf_counter() - start
        # The kernel's CPU seconds (it is this process's child, reaped at shutdown) and the load average:
        # on a busy machine the wall time overstates what a learner waits; the CPU time does not.
        cpu_seconds, load = _children_cpu() - cpu_before, [round(load_before, 1), round(os.getloadavg()[0], 1)]
        results = report.read(records)
        claims = report.read_claims(records)
    return {"notebook": path.name, "status": status, "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu_seconds, 1), "load": load,
            "device": str(results.pop("device", "")), "key_results": results, "claims": claims, "error": error,
            "executed": str(executed.relative_to(out)) if executed.exists() else ""}


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children: the kernels run so far."""
    t = os.times()
    return t.children_user + t.children_system


def render(paths: list[Path], out: Path, smoke: bool, timeout: int | None = None) -> dict:
    import torch

    from helpers.device import describe

    out.mkdir(parents=True, exist_ok=True)
    machine = describe()
    mode = "smoke" if smoke else "full"
    started = datetime.now(timezone.utc).replace(microsecond=0)
    rows = []
    for path in paths:
        print(f"running {path.name} ({mode}) ...", flush=True)
        row = run_notebook(path, out, smoke, timeout)
        row["device"] = row["device"] or machine["device"]
        html_name = path.with_suffix(".html").name
        if row["executed"]:
            banner = (f"*Rendered by `make render` on {started:%Y-%m-%d %H:%M} UTC, {mode} mode, on "
                      f"{row['device']} in {row['seconds']:.0f} s ({row['status']}). Interactive widgets are "
                      "shown as they were when the notebook ran: moving them needs a live kernel "
                      "(JupyterLab or Colab).*")
            nb = nbformat.read(out / row["executed"], as_version=4)
            (out / html_name).write_text(to_html(nb, path.stem, banner), encoding="utf-8")
            row["html"] = html_name
        failed_claims = [c["claim"] for c in row["claims"] if not c["held"]]
        print(f"  {row['status']} in {row['seconds']:.1f} s (kernel CPU {row['cpu_seconds']:.0f} s, load "
              f"{row['load'][0]:g}-{row['load'][1]:g}) on {row['device']}"
              + (f": {row['error']}" if row["error"] else "")
              + f"; {len(row['claims']) - len(failed_claims)}/{len(row['claims'])} claims held"
              + (f" (failed: {'; '.join(failed_claims)})" if failed_claims else ""), flush=True)
        rows.append(row)
    report = {
        "started_utc": started.isoformat(), "mode": mode,
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "platform": platform.platform(), "cpus": os.cpu_count(), **machine},
        "total_seconds": round(sum(r["seconds"] for r in rows), 1),
        "notebooks": rows,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(report_markdown(report), encoding="utf-8")
    (out / "index.html").write_text(index_html(report), encoding="utf-8")
    return report


def _results_text(results: dict) -> str:
    return "; ".join(f"{k}: {json.dumps(v) if not isinstance(v, str) else v}" for k, v in results.items())


def report_markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Rendered course: run report", "",
        f"{report['started_utc']} · {report['mode']} mode (`SMOKE = {report['mode'] == 'smoke'}`) · Python {m['python']}, torch {m['torch']} · "
        f"{m['platform']}, {m['cpus']} CPUs · total {report['total_seconds']:.0f} s", "",
        "Seconds are wall time; kernel CPU seconds and the 1-minute load average (start, end) say how busy the"
        " machine was: on idle cores with 2 threads the wall time is about the CPU time over the threads used.", "",
        "| notebook | status | seconds | kernel CPU s | load | device | key results |",
        "|---|---|---:|---:|---|---|---|",
    ]
    for r in report["notebooks"]:
        name = f"[{r['notebook']}]({r['html']})" if r.get("html") else r["notebook"]
        status = r["status"] + (f" ({r['error']})" if r["error"] else "")
        load = "-".join(f"{x:g}" for x in r.get("load", []))
        cells = [name, status, f"{r['seconds']:.1f}", f"{r.get('cpu_seconds', 0):.0f}", load, r["device"],
                 _results_text(r["key_results"])]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    lines += ["", "## Claims checked in this run", "",
              "Each claim a notebook's prose makes about its results, as `helpers.report.claim` recorded it.", "",
              "| notebook | claim | held | detail |", "|---|---|---|---|"]
    for r in report["notebooks"]:
        for c in r.get("claims", []):
            cells = [r["notebook"], c["claim"], "held" if c["held"] else "**FAILED**", c["detail"]]
            lines.append("| " + " | ".join(str(x).replace("|", "\\|").replace("\n", " ") for x in cells) + " |")
    return "\n".join(lines) + "\n"


def index_html(report: dict) -> str:
    rows = []
    for r in report["notebooks"]:
        name = html.escape(r["notebook"])
        if r.get("html"):
            name = f'<a href="{html.escape(r["html"], quote=True)}">{name}</a>'
        status = html.escape(r["status"] + (": " + r["error"] if r["error"] else ""))
        rows.append(f"<tr><td>{name}</td><td>{status}</td><td style='text-align:right'>{r['seconds']:.1f}</td>"
                    f"<td>{html.escape(r['device'])}</td><td>{html.escape(_results_text(r['key_results']))}</td></tr>")
    return ("<!doctype html><meta charset='utf-8'><title>The course, rendered</title>"
            "<body style='font-family:sans-serif;max-width:1100px;margin:2em auto'>"
            f"<h1>The course, rendered</h1><p>{html.escape(report['started_utc'])} · {report['mode']} mode · "
            f"total {report['total_seconds']:.0f} s · <a href='report.md'>report.md</a> · "
            "<a href='report.json'>report.json</a></p><table border=1 cellpadding=6 "
            "style='border-collapse:collapse'><tr><th>notebook</th><th>status</th><th>seconds</th>"
            f"<th>device</th><th>key results</th></tr>{''.join(rows)}</table></body>\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/[0-9][0-9]_*.ipynb")
    parser.add_argument("--smoke", action="store_true", help="run the small test mode (SMOKE=True)")
    parser.add_argument("--out", type=Path, default=ROOT / "rendered", help="default: rendered/")
    parser.add_argument("--cell-timeout", type=int, default=None, help="seconds one cell may take")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    report = render(paths, args.out.resolve(), args.smoke, args.cell_timeout)
    failed = [r["notebook"] for r in report["notebooks"] if r["status"] != "ok"]
    claims = [(r["notebook"], c) for r in report["notebooks"] for c in r.get("claims", [])]
    not_held = [f"{nb}: {c['claim']}" for nb, c in claims if not c["held"]]
    print(f"\nwrote {args.out}/: {len(paths)} HTML page(s), report.md, report.json, index.html "
          f"({report['total_seconds']:.0f} s)" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    if not args.smoke:  # claims are about full size: in test mode they are collected, never judged
        print(f"claims: {len(claims) - len(not_held)}/{len(claims)} held"
              + "".join(f"\n  FAILED {c}" for c in not_held))
    return 1 if failed or (not_held and not args.smoke) else 0


if __name__ == "__main__":
    sys.exit(main())
