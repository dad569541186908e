# Entry points for a fresh machine (see README):  make book  |  make test
# Each creates .venv and installs the pinned requirements on first use.

SHELL   := /bin/bash
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
JB_FLAGS := --warningiserror --keep-going
# Larger data sets (training photos, clic2025): ../shared/data by default.
export LIC_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: book test venv system-deps pytest nbval book-ci anchors clean

book: venv system-deps  ## execute every chapter, site in _build/html
	LIC_PROFILE=$${LIC_PROFILE:-book} $(BIN)/jupyter-book build . $(JB_FLAGS)
	@echo "open _build/html/index.html"

test: venv system-deps pytest nbval book-ci  ## everything CI runs

pytest: venv
	$(BIN)/python -m pytest -q tests

nbval: venv  ## every chapter under nbval, in the small ci profile
	LIC_PROFILE=ci $(BIN)/python -m pytest -q --nbval-lax --nbval-current-env \
	  -W ignore::DeprecationWarning -p no:cacheprovider book/

book-ci: venv  ## a strict book build (warnings and cell errors fail)
	LIC_PROFILE=ci $(BIN)/jupyter-book build . --path-output _build/ci $(JB_FLAGS)

anchors: venv system-deps  ## recompute data/results/kodak for every classical codec
	$(BIN)/lic anchors --dataset kodak --force

venv: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

# HEVC goes through ffmpeg + libx265 (a Debian package, not on PyPI).
system-deps:
	@if command -v ffmpeg >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  echo "installing ffmpeg (with libx265) through apt-get"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq ffmpeg >/dev/null; \
	else \
	  echo "warning: ffmpeg not found and no apt-get; HEVC cannot be re-run." \
	       "Install ffmpeg with libx265 by hand."; \
	fi

clean:
	rm -rf _build .pytest_cache
