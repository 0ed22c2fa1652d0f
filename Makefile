# Two user-facing targets; each creates .venv with Python >= 3.12 if it is missing.
PYTHON ?= $(shell command -v python3.12 || (command -v pyenv >/dev/null && pyenv which python3.12 2>/dev/null) || echo python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python -m limprob.demo

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q -n 2  # two worker processes: the machine's two cores
	PYTHON=$(PYTHON) BUILD_PYTHON=$(BIN)/python .ci/wheel_smoke  # the wheel, installed fresh
