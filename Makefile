# User-facing targets (demo, test, lint, docs); each creates .venv with Python >= 3.12 if it is missing.
PYTHON ?= $(shell command -v python3.12 || (command -v pyenv >/dev/null && pyenv which python3.12 2>/dev/null) || echo python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test docs lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,docs]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python -m limprob.demo

test: $(VENV)/.installed lint docs
	$(BIN)/python -m pytest -q -n 2  # two worker processes: the machine's two cores
	PYTHON=$(PYTHON) BUILD_PYTHON=$(BIN)/python .ci/wheel_smoke  # the wheel, installed fresh

# Style and types: ruff's lint rules and formatting over the repository, then mypy over limprob/
# (every function annotated); the settings are in pyproject.toml.
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The docs site in site/: every public name documented, then mkdocs --strict (a broken link or
# any other warning fails). NO_MKDOCS_2_WARNING silences Material's banner about MkDocs 2.
docs: $(VENV)/.installed
	$(BIN)/python docs/check_docstrings.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
