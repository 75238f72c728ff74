# The front door: `make run` serves the platform with demo data; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed
# the suite's processes (pytest-xdist; each test module runs whole in one of them)
TEST_PROCESSES ?= 2
# the coverage floor: just under the suite's line coverage when it was set (92 %, issue 28)
COVERAGE_FLOOR ?= 93

.PHONY: run test check lint typecheck install serve bench bench-quick mutation clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# the stock JavaScript FHIR client the tests drive (fhir-kit-client), from tests/js's lock file
JS_STAMP := tests/js/node_modules/.installed
$(JS_STAMP): tests/js/package-lock.json
	@if command -v npm >/dev/null; then \
	  cd tests/js && npm ci --ignore-scripts --no-audit --no-fund --silent && touch node_modules/.installed; \
	else echo "npm not found: the fhir-kit-client test will be skipped"; fi

install: $(STAMP) $(JS_STAMP)

run: $(STAMP)
	$(BIN)/journalloft tenants onboard tenants/*.yaml
	$(BIN)/journalloft demo --people 50
	@echo
	@echo "journalloft serves on http://127.0.0.1:$(PORT)  (API docs: http://127.0.0.1:$(PORT)/docs)"
	@echo "Get a token for the Bodø legevakt and look a demo person up (see README.md):"
	@echo "  TOKEN=\$$(JOURNALLOFT_PORT=$(PORT) $(BIN)/journalloft token bodo-legevakt)"
	@echo "  curl -s -H \"Authorization: Bearer \$$TOKEN\" -H 'Content-Type: application/json' \\"
	@echo "    -d '{\"patients\": [\"<a person id printed above>\"]}' http://127.0.0.1:$(PORT)/v1/news2/query"
	@echo "The legevakt board (in a second terminal, once the API is up):"
	@echo "  JOURNALLOFT_PORT=$(PORT) $(BIN)/journalloft board --client bodo-legevakt --port 8100"
	@echo "  then open http://127.0.0.1:8100/ and add a demo person's fødselsnummer"
	@echo
	JOURNALLOFT_PORT=$(PORT) $(BIN)/journalloft serve --port $(PORT)

test: check

check: $(STAMP) $(JS_STAMP) lint typecheck
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile --cov=journalloft --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_FLOOR) -q

LINTED := src tests migrations mutation $(wildcard bench)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/lint-imports --no-cache
	PYTHONPATH=tests $(BIN)/lint-imports --no-cache --config tests/plugin_cave/importlinter.toml

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick $(ARGS)

# Mutation testing of the safety core, one module at a time under nice (docs/mutation.md); not in
# CI: about half an hour on a free 2-core machine. MODULES="scoring dpop" runs only those.
mutation: $(STAMP)
	nice -n 10 $(BIN)/python -m mutation $(MODULES)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
