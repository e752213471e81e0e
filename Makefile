# Set-up is part of each target: a fresh machine needs only `make dashboard` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dashboard test lint data

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

## Start the dashboard on the embedded default data.
dashboard: $(STAMP)
	$(BIN)/streamlit run dashboard/app.py

## Lint, then run every test.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest

## Rebuild the reference data in data/ (needs npm; not needed to use the project).
data: $(STAMP)
	$(BIN)/python data/build.py
