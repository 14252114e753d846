# The two commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-fast demo lint format bench clean checkov

install: $(STAMP)

# Everything is pinned: requirements.txt names what we use, requirements.lock pins
# every package (transitive ones too) to the versions tested together.
DEPS_STAMP := $(VENV)/.deps-installed
$(DEPS_STAMP): requirements.txt requirements.lock
	@echo ">> creating $(VENV) and installing pinned dependencies (first time: a few minutes)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --progress-bar off -r requirements.txt -c requirements.lock
	@touch $(DEPS_STAMP)

# A strict editable install links every module into one tree that editors and type
# checkers can read (no import hook), so adding or removing a module needs a re-link:
# the stamp depends on every package folder, whose time changes when a file is added.
PACKAGE_DIRS := $(shell find variance core transforms pipelines warehouse serving appdb clients workspace api cli samples stack -name __init__.py -exec dirname {} \; 2>/dev/null)
$(STAMP): $(DEPS_STAMP) setup.py $(PACKAGE_DIRS)
	@echo ">> linking the variance package into $(VENV) (editable, strict)"
	$(BIN)/python -m pip install --quiet --no-deps -e . --config-settings editable_mode=strict
	@touch $(STAMP)
	@echo ">> installed into $(VENV)"

test: install checkov
	$(BIN)/python -m pytest -q

test-fast: install checkov
	$(BIN)/python -m pytest -q -m "not slow"

demo: install
	$(BIN)/python -m variance.cli.demo

# The type checker reads the linked tree the strict editable install made, where every
# module has its import name (variance.core, ...), as an editor's go-to-definition does.
TYPED := core transforms pipelines
lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	MYPYPATH=$$(echo build/__editable__.*) $(BIN)/mypy $(addprefix -p variance.,$(TYPED))

format: install
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/ingest.py && $(BIN)/python bench/api.py && $(BIN)/python bench/pipeline.py && $(BIN)/python bench/dbt.py

clean:
	rm -rf $(VENV) .variance .pytest_cache

# checkov (tests/infra/test_checkov.py) in a virtualenv of its own inside .venv: it
# installs a module named hcl2 that would shadow python-hcl2 in the main environment.
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
checkov: $(CHECKOV_STAMP)
$(CHECKOV_STAMP): infra/checkov.lock
	@echo ">> installing checkov into $(CHECKOV_VENV) (its own virtualenv)"
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --progress-bar off -r infra/checkov.lock
	@touch $(CHECKOV_STAMP)
