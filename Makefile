# The targets developers and CI share. `make run` and `make test` are the README contract:
# both work on a fresh clone with only Python 3.11+ and make.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv run token test lint lint-openapi openapi typecheck unit integration bench chaos fuzz migrate bundle check-infra clean

help:
	@echo "make run          run all four functions locally (embedded PostgreSQL, dev keys)"
	@echo "make test         lint, type-check and run the whole test suite"
	@echo "make openapi      regenerate docs/openapi/<function>.json from docs/openapi.json"
	@echo "make bench        run the benchmark suite (pytest-benchmark)"
	@echo "make chaos        each fault against a real local server, as a table (~3 min)"
	@echo "make fuzz         fuzz the HTTP API with schemathesis (FUZZ_SECONDS=120)"
	@echo "make token        mint a dev token: make token TENANT=acme SCOPES='registry:read' TTL=3600"
	@echo "make migrate      apply migrations to MIGRATION_DATABASE_URL (or the embedded database)"
	@echo "make bundle       assemble the deployable source bundle in build/bundle"
	@echo "make check-infra  offline Terraform checks: fmt, checkov, HCL invariants, bundle smoke"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@# The plant CLI, editable, as .venv/bin/plant (its dependencies came with the line above).
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m tools.devserver

token: $(STAMP)
	@$(BIN)/python -m tools.mint_token $(if $(TENANT),--tenant $(TENANT)) $(if $(SCOPES),--scopes "$(SCOPES)") $(if $(TTL),--ttl $(TTL)) $(if $(SUB),--subject $(SUB))

migrate: $(STAMP)
	$(BIN)/python -m tools.migrate

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Redocly CLI, pinned in tools/openapi-lint/package-lock.json, lints the dev server's
# document and each function's own. Without npm it is skipped with a note, unless
# OPENAPI_LINT=required (CI sets it), when a missing npm fails the build.
LINT_DIR := tools/openapi-lint
REDOCLY := $(LINT_DIR)/node_modules/.bin/redocly
OPENAPI_DOCS := docs/openapi.json $(wildcard docs/openapi/*.json)

$(REDOCLY): $(LINT_DIR)/package.json $(LINT_DIR)/package-lock.json
	cd $(LINT_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lint-openapi:
	@if command -v npm >/dev/null; then \
		$(MAKE) --no-print-directory $(REDOCLY) || exit 1; \
		out=$$($(REDOCLY) lint --config $(LINT_DIR)/redocly.yaml $(OPENAPI_DOCS) 2>&1); status=$$?; \
		printf '%s\n' "$$out" | grep -v -e '[║╔╚]' -e '^ *$$'; exit $$status; \
	elif [ "$(OPENAPI_LINT)" = required ]; then \
		echo "npm is required to lint the OpenAPI documents (OPENAPI_LINT=required)" >&2; exit 1; \
	else \
		echo "npm not found: skipping the OpenAPI lint (CI runs it)"; \
	fi

openapi: $(STAMP)
	$(BIN)/python -m tools.openapi_docs

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: $(STAMP)
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

test: lint typecheck lint-openapi
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/pytest tests/performance --benchmark-only --benchmark-columns=min,mean,median,stddev,rounds $(PYTEST_ARGS)

chaos: $(STAMP)
	$(BIN)/python -m tools.chaos $(CHAOS_ARGS)

fuzz: $(STAMP)
	bash tools/fuzz.sh

bundle: $(STAMP)
	bash tools/bundle.sh

check-infra: $(STAMP)
	bash tools/check_infra.sh

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache .benchmarks
