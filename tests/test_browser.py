"""A learner's view, in a real browser: JupyterLab on loopback, headless Chromium driven by Playwright.

The test copies the notebooks to a temporary folder, starts JupyterLab there (127.0.0.1, a free port,
a random token, COURSE_SMOKE=1), opens notebooks/00_start_here.ipynb, runs all cells on the
``llm-course`` kernel, moves the temperature slider with the keyboard and checks that the plot the
slider drives is redrawn. Screenshots (and the server's log) go to ``test-artifacts/``.

It uses Debian's ``chromium`` (on PATH) and the ``playwright`` Python package, never a browser that
Playwright downloads. Without them the test skips locally and fails under CI (``CI`` set), where
``.ci/run`` installs chromium. The server and the browser are stopped in fixture teardowns, so they
go away when the test fails too.
"""

from __future__ import annotations

import importlib.util
import json
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
NOTEBOOK = "00_start_here.ipynb"
KERNEL = "llm-course"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# JupyterLab's announcements plugin asks to fetch news from the internet: keep it quiet and offline.
PAGE_CONFIG = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


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


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a copy of notebooks/; yields (base URL, token). Always stopped."""
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


@pytest.fixture
def browser_page(tmp_path):
    """A fresh headless Chromium (its own profile folder); yields a page. Always closed."""
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
KERNEL_IDLE = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session
                 && panel.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle' && panel.sessionContext.kernelDisplayName !== 'No Kernel';
}"""
KERNEL_NAME = "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.name"
RUN_ALL = "() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); return true; }"
ALL_RAN = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const kernel = panel.sessionContext.session.kernel;
  return kernel.status === 'idle' && cells.every(c => c.model.executionCount !== null);
}"""
ERRORS = """() => {
  const errors = [];
  for (const cell of window.jupyterapp.shell.currentWidget.content.widgets) {
    if (cell.model.type !== 'code') continue;
    for (const out of cell.model.outputs.toJSON()) {
      if (out.output_type === 'error') errors.push(out.ename + ': ' + out.evalue);
    }
  }
  return errors;
}"""
PLOT = "img.widget-image"  # helpers.visualisation.interactive_plot draws into an ipywidgets.Image
IMAGE_CHANGED = """([selector, before]) => {
  const img = document.querySelector(selector);
  return !!img && img.complete && img.src !== before;
}"""


def test_slider_redraws_the_plot_in_jupyterlab(lab, browser_page):
    base, token = lab
    page = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "browser-00_start_here.png"
    try:
        page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell")
        page.wait_for_function(KERNEL_IDLE)
        assert page.evaluate(KERNEL_NAME) == KERNEL

        page.evaluate(RUN_ALL)
        slider = page.locator(".widget-slider").first
        slider.wait_for(state="visible")
        plot = page.locator(PLOT).first
        plot.wait_for(state="visible")
        slider.scroll_into_view_if_needed()
        readout = slider.locator(".widget-readout")
        assert readout.inner_text().strip() == "1.00"
        before = plot.get_attribute("src")
        page.screenshot(path=str(ARTIFACTS / "browser-00_start_here-before.png"))

        handle = slider.locator(".noUi-handle").first
        handle.focus()
        for _ in range(5):  # five steps of 0.1
            page.keyboard.press("ArrowRight")
        page.wait_for_function(IMAGE_CHANGED, arg=[PLOT, before], timeout=30_000)
        assert readout.inner_text().strip() == "1.50"

        page.wait_for_function(ALL_RAN, timeout=120_000)
        # the last redraw is the one for temperature 1.50, and it differs from the first
        page.wait_for_timeout(500)
        after = plot.get_attribute("src")
        assert after != before and after.startswith(("blob:", "data:image/png"))
        assert page.evaluate(ERRORS) == [], "a cell raised an error in JupyterLab"
    finally:
        page.screenshot(path=str(shot), full_page=False)
