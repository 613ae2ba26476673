# 招商引资 CRM — every setup step lives here, so a fresh Debian 12 machine needs only Python 3.11, git and make.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export CRM_PORT ?= 8000
export CRM_DATA_DIR ?= ./var
# Some shells set PYTHONDONTWRITEBYTECODE: then every process (each test server, each benchmark, each `crm` command)
# compiled the app's 230 modules from source again, about 0.35 s a start. Bytecode caches go in __pycache__/ (ignored).
unexport PYTHONDONTWRITEBYTECODE
# Debian packages: the CJK font, its fallback for CJK Extension B and later (HanaMinB) and HarfBuzz subsetting for
# PDFs; Chromium for browser tests; wrk for benchmarks.
# pg_dump and pg_restore for backups of a PostgreSQL database (crm/backups): Debian 12's client, the server's
# version 15 (pg_dump must be at least the server's major version; with another server, install its client).
RUN_DEBS := fonts-noto-cjk fonts-hanazono libharfbuzz-subset0 postgresql-client-15
BROWSER_DEBS := chromium chromium-driver
# The tests read PDFs back with poppler (pdftotext, pdffonts, pdftoppm) and render them with RUN_DEBS' font.
TEST_DEBS := poppler-utils
BENCH_DEBS := wrk

.PHONY: run test test-sqlite lint bench bench-smoke api-fuzz messages install system-deps browser-deps bench-deps test-deps clean

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "python3-venv is missing; installing it with apt"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# apt-get only for what is missing, and only as root (otherwise say what to install).
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing Debian packages:$$missing"; \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "please install (sudo apt-get install$$missing)"; fi; fi
endef

system-deps:
	$(call apt_install,$(RUN_DEBS))

test-deps:
	$(call apt_install,$(RUN_DEBS) $(TEST_DEBS))

browser-deps:
	$(call apt_install,$(BROWSER_DEBS))

bench-deps:
	$(call apt_install,$(BENCH_DEBS))

run: $(STAMP) system-deps
	$(BIN)/crm db upgrade
	$(BIN)/crm demo load --if-empty
	@echo ""
	@echo "  招商引资 CRM on http://127.0.0.1:$(CRM_PORT)"
	@echo "  demo logins (password Heze-demo-2026): officer — 招商专员 / investment officer;"
	@echo "                                    manager — 练建军, 领导 / manager;  admin — 系统管理员 / system administrator;"
	@echo "                                    security — 安全管理员 / security administrator;  auditor — 审计管理员 / audit administrator"
	@echo ""
	$(BIN)/crm serve --port $(CRM_PORT) --workers auto --with-scheduler

# The whole suite on SQLite and PostgreSQL (PostgreSQL at 127.0.0.1:5432; skipped, and said so, when absent).
# Browser tests run when /usr/bin/chromium exists (`make browser-deps` installs it).
# One test process per core, at most four (pytest-xdist; TEST_WORKERS=1 for one process). Work stealing: each
# process starts on its own half of the suite — one mostly the SQLite tests, the other mostly the PostgreSQL ones —
# so each builds its test databases about once, and takes tests from the other's end when it runs out.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n < 4 ? n : 4 )))
test: $(STAMP) test-deps browser-deps
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check .

# The benchmark modules, run in this order (python -m <module>) by both `make bench` and `make bench-smoke`; each
# honours BENCH_SMOKE (docs/performance.md, "Smoke mode"). A new benchmark is one more name here.
BENCH_MODULES := bench bench.export_import bench.pdf bench.xlsx_export bench.reminders bench.projects bench.dashboard \
                 bench.concurrency bench.major_projects bench.requests bench.imports bench.api
# A module's own environment: the dashboard measures the database bench.projects has just built (BENCH_REUSE=1 copies
# it, when its key matches, instead of building it again).
BENCH_ENV_bench.dashboard := BENCH_REUSE=1
BENCH_ENV_bench.requests := BENCH_REUSE=1
BENCH_ENV_bench.api := BENCH_REUSE=1
# $(1): environment for every module. Every module runs even when one before it fails (or, in a full run, misses a
# goal); then each one's time and exit status, and a non-zero exit if any failed.
define run_benchmarks
	@failed=""; summary=""; \
	$(foreach module,$(BENCH_MODULES),echo "== python -m $(module)"; started=$$SECONDS; \
	  if $(1) $(BENCH_ENV_$(module)) $(BIN)/python -m $(module); then status=ok; \
	  else status="exit $$?"; failed="$$failed $(module)"; fi; \
	  summary="$$summary== $(module): $$((SECONDS - started)) s, $$status"$$'\n'; ) \
	printf '\n%s== all benchmarks: %s s\n' "$$summary" "$$SECONDS"; \
	if [ -n "$$failed" ]; then echo "== failed, or missed a goal:$$failed"; exit 1; fi
endef

# Every benchmark, each printing its figures against the issue's goal (docs/performance.md).
bench: $(STAMP) bench-deps
	$(call run_benchmarks,)

# The same modules and code paths on 1% of the data with one-second measurements, nothing judged: under three
# minutes. CI runs it after the tests (.ci/run), so a change that breaks a benchmark does not land.
bench-smoke: $(STAMP) bench-deps
	$(call run_benchmarks,BENCH_SMOKE=1)

# The API's property-based checks at full strength (tests/test_api_fuzz.py: Schemathesis against a real server on
# SQLite and PostgreSQL, 100 examples per operation and kind instead of the suite's 3): prints what it sent, by
# operation and status, and fails on any 5xx or answer the OpenAPI document does not declare. About 5 minutes.
api-fuzz: $(STAMP)
	CRM_API_FUZZ_EXAMPLES=$${CRM_API_FUZZ_EXAMPLES:-100} $(BIN)/pytest -q -s -p no:cacheprovider tests/test_api_fuzz.py -k every_operation

# Extract message ids from code and templates and merge them into both catalogs.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k Msg -k N_ -k _ --no-location --sort-output --omit-header -o crm/translations/messages.pot .
	$(BIN)/pybabel update -i crm/translations/messages.pot -d crm/translations -l zh_CN --no-fuzzy-matching --ignore-obsolete --no-wrap
	$(BIN)/pybabel update -i crm/translations/messages.pot -d crm/translations -l en --no-fuzzy-matching --ignore-obsolete --no-wrap

clean:
	rm -rf $(VENV) var .pytest_cache
