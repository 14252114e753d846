# The two commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-fast demo lint format bench clean

install: $(STAMP)

# Everything is pinned: requirements.txt names what we use, requirements.lock pins
# every package (transitive ones too) to the versions tested together.
$(STAMP): requirements.txt requirements.lock setup.py
	@echo ">> creating $(VENV) and installing pinned dependencies (first time: a few minutes)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --progress-bar off -r requirements.txt -c requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)
	@echo ">> installed into $(VENV)"

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

demo: install
	$(BIN)/python -m variance.demo

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/ingest.py && $(BIN)/python bench/api.py && $(BIN)/python bench/pipeline.py

clean:
	rm -rf $(VENV) .variance .pytest_cache
