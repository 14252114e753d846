# The two commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the web app's pinned JavaScript (see the web assets rule below)
HTMX_VERSION := 2.0.11
AXE_VERSION := 4.14.1
NPM_DIR := $(VENV)/npm
WEB_ASSETS := web/static/vendor/htmx.min.js
# Segment's Node library, for the reliability suite's outage test (tests/reliability/)
SEGMENT_NODE_VERSION := 3.1.0
SEGMENT_NODE := $(NPM_DIR)/node_modules/@segment/analytics-node/package.json

.PHONY: install test test-fast demo lint format bench clean checkov browser

install: $(STAMP) $(WEB_ASSETS)

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
PACKAGE_DIRS := $(shell find variance core transforms pipelines warehouse serving appdb clients workspace api cli samples stack slack web -name __init__.py -exec dirname {} \; 2>/dev/null)
$(STAMP): $(DEPS_STAMP) setup.py $(PACKAGE_DIRS)
	@echo ">> linking the variance package into $(VENV) (editable, strict)"
	$(BIN)/python -m pip install --quiet --no-deps -e . --config-settings editable_mode=strict
	@touch $(STAMP)
	@echo ">> installed into $(VENV)"

# Two workers (pytest-xdist), a file each at a time: most tests wait on the processes they
# start (emulator, API, pipeline), so two share this machine's two cores well.
TEST_WORKERS ?= 2
test: install checkov browser $(SEGMENT_NODE)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-fast: install checkov browser
	$(BIN)/python -m pytest -q -m "not slow"

demo: install
	$(BIN)/python -m variance.cli.demo $(if $(CALLS),--calls $(CALLS)) $(if $(filter-out 0 no false,$(KEEP)),--keep)

down:
	$(BIN)/python -m variance.cli.demo down

# The type checker reads the linked tree the strict editable install made, where every
# module has its import name (variance.core, ...), as an editor's go-to-definition does.
TYPED := core transforms pipelines
lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	MYPYPATH=$$(echo build/__editable__.*) $(BIN)/mypy $(addprefix -p variance.,$(TYPED))

format: install
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/ingest.py && $(BIN)/python bench/api.py && $(BIN)/python bench/pipeline.py && $(BIN)/python bench/scale.py && $(BIN)/python bench/dbt.py && $(BIN)/python bench/slack.py && $(BIN)/python bench/web.py && $(BIN)/python bench/report.py

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

# The web app's JavaScript comes from the npm registry, pinned: htmx 2.x (npm's latest tag
# is a new major version) is shipped as a static file, never loaded from a CDN; axe-core is
# only for the browser tests' accessibility checks.
$(WEB_ASSETS): Makefile
	@echo ">> installing htmx $(HTMX_VERSION) and axe-core $(AXE_VERSION) from the npm registry into $(NPM_DIR)"
	@command -v npm >/dev/null || { echo "the web app's htmx comes from the npm registry: install npm (e.g. sudo apt-get install npm) and rerun make install"; exit 1; }
	@mkdir -p $(NPM_DIR) web/static/vendor
	npm install --silent --no-audit --no-fund --prefix $(NPM_DIR) htmx.org@$(HTMX_VERSION) axe-core@$(AXE_VERSION)
	cp $(NPM_DIR)/node_modules/htmx.org/dist/htmx.min.js $(WEB_ASSETS)

# Segment's Node library from the npm registry, pinned, beside htmx: the reliability suite
# sends through it (and through Segment's Python library) during a Pub/Sub outage.
$(SEGMENT_NODE): Makefile
	@echo ">> installing @segment/analytics-node $(SEGMENT_NODE_VERSION) from the npm registry into $(NPM_DIR)"
	@command -v npm >/dev/null || { echo "the reliability suite needs npm and node (e.g. sudo apt-get install npm)"; exit 1; }
	@mkdir -p $(NPM_DIR)
	npm install --silent --no-audit --no-fund --save-exact --prefix $(NPM_DIR) @segment/analytics-node@$(SEGMENT_NODE_VERSION)
	@touch $(SEGMENT_NODE)

# Browser tests drive the system's Chromium (no browser download site is reachable, so
# Playwright's own browsers cannot be installed). Debian's chromium-headless-shell is
# installed with apt when missing and we are root; otherwise one line says what to do.
browser:
	@if command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null || [ -n "$$VARIANCE_CHROMIUM" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo ">> installing Debian's chromium-headless-shell with apt-get for the browser tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium-headless-shell >/dev/null \
	  || (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium-headless-shell >/dev/null); \
	else echo "browser tests need Chromium: run 'sudo apt-get install chromium-headless-shell' (or set VARIANCE_CHROMIUM=/path/to/chromium)"; exit 1; fi

# The README's pictures: the browser tests rerun, writing their screenshots into
# docs/screenshots/ as well as the ignored .variance/screenshots/ every run uses.
.PHONY: screenshots
screenshots: install browser
	VARIANCE_UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/web/browser
