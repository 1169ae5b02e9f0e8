"""A learner's view, in a real browser: JupyterLab on loopback, headless Chromium driven by Playwright.

One JupyterLab server (127.0.0.1, a free port, a random token, COURSE_SMOKE=1) on a copy of the
notebooks, one headless Chromium. Every notebook whose code builds widgets (found by a search of its
cells, so new notebooks are picked up) is opened and run on the ``llm-course`` kernel up to its last
widget cell. Then every control of every widget (each cell output that holds one) is moved or
changed the way a learner would: a slider with the arrow keys, a dropdown to another option, a text
box retyped and Enter, a checkbox ticked, a button clicked; after each, what the widget shows (plot,
text, output; the controls themselves left out) must change. A screenshot per widget and the
server's log go to ``test-artifacts/``. The labels each notebook must show are in ``EXPECTED``.

It uses Debian's ``chromium`` (on PATH) and the ``playwright`` Python package, never a browser that
Playwright downloads. Without them the test skips locally and fails under CI (``CI`` set), where
``.ci/run`` installs chromium. The server and the browser are stopped in fixture teardowns, so they
go away when the test fails too.
"""

from __future__ import annotations

import importlib.util
import json
import re
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
KERNEL = "llm-course"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# JupyterLab's announcements plugin asks to fetch news from the internet: keep it quiet and offline.
PAGE_CONFIG = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}

# Running a notebook up to its widget takes as long as in papermill: 09 took 180 s here on two cores
# shared with a load of 12; moving every control takes under a minute more.
RUN_LIMIT_S = int(os.environ.get("COURSE_BROWSER_RUN_LIMIT_S", "300"))
pytestmark = [pytest.mark.browser, pytest.mark.timeout(RUN_LIMIT_S + 240)]

# A cell builds a widget when it says so; the notebook is run up to its last such cell.
WIDGET_CELL = re.compile(r"ipywidgets|interactive_plot\(|interactive_text\(|attention_viewer\(")
# Labels (the controls' descriptions) a notebook's widgets must show; every control found is driven,
# listed or not. A renamed label fails here on purpose: update it with the notebook.
EXPECTED = {
    "00_start_here.ipynb": ["temperature"],
    "01_word2vec.ipynb": ["word", "a", "is to b", "as c"],
    "03_contextual_embeddings.ipynb": ["sentence 1", "sentence 2", "word"],
    "04_self_attention.ipynb": ["layer", "head"],
    "07_gpt_pretraining.ipynb": ["prompt", "temperature", "top-k", "top-p", "characters", "seed"],
    "09_fine_tuning_classification.ipynb": ["sentence"],
}
# What to type into a text box, by notebook and label (01's "word" is misspelt on purpose: its explorer
# must then suggest close matches); any other text box gets " good" appended.
TEXT = {
    "01_word2vec.ipynb": {"word": "moive", "a": "good", "is to b": "better", "as c": "bad"},
    # whole new sentences: appending one word moves a test-mode model's cosine by less than its 3 decimals
    "03_contextual_embeddings.ipynb": {"sentence 1": "they robbed the bank and took all the money",
                                       "sentence 2": "the bank of the river flooded", "word": "river"},
    "07_gpt_pretraining.ipynb": {"prompt": "ROMEO:"},
    "09_fine_tuning_classification.ipynb": {"sentence": "a dull, slow and boring film"},
}
# Text a widget must show once all its controls have moved.
SHOWS_AFTER = {"01_word2vec.ipynb": "Close matches"}


def widget_notebooks() -> list[tuple[str, int]]:
    """(notebook name, index of its last widget cell) for every notebook that builds a widget."""
    import nbformat

    found = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        last = [i for i, c in enumerate(cells) if c.cell_type == "code" and WIDGET_CELL.search(c.source)]
        if last:
            found.append((path.name, last[-1]))
    return found


WIDGET_NOTEBOOKS = widget_notebooks()


def missing(what: str) -> None:
    """Fail in CI, where the browser test must run; skip on a learner's machine."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{what} (CI must run the browser test: .ci/run installs chromium; "
                    "`make test` installs playwright with the test extra)", pytrace=False)
    pytest.skip(what)


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    missing("Debian's chromium is not installed: apt-get install chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jupyter_executable() -> Path:
    return Path(sys.executable).with_name("jupyter")


def stop_process_group(proc: subprocess.Popen, grace: float) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a copy of notebooks/; yields (base URL, token). Always stopped."""
    tmp_path = tmp_path_factory.mktemp("lab")
    if importlib.util.find_spec("jupyterlab") is None or not jupyter_executable().exists():
        missing("JupyterLab is not installed in this environment")
    root = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    config = tmp_path / "config"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(json.dumps(PAGE_CONFIG))
    env = dict(os.environ, COURSE_SMOKE="1", JUPYTER_CONFIG_DIR=str(config),
               JUPYTER_DATA_DIR=str(tmp_path / "data"),  # the kernel is found in the venv's share/
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"))
    port, token = free_port(), secrets.token_hex(16)
    log_path = tmp_path / "jupyter-server.log"
    cmd = [str(jupyter_executable()), "lab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
           "--allow-root", f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
           "--ServerApp.port_retries=0", "--LabApp.expose_app_in_browser=True",
           "--LabApp.news_url=None"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=root, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                req = urllib.request.Request(f"{base}/api/status", headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(req, timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer in 90 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield base, token
    finally:
        # The server's own shutdown stops its kernels; signals are the fallback (a kernel whose
        # server is gone notices its parent died and exits).
        try:
            req = urllib.request.Request(f"{base}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {token}"})
            urllib.request.urlopen(req, timeout=5).close()
            proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            pass
        stop_process_group(proc, grace=10)
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(log_path, ARTIFACTS / "browser-jupyter-server.log")


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    """A fresh headless Chromium (its own profile folder); yields a page. Always closed."""
    tmp_path = tmp_path_factory.mktemp("chromium")
    executable = chromium_path()
    if importlib.util.find_spec("playwright") is None:
        missing("the playwright package is not installed: pip install -e '.[test]'")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    context = None
    try:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=executable, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900})
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(90_000)
        yield page
    finally:
        if context is not None:
            context.close()
        pw.stop()



# JavaScript run in the page, on JupyterLab's application object (exposed by expose_app_in_browser).
OPEN = """async (path) => {
  const app = window.jupyterapp;
  const panel = await app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
  app.shell.activateById(panel.id);
  return true;
}"""
KERNEL_IDLE = """(path) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.context && panel.context.path === path && panel.sessionContext.session
                 && panel.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle' && panel.sessionContext.kernelDisplayName !== 'No Kernel';
}"""
KERNEL_NAME = "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.name"
# Select cells 0..last and run them: one command, so the kernel gets them in order.
RUN_TO = """(last) => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  notebook.activeCellIndex = 0;
  notebook.deselectAll();
  notebook.extendContiguousSelectionTo(last);
  window.jupyterapp.commands.execute('notebook:run-cell');
  return true;
}"""
ERRORS = """(last) => {
  const errors = [];
  const cells = window.jupyterapp.shell.currentWidget.content.widgets.slice(0, last + 1);
  cells.forEach((cell, i) => {
    if (cell.model.type !== 'code') return;
    for (const out of cell.model.outputs.toJSON()) {
      if (out.output_type === 'error') errors.push('cell ' + i + ': ' + out.ename + ': ' + out.evalue);
    }
  });
  return errors;
}"""
# True when cells 0..last have run and the kernel is idle, or as soon as one of them failed.
RAN_TO = """(last) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.widgets.slice(0, last + 1).filter(c => c.model.type === 'code');
  const failed = cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
  const kernel = panel.sessionContext.session.kernel;
  return failed || (kernel.status === 'idle' && cells.every(c => c.model.executionCount !== null));
}"""
CONTROL = (".widget-slider, .widget-dropdown, .widget-text, .widget-textarea, .widget-checkbox, "
           ".widget-button, .widget-toggle-button")
# Tag every cell output that holds a control (one widget each) and its controls; describe them.
FIND_WIDGETS = """(selector) => {
  const widgets = [];
  const cells = window.jupyterapp.shell.currentWidget.content.widgets;
  for (const cell of cells) {
    if (cell.model.type !== 'code') continue;
    const area = cell.node.querySelector('.jp-OutputArea');
    const controls = area ? [...area.querySelectorAll(selector)] : [];
    if (!controls.length) continue;
    const w = widgets.length;
    area.setAttribute('data-course-widget', String(w));
    widgets.push(controls.map((el, j) => {
      el.setAttribute('data-course-control', w + '-' + j);
      const kind = ['slider', 'dropdown', 'textarea', 'text', 'checkbox', 'toggle-button', 'button']
        .find(k => el.classList.contains('widget-' + k));
      const label = el.querySelector('.widget-label');
      return {id: w + '-' + j, kind, label: ((label && label.textContent) || el.textContent || '').trim()};
    }));
  }
  return widgets;
}"""
# What a widget shows, its controls left out: text of plots' and outputs' containers and image sources.
SHOWS = """([w, selector]) => {
  const area = document.querySelector('[data-course-widget="' + w + '"]');
  if (!area) return null;
  const copy = area.cloneNode(true);
  copy.querySelectorAll(selector).forEach(el => el.remove());
  const images = [...copy.querySelectorAll('img')].map(img => img.getAttribute('src'));
  return copy.textContent + ' ' + images.join(' ');
}"""
CHANGED = "([w, selector, before]) => { const now = (%s)([w, selector]); return now !== null && now !== before; }" % SHOWS
CLOSE = """async () => {
  const panel = window.jupyterapp.shell.currentWidget;
  await panel.sessionContext.shutdown();
  panel.context.model.dirty = false;
  panel.dispose();
  return true;
}"""


@pytest.fixture(scope="module")
def lab_page(lab, browser_page):
    """JupyterLab loaded once in the browser, with nothing open."""
    base, token = lab
    browser_page.goto(f"{base}/lab?reset&token={token}")
    browser_page.wait_for_function("() => !!window.jupyterapp && window.jupyterapp.started !== undefined")
    browser_page.wait_for_selector(".jp-LabShell")
    return browser_page


def change(page, control, kind: str, label: str, notebook: str):
    """Move or change one control the way a learner would; returns how to move it back (or None)."""
    if kind == "slider":
        handle = control.locator(".noUi-handle").first
        at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
        handle.focus()
        key, back = ("ArrowLeft", "ArrowRight") if at_max else ("ArrowRight", "ArrowLeft")
        page.keyboard.press(key)
        return lambda: (handle.focus(), page.keyboard.press(back))
    elif kind == "dropdown":
        select = control.locator("select")
        n = select.locator("option").count()
        old = select.evaluate("s => s.selectedIndex")
        select.select_option(index=(old + 1) % n)
        return lambda: select.select_option(index=old)
    elif kind in ("text", "textarea"):
        box = control.locator("input, textarea").first
        old = box.input_value()
        new = TEXT.get(notebook, {}).get(label, old + " good")
        box.fill(new if new != old else old + " good")
        box.press("Enter")
    elif kind == "checkbox":
        control.locator("input").click()
    else:  # a button
        control.click()
    return None


def wait_for_change(page, w: int, before: str, what: str) -> None:
    try:
        page.wait_for_function(CHANGED, arg=[w, CONTROL, before], timeout=60_000, polling=200)
    except Exception as err:  # playwright's TimeoutError
        raise AssertionError(f"{what} did not change what its widget shows within 60 s") from err


@pytest.mark.parametrize("notebook,last_cell", WIDGET_NOTEBOOKS, ids=[n for n, _ in WIDGET_NOTEBOOKS])
def test_every_control_changes_its_widget(lab_page, notebook, last_cell):
    page = lab_page
    ARTIFACTS.mkdir(exist_ok=True)
    stem = notebook.removesuffix(".ipynb")
    try:
        page.evaluate(OPEN, notebook)
        page.wait_for_function(KERNEL_IDLE, arg=notebook)
        assert page.evaluate(KERNEL_NAME) == KERNEL, f"{notebook} did not start the {KERNEL} kernel"
        page.evaluate(RUN_TO, last_cell)
        try:
            page.wait_for_function(RAN_TO, arg=last_cell, timeout=RUN_LIMIT_S * 1000, polling=500)
        except Exception as err:  # playwright's TimeoutError
            raise AssertionError(f"{notebook}: cells up to {last_cell} did not finish in {RUN_LIMIT_S} s") from err
        errors = page.evaluate(ERRORS, last_cell)
        assert not errors, f"{notebook}: a cell raised an error in JupyterLab: {errors}"
        try:
            page.wait_for_function(f"() => document.querySelectorAll('.jp-OutputArea :is({CONTROL})').length > 0",
                                   timeout=30_000)
        except Exception as err:  # playwright's TimeoutError
            raise AssertionError(f"{notebook}: no slider, dropdown, text box or button appeared in 30 s") from err
        page.wait_for_timeout(500)  # let every widget view of the last cell render
        widgets = page.evaluate(FIND_WIDGETS, CONTROL)
        labels = [c["label"] for controls in widgets for c in controls]
        missing_labels = [x for x in EXPECTED.get(notebook, []) if x not in labels]
        assert not missing_labels, (f"{notebook}: no control labelled {missing_labels} (found {labels}); "
                                    "a renamed label must be renamed in EXPECTED too")
        for w, controls in enumerate(widgets):
            has_button = any(c["kind"] in ("button", "toggle-button") for c in controls)
            for c in controls:
                control = page.locator(f'[data-course-control="{c["id"]}"]')
                control.scroll_into_view_if_needed()
                before = page.evaluate(SHOWS, [w, CONTROL])
                undo = change(page, control, c["kind"], c["label"], notebook)
                if has_button and c["kind"] in ("text", "textarea"):
                    continue  # the button sends what was typed
                what = f"{notebook}: changing the {c['kind']} {c['label']!r}"
                wait_for_change(page, w, before, what)
                page.wait_for_function(KERNEL_IDLE, arg=notebook)  # the redraw has finished
                if undo:  # back where it was, so the next control starts from the notebook's settings
                    before = page.evaluate(SHOWS, [w, CONTROL])
                    undo()
                    wait_for_change(page, w, before, what + " back")
                    page.wait_for_function(KERNEL_IDLE, arg=notebook)
            page.locator(f'[data-course-widget="{w}"]').screenshot(path=str(ARTIFACTS / f"browser-{stem}-{w}.png"))
        if notebook in SHOWS_AFTER:
            shown = " ".join(page.evaluate(SHOWS, [w, CONTROL]) for w in range(len(widgets)))
            assert SHOWS_AFTER[notebook] in shown, f"{notebook}: its widget does not show {SHOWS_AFTER[notebook]!r}"
        assert page.evaluate(ERRORS, last_cell) == [], f"{notebook}: a cell shows an error after the changes"
    finally:
        page.screenshot(path=str(ARTIFACTS / f"browser-{stem}.png"))
        try:
            page.evaluate(CLOSE)
        except Exception:  # noqa: BLE001 - the notebook may not have opened; the server stops it anyway
            pass
