# Entry points for a fresh machine (see README):  make book  |  make test
# Each creates .venv and installs the pinned requirements on first use.

SHELL   := /bin/bash
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# --all: without it Sphinx skips chapters whose source did not change, and
# their outputs go stale after a change to lic_lib or data/.
JB_FLAGS := --warningiserror --keep-going --all
# Larger data sets (training photos, clic2025): ../shared/data by default.
export LIC_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: book test venv system-deps pytest nbval book-ci browser-check anchors vvc reproduce clean

book: venv system-deps  ## execute every chapter, site in _build/html
	@echo "executing every chapter ($${LIC_PROFILE:-book} profile); see README for the time"
	@mkdir -p _build
	set -o pipefail; LIC_PROFILE=$${LIC_PROFILE:-book} $(BIN)/jupyter-book build . $(JB_FLAGS) 2>&1 | tee _build/book.log
	@$(BIN)/python tools/book_times.py _build/book.log
	@echo "open _build/html/index.html"

test: venv system-deps pytest nbval book-ci browser-check  ## everything CI runs

pytest: venv
	$(BIN)/python -m pytest -q tests

nbval: venv  ## every chapter under nbval, in the small ci profile
	LIC_PROFILE=ci $(BIN)/python -m pytest -q --nbval-lax --nbval-current-env \
	  -W ignore::DeprecationWarning -p no:cacheprovider book/

book-ci: venv  ## a strict book build (warnings and cell errors fail)
	@mkdir -p _build
	set -o pipefail; LIC_PROFILE=ci $(BIN)/jupyter-book build . --path-output _build/ci $(JB_FLAGS) 2>&1 | tee _build/book-ci.log
	@$(BIN)/python tools/book_times.py _build/book-ci.log

browser-check: venv  ## open every built page in headless Chromium; screenshots
	$(BIN)/python tests/check_rendered_book.py _build/ci/_build/html \
	  --screenshots _build/screenshots

anchors: venv system-deps  ## recompute data/results/kodak for every classical codec
	$(BIN)/lic anchors --dataset kodak --force

venv: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

# HEVC goes through ffmpeg + libx265 and the browser check through Chromium:
# Debian packages, not on PyPI.
APT_NEEDS := $(if $(shell command -v ffmpeg),,ffmpeg) \
             $(if $(shell command -v chromium),,chromium)
system-deps:
	@if [ -z "$(strip $(APT_NEEDS))" ]; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  echo "installing $(strip $(APT_NEEDS)) through apt-get"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    $(APT_NEEDS) >/dev/null; \
	else \
	  echo "warning: $(strip $(APT_NEEDS)) not found and no apt-get:" \
	       "install them by hand (ffmpeg with libx265; chromium)."; \
	fi

# VVC reference software (VTM 4:4:4 and the fast VVenC/VVdeC pair), built
# from the source archives in ../shared/vendor into .vvc/ (ignored, ~15 min
# on 2 cores). lic_lib.classic finds the binaries there (or via $$LIC_VVC_DIR).
VENDOR  ?= $(abspath ../shared/vendor)
VVC_DIR := .vvc
vvc: $(VVC_DIR)/bin/EncoderAppStatic $(VVC_DIR)/bin/vvencFFapp $(VVC_DIR)/bin/vvdecapp  ## build VTM, VVenC, VVdeC

$(VVC_DIR)/bin/EncoderAppStatic: $(VENDOR)/vtm-23.13.tar.gz
	tools/build_vvc.sh $< $(VVC_DIR) bin EncoderAppStatic DecoderAppStatic
	rm -rf $(VVC_DIR)/vtm-cfg && cp -r $(VVC_DIR)/src/vtm-23.13/cfg $(VVC_DIR)/vtm-cfg
$(VVC_DIR)/bin/vvencFFapp: $(VENDOR)/vvenc-0a41b11.tar.gz
	tools/build_vvc.sh $< $(VVC_DIR) bin/release-static vvencFFapp
$(VVC_DIR)/bin/vvdecapp: $(VENDOR)/vvdec-e493ce5.tar.gz
	tools/build_vvc.sh $< $(VVC_DIR) bin/release-static vvdecapp

reproduce: venv system-deps vvc  ## recompute every result file (hours; resumable)
	$(BIN)/python tools/reproduce.py $(if $(YES),--yes)

clean:
	rm -rf _build .pytest_cache
