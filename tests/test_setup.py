"""The README's commands: set-up is idempotent, the kernel is registered, `make lab` serves on loopback."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
STAMP = VENV / ".course-setup"

needs_setup = pytest.mark.skipif(not STAMP.exists(), reason="run through `make test` (needs the set-up venv)")


def run(*cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, **kw)


@needs_setup
def test_make_knows_setup_is_done():
    assert run("make", "-q", "setup").returncode == 0  # -q: exit 0 only when nothing needs doing
    out = run("make", "setup")
    assert out.returncode == 0 and "Nothing to be done" in out.stdout


@needs_setup
@pytest.mark.slow
def test_setup_script_run_again_changes_nothing():
    freeze = [str(VENV / "bin" / "python"), "-m", "pip", "freeze", "--all"]
    before = run(*freeze).stdout
    out = run("bash", "tools/setup.sh")
    assert out.returncode == 0, out.stderr[-2000:]
    assert run(*freeze).stdout == before


@needs_setup
def test_course_kernel_runs_the_venv_python():
    out = run(str(VENV / "bin" / "jupyter"), "kernelspec", "list", "--json")
    spec = json.loads(out.stdout)["kernelspecs"]["llm-course"]
    assert Path(spec["resource_dir"]).resolve().is_relative_to(VENV.resolve())
    exe = Path(spec["spec"]["argv"][0])
    assert exe.resolve() == (VENV / "bin" / "python").resolve() or exe.parent.resolve() == (VENV / "bin").resolve()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_setup
@pytest.mark.timeout(120)
def test_make_lab_serves_the_course_on_loopback():
    port, token = _free_port(), secrets.token_hex(16)
    args = f"--no-browser --ServerApp.token={token}"
    proc = subprocess.Popen(["make", "lab", f"PORT={port}", f"LAB_ARGS={args}"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/api/contents/notebooks/00_start_here.ipynb?content=0&token={token}"
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    info = json.load(resp)
                break
            except OSError:
                assert proc.poll() is None, "jupyter lab exited early"
                assert time.time() < deadline, "jupyter lab did not answer within 90 s"
                time.sleep(0.5)
        assert info["name"] == "00_start_here.ipynb"
        # without the token the server refuses
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url.split("&token")[0], timeout=5)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@needs_setup
def test_jupyterlab_starts_without_news_or_update_popups():
    overrides = json.loads((VENV / "share" / "jupyter" / "lab" / "settings" / "overrides.json").read_text())
    notification = overrides["@jupyterlab/apputils-extension:notification"]
    assert notification == {"fetchNews": "false", "checkForUpdates": False}
