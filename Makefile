# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test evals lint typecheck bench clean-data

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/hibachi run

SGD_CASES := ../shared/data/sgd

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/pytest
	$(MAKE) --no-print-directory evals

# The eval gate: the project's conversation cases (success >= 0.95, no policy violation), then the
# SGD extraction cases (success >= 0.90) when ../shared is next to the checkout, as it is in CI.
evals: $(STAMP)
	$(BIN)/python -m evals run --min-success 0.95 --max-violations 0 --report .data/evals-report.html
	@if [ -d $(SGD_CASES) ]; then $(BIN)/python -m evals run $(SGD_CASES) --min-success 0.90; \
	else echo "evals: SGD cases skipped, $(SGD_CASES) not found"; fi

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy .

bench: $(STAMP)
	$(BIN)/python bench/commands.py

clean-data:
	rm -rf .data
