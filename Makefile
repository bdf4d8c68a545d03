# The two set-up commands of the README. Both create .venv and install on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test clean-demo

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# Runs every benchmark of the suite on the synthetic demo data with a demo model
# that needs no download; results go to demo-out/benchmark.csv.
demo: $(STAMP)
	$(PY) code/demo.py --out demo-out

test: $(STAMP)
	$(PY) -m pytest -n 2 --durations=15

clean-demo:
	rm -rf demo-out demo-data
