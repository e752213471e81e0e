# Set-up is part of each target: a fresh machine needs only `make dashboard` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

VENDOR := dashboard/static/vendor/.complete
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: dashboard test test-fast lint data system

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	# the project itself, editable: `geo` and `dashboard` import from any folder
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Leaflet and its plugins, from the npm registry (checked against its sha512 integrity).
$(VENDOR): $(STAMP) dashboard/vendor.py
	$(BIN)/python -m dashboard.vendor
	touch $(VENDOR)

## Debian packages the tests need, installed when missing (one apt-get update): chromium
## for the end-to-end tests, Node.js to check the map's script, PostgreSQL with PostGIS
## for the team store's tests (each test run starts a throwaway cluster of its own),
## ffmpeg for the briefing clips (`--animate`) and their tests.
SYSTEM_PACKAGES := chromium nodejs postgresql postgresql-15-postgis-3 ffmpeg
system:
	@{ command -v chromium && command -v node && command -v ffmpeg && command -v ffprobe && \
	  ls /usr/lib/postgresql/*/bin/initdb && \
	  ls /usr/share/postgresql/*/extension/postgis.control; } >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y \
	  --no-install-recommends $(SYSTEM_PACKAGES); }

## Start the dashboard on the embedded default data.
dashboard: $(STAMP) $(VENDOR)
	$(BIN)/streamlit run dashboard/app.py

## Lint, then run every test (the end-to-end ones in chromium).
test: $(STAMP) $(VENDOR) system
	$(BIN)/ruff check .
	$(BIN)/pytest

## The quick loop while editing: lint and every test but the browser, PostGIS, fuzzing
## and slow ones, on two processes (under a minute; `make test` runs everything, as CI
## does).
test-fast: $(STAMP) $(VENDOR)
	$(BIN)/ruff check .
	$(BIN)/pytest -q -n 2 -m "not e2e and not slow and not postgis and not fuzz"

## Rebuild the reference data in data/ (needs npm; not needed to use the project).
data: $(STAMP)
	$(BIN)/python data/build.py
