# churnlens: `make run` tags the bundled sample, `make test` runs the suite. Both set up .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system-deps run test test-fast train evaluate bench clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need Python 3.11 as '$(PYTHON)' (make PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

system-deps:  ## PostgreSQL and Chromium for the tests (apt; needs root or sudo)
	@scripts/system-deps.sh

run: $(STAMP)
	$(BIN)/churnlens run

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

train: $(STAMP)
	$(BIN)/churnlens train

evaluate: $(STAMP)
	$(BIN)/churnlens evaluate models/data/splits/test.jsonl
	$(BIN)/churnlens evaluate benchmarks/data/external_eval.jsonl

bench: $(STAMP)
	$(BIN)/python benchmarks/langid_benchmark.py
	$(BIN)/python benchmarks/fault_suite.py
	$(BIN)/python benchmarks/throughput_benchmark.py
	$(BIN)/python benchmarks/accuracy_benchmark.py

clean:
	rm -rf $(VENV) churnlens-output .pytest_cache
