# The two set-up commands of the README. Both create .venv and install on first use:
# `make demo` the run-time requirements, `make test` also the test tools and the optional extras.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test clean-demo

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.txt
	$(PIP) --no-deps -e .
	touch $(STAMP)

# robustbench pins an older timm: its list is installed without dependencies (requirements-robustbench.txt)
$(TEST_STAMP): $(STAMP) requirements-test.txt requirements-robustbench.txt
	$(PIP) -r requirements-test.txt
	$(PIP) --no-deps -r requirements-robustbench.txt
	touch $(TEST_STAMP)

# Runs every benchmark of the suite on the synthetic demo data with a demo model that needs no
# download, then the analysis and HTML report of its results (demo-out/report.html).
demo: $(STAMP)
	$(PY) code/demo.py --out demo-out

# ruff (rules and why: pyproject.toml) and the import layers first: seconds, before minutes of tests
test: $(TEST_STAMP)
	$(VENV)/bin/ruff check code bench tests
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -n 2 --durations=15

clean-demo:
	rm -rf demo-out demo-data
