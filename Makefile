# reelhouse: `make run` starts the service on the embedded defaults, `make test` checks the import contracts
# and types, then runs every test.
# Both create or refresh the virtualenv in .venv themselves.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run admin test lint bench clean-data

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/reelhouse serve

# The first person who signs in to the web app (asks for a password): `make admin USER_NAME=xiaomei`.
admin: $(STAMP)
	$(BIN)/reelhouse users create-admin $(or $(USER_NAME),admin)

# The import contracts and the type checker first (seconds; pyproject.toml configures both), then the tests.
test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check backend workers storage presets tests bench

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# Removes the data directory the configuration resolves to (see README, Configuration).
clean-data: $(STAMP)
	$(BIN)/python -c "import shutil; from backend.config import get_settings; d = get_settings().data_dir; print('removing', d); shutil.rmtree(d, ignore_errors=True)"
