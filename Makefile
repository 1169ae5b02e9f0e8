# The two commands of the README: `make lab` and `make test`. Both set the course up first if needed.
VENV  := .venv
STAMP := $(VENV)/.course-setup
PY    := $(VENV)/bin/python
PORT  ?= 8888

.PHONY: lab test render verify setup clean

$(STAMP): pyproject.toml tools/setup.sh
	bash tools/setup.sh
	touch $@

setup: $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --port=$(PORT) --allow-root --ServerApp.root_dir=$(CURDIR) notebooks/00_start_here.ipynb $(LAB_ARGS)

# Unit tests, then every notebook under papermill and nbval in test mode (COURSE_SMOKE=1).
test: $(STAMP)
	COURSE_SMOKE=1 $(PY) -m pytest tests notebooks --nbval-lax --nbval-kernel-name llm-course $(PYTEST_ARGS)

# The course for teachers: every notebook executed in full mode, HTML copies and a run report in
# rendered/ (not tracked). `make render RENDER_ARGS=--smoke` for a quick check of the pipeline.
render: $(STAMP)
	$(PY) -m tools.render_course $(RENDER_ARGS)

# The same full-mode run, read as a check: it exits non-zero when a notebook fails or any claim its prose
# makes (helpers.report.claim) does not hold; rendered/report.md lists every claim and each notebook's time.
verify: render

clean:
	rm -rf $(VENV)
