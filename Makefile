# cinreport: one command to build the report.  `make` (or `make help`) lists the targets.
#
# The build graph: validate data -> execute notebooks/authority.ipynb once per authority ->
# execute the study notebooks -> render the book.  Every step is a file with its inputs as
# prerequisites, so `make report` redoes only what a change reaches, and `make -j2 report`
# runs independent notebooks in parallel.  Authorities are discovered from params/authorities/.

SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
.SUFFIXES:

PYTHON_BOOT ?= python3
VENV ?= .venv
BUILD ?= build
BOOK_DIR ?= _book
PY := $(VENV)/bin/python
CINREPORT := $(VENV)/bin/cinreport --build $(BUILD)
PYTEST := $(PY) -m pytest
INSTALLED := $(VENV)/.installed

AUTHORITY_PARAMS := $(sort $(wildcard params/authorities/*.yml))
CODES := $(basename $(notdir $(AUTHORITY_PARAMS)))
# The layout (folders, the study chapters, the book's chapters) is defined once, in
# src/cinreport/common/layout.py.  BUILD and BOOK_DIR default to its folders (a test checks it) and are
# passed to every command, so `make report BUILD=/tmp/x` writes only there (and into BOOK_DIR).  The
# study notebooks to execute (STUDY) come from it through deps.mk, written by `cinreport deps`, which
# also writes the book's chapters for this build folder into the Quarto profile $(BOOK_PROFILE).
BOOK_PROFILE := _quarto-chapters.yml
# Each step depends on the package sources it runs (PKG_VALIDATE, PKG_AUTHORITY, PKG_RENDER, ...:
# written into deps.mk by `cinreport deps` from the import statements, src/cinreport/build/sourcedeps.py),
# so editing the renderer re-renders and executes no notebook.
# Make sees the data, params and national files through content stamps (src/cinreport/build/stamps.py),
# rewritten by `cinreport deps` before anything else only when an input's content changes: a file
# replaced by one with an older time (unzip, cp -p, rsync) is still noticed.
STAMPS := $(BUILD)/stamps
COMMON := $(STAMPS)/common pyproject.toml $(INSTALLED)

VALIDATED := $(CODES:%=$(BUILD)/validated/%.ok)
AUTHORITY_NB := $(CODES:%=$(BUILD)/authorities/%/authority.ipynb)
# STUDY is set by deps.mk, included below (hence `=`: expanded where used)
STUDY_NB = $(STUDY:%=$(BUILD)/study/%.ipynb)
NATIONAL := $(BUILD)/national/status.json
BOOK := $(BOOK_DIR)/index.html
STATIC := _quarto.yml index.qmd $(sort $(wildcard report/*))

.PHONY: help setup report validate authority test test-fast lint golden bench clean synth lock national-data

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(INSTALLED) ## Create .venv and install the pinned dependencies

$(INSTALLED): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# One build at a time in this folder.  The goals that write build outputs run in two steps: the
# outer make only takes the lock $(BUILD)/.lock and runs the same goal in an inner make that holds
# it until its last recipe has ended (src/cinreport/build/buildlock.py; the system releases the lock
# however the build ends).  A second build started meanwhile says it is waiting, waits, and then
# usually finds everything up to date.  `make -n` and `make -q` still show the inner make's plan.
LOCKED_GOALS := report authority clean
ifeq ($(CINREPORT_LOCKED),)
ifneq ($(filter $(LOCKED_GOALS),$(MAKECMDGOALS)),)
OUTER := yes
endif
endif
LOCK_PY := $(firstword $(wildcard $(PY)) $(PYTHON_BOOT))

# Every build first refreshes the stamps and removes what build/ holds for authorities that are
# gone (`cinreport deps`, always run; deps.mk changes only when the set of authorities or of study
# chapters does), and writes $(BOOK_PROFILE) when the book's chapters change (an authority joins or
# leaves, BUILD changes), so the book is rendered again exactly then.
ifeq ($(filter help setup clean lock test test-fast lint golden bench synth validate national-data,$(MAKECMDGOALS))$(OUTER),)
ifneq ($(MAKECMDGOALS)$(filter-out help,$(.DEFAULT_GOAL)),)
include $(BUILD)/deps.mk
endif
endif
# (Skipped when the build's supervisor has just run it, in the dry run that counts the notebooks.)
$(BUILD)/deps.mk: FORCE | $(INSTALLED)
	@if [ -z "$$CINREPORT_DEPS_FRESH" ] || [ ! -f $@ ]; then $(CINREPORT) deps --out $@; fi
$(STAMPS)/%: ;
.PHONY: FORCE
FORCE:

ifeq ($(OUTER),yes)
$(filter $(LOCKED_GOALS),$(MAKECMDGOALS)):
	@$(LOCK_PY) -I src/cinreport/build/buildlock.py $(BUILD)/.lock -- \
	  $(LOCK_PY) -I src/cinreport/build/warm.py --python $(PY) --socket $(BUILD)/.warm.sock -- \
	  $(MAKE) --no-print-directory --keep-going CINREPORT_LOCKED=1 $@
else
report: $(BOOK) ## Validate, execute the notebooks and render the book (HTML and PDF) into _book/
endif

validate: $(INSTALLED) ## Check params and data against the codebook (reports every problem)
	$(CINREPORT) validate

ifneq ($(filter authority,$(MAKECMDGOALS)),)
ifeq ($(strip $(CODE)),)
$(error make authority needs the authority's code, e.g. make authority CODE=la-a)
endif
ifeq ($(wildcard params/authorities/$(CODE).yml),)
$(error unknown authority '$(CODE)': there is no params/authorities/$(CODE).yml (see README, Adding an authority))
endif
endif

ifneq ($(OUTER),yes)
authority: $(BUILD)/authorities/$(CODE)/authority.ipynb ## Build one authority's chapter: make authority CODE=la-a
endif

# Validation also measures the authority (build/authorities/<code>/metrics.json, never published).
$(BUILD)/validated/%.ok: $(STAMPS)/authority/% $(COMMON) $(PKG_VALIDATE)
	$(CINREPORT) validate --authority $* --quiet --measure
	@mkdir -p $(@D) && touch $@

# One disclosure pass over every number the book publishes, once all authorities are measured
# (`cinreport publish`).  It writes the store (build/published/store.json), a slice per authority
# (build/published/authorities/<code>.json) and the output-checking log.  Suppression links
# authorities (a cell hidden in the cross-authority table is hidden in the authority's chapter), so
# any authority's change can change another's chapter.  Beside it (make -j2 runs both at once), the
# key findings' tests and robustness (`cinreport analyse`), which read the measures only; then the
# findings in words (`cinreport findings`), quoting the store, for every study chapter.
PUBLISHED := $(BUILD)/published/store.json
ANALYSIS := $(BUILD)/study/analysis.pickle
FINDINGS := $(BUILD)/study/evaluated-findings.json
$(PUBLISHED): $(VALIDATED) $(STAMPS)/authorities $(COMMON) $(PKG_PUBLISH)
	@$(CINREPORT) publish
$(ANALYSIS): $(VALIDATED) $(STAMPS)/authorities $(COMMON) $(PKG_ANALYSE)
	@$(CINREPORT) analyse
$(FINDINGS): $(PUBLISHED) $(ANALYSIS) $(COMMON) $(PKG_FINDINGS)
	@$(CINREPORT) findings

# An authority chapter runs after the pass.  When the pass is all that is newer and the authority's
# published numbers are the same as those its chapter was executed with (the copy run-authority
# keeps), the chapter is kept (touched) instead of executed again.
$(BUILD)/authorities/%/authority.ipynb: notebooks/authority.ipynb $(STAMPS)/authority/% $(NATIONAL) $(COMMON) $(PKG_AUTHORITY) $(PUBLISHED) | $(VALIDATED)
	@if [ "$?" = "$(PUBLISHED)" ] && cmp -s $(BUILD)/published/authorities/$*.json $(@D)/published.json; then \
	  touch $@; if [ -n "$$CINREPORT_PROGRESS" ]; then printf . >> "$$CINREPORT_PROGRESS"; fi; \
	  echo "[cinreport] authority $* kept: its published numbers did not change" >&2; \
	else $(CINREPORT) run-authority $*; fi

$(BUILD)/study/%.ipynb: notebooks/study/%.ipynb $(AUTHORITY_NB) $(NATIONAL) $(FINDINGS) $(COMMON) $(PKG_STUDY)
	@$(CINREPORT) run-study $*

# DfE national files (params/report.yml `national:`), read once for every chapter.  Where they are
# absent the outputs say so and the report states that national context was not included.
$(NATIONAL): $(STAMPS)/national $(COMMON) $(PKG_NATIONAL)
	$(CINREPORT) national

national-data: $(INSTALLED) ## Download the DfE national files from Explore Education Statistics (needs a network)
	$(CINREPORT) national-data

# Every recipe writes its output atomically (temporary name, then rename), so a file at a target's
# path is always complete: Make must not delete one when a build is interrupted right after the
# rename (it would throw away a good book).  A recipe that fails or is killed leaves the old file.
.PRECIOUS: $(BOOK) $(AUTHORITY_NB) $(STUDY_NB) $(VALIDATED) $(NATIONAL) $(PUBLISHED) $(ANALYSIS) $(FINDINGS) $(BUILD)/deps.mk

$(BOOK): $(STATIC) $(BOOK_PROFILE) $(STUDY_NB) $(AUTHORITY_NB) $(COMMON) $(PKG_RENDER)
	$(CINREPORT) render --out $(BOOK_DIR)

synth: $(INSTALLED) ## Regenerate the synthetic demo data in data/ (seed from params/report.yml)
	$(CINREPORT) synth --out data

# Two test processes (pytest-xdist): the suite's builds and its in-process tests overlap on the two
# cores.  The longest tests are handed out first (LONGEST_FIRST in tests/conftest.py, which also
# groups the quick tests by file where xdist can apply the groups).
# `make test PYTEST_JOBS=0` runs it in one process.  `make test` is the whole suite (CI runs it) and
# lists its slowest tests; `make test-fast` leaves out the whole-pipeline builds and the slow tests.
PYTEST_JOBS ?= 2
XDIST := $(if $(filter-out 0,$(PYTEST_JOBS)),-n $(PYTEST_JOBS) --dist loadgroup --no-loadscope-reorder)
FAST := not e2e and not slow and not browser
test: $(INSTALLED) ## Run the whole test suite (what CI runs), listing the slowest tests
	$(PYTEST) $(XDIST) --durations=15

test-fast: $(INSTALLED) ## Run the quick tests only (no whole-pipeline build, no slow test)
	$(PYTEST) $(XDIST) -m "$(FAST)"

lint: $(INSTALLED) ## Lint (ruff), type-check (mypy) and check the package's layers; settings in pyproject.toml
	$(PY) -m ruff check src tests notebooks
	$(PY) -m mypy
	$(PY) -m cinreport_dev.layers src/cinreport

# The golden tables (tests/golden/) change only here: rebuilt from the demo data, then reviewed in the diff.
golden: $(INSTALLED) ## Rewrite the golden headline tables from the demo data (tests/test_golden.py), to review
	CINREPORT_WRITE_GOLDEN=1 $(PYTEST) -n 0 -q tests/test_golden.py

SIZES ?= 4 16 64 153
bench: $(INSTALLED) ## Time builds of N synthetic authorities against a naive loop: make bench SIZES="4 16"
	$(PY) -m cinreport_dev.bench --sizes "$(SIZES)" --out $(BUILD)/bench

lock: ## Re-resolve requirements.lock from pyproject.toml in a scratch venv
	rm -rf .lock-venv && $(PYTHON_BOOT) -m venv .lock-venv && .lock-venv/bin/pip install --quiet -e '.[test,bench]' \
	  && { echo '# Exact versions of every package, resolved on Python 3.11 (make setup installs these).'; \
	       echo '# Regenerate with: make lock'; .lock-venv/bin/pip freeze --exclude-editable | grep -v '^cinreport'; } > requirements.lock \
	  && rm -rf .lock-venv

ifneq ($(OUTER),yes)
clean: ## Remove build outputs (build/, _book/); keeps .venv and data
	rm -rf $(BUILD) $(BOOK_DIR) $(BOOK_PROFILE) _quarto-cinreport-pdf.yml _summary.md
endif
