# zenlayer.cloud developer entry points. `make test` is the README's test command (and what .ci/run runs).
# Everything runs through nox (noxfile.py, antsibull-nox.toml); `make` first bootstraps nox and antsibull-nox into
# .nox-bootstrap/ from PyPI. `.nox-bootstrap/bin/nox -l` lists the sessions; see tests/README.md.
SHELL := /bin/bash
PYTHON ?= python3
BOOTSTRAP := .nox-bootstrap
NOX := $(BOOTSTRAP)/bin/nox --no-color
RESULTS := tests/output/ci
CORE ?= 2.19
CORES := 2.16 2.19 2.21
NOX_ARGS ?=
export NO_COLOR := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_NO_INPUT := 1

LINT_SESSIONS := codeqa yamllint antsibull-nox-config ansible-lint
# Longest first: nox starts them in this order, JOBS at a time (one session's waits on emulators and playbooks overlap
# another's work; each session's output is printed as a block when it ends). The split of tests/README.md:
# integration-2.19 and units-2.19 run every test, the 2.16 and 2.21 sessions the boundary ones (PRIMARY: as
# PRIMARY_CORE in noxfile.py). build-import-check runs in `make release` only: `release` runs the same galaxy-importer
# (scripts/galaxy-importer.cfg) on the same tarball, and fails on a warning too.
PRIMARY := 2.19
TEST_SESSIONS := integration-$(PRIMARY) units-$(PRIMARY) $(foreach c,$(filter-out $(PRIMARY),$(CORES)),integration-$(c)) \
	$(foreach c,$(CORES),sanity-$(c)) ansible-lint release docs-check \
	$(foreach c,$(CORES),ansible-doc-$(c)) $(foreach c,$(filter-out $(PRIMARY),$(CORES)),units-$(c)) \
	codeqa yamllint antsibull-nox-config extra-checks changelog
JOBS ?= 2
# make check's unit test workers: the unit tests mostly wait on the emulator's clock (noxfile.py: UNIT_WORKERS)
CHECK_UNIT_WORKERS ?= 16
PARALLEL := --parallel $(JOBS) --allow-parallel

.PHONY: help bootstrap test test-all check demo emulator emulator-env emulator-stop lint sanity units integration \
	release reliability bench clean

help:
	@echo "make test         the whole suite: every nox session below, JOBS=$(JOBS) at a time, ending"
	@echo "                  'summary: N passed, M failed, K sessions skipped'"
	@echo "                  (tests of our own logic on ansible-core 2.19, the boundary with Ansible on 2.16, 2.19 and 2.21)"
	@echo "make test-all     the same with every test on every ansible-core (before a release)"
	@echo "make check        the inner loop: lint + units on one ansible-core (CORE=$(CORE); on 2.16 and 2.21 the"
	@echo "                  boundary tests only, unless ZENLAYER_TESTS=all)"
	@echo "make demo         the demo (scripts/demo.sh)"
	@echo "make emulator     the emulator in the background (seed quickstart); prints the export lines to paste"
	@echo "make emulator-env the export lines again; make emulator-stop stops it"
	@echo "make lint         flake8, yamllint, ansible-lint --profile production"
	@echo "make sanity       ansible-test sanity             (CORE=2.16|2.19|2.21, default $(CORE))"
	@echo "make units        ansible-test units              (CORE=...)"
	@echo "make integration  ansible-test integration + pytest tests/integration (CORE=...)"
	@echo "make release      build + galaxy-importer, changelog lint, execution environment context"
	@echo "make reliability  the fault/bad-input/secrets/TLS/concurrency suite; rewrites docs/reliability.md"
	@echo "make bench        the benchmark; rewrites docs/benchmarks.md and .json (QUICK=1 for a short run)"
	@echo "make bootstrap    nox and antsibull-nox into $(BOOTSTRAP)/ (every target does it first)"
	@echo "make clean        remove the venvs, test output and built tarballs"
	@echo "Sessions: $(BOOTSTRAP)/bin/nox -l; one of them: $(BOOTSTRAP)/bin/nox -e NAME [-- ARGS]"

bootstrap: $(BOOTSTRAP)/.stamp

$(BOOTSTRAP)/.stamp: tests/requirements-nox.txt
	rm -rf $(BOOTSTRAP)
	$(PYTHON) -m venv $(BOOTSTRAP)
	$(BOOTSTRAP)/bin/python -m pip install -q -r tests/requirements-nox.txt
	touch $@

test: bootstrap
	@rm -rf $(RESULTS) && mkdir -p $(RESULTS)
	@start=$$SECONDS; $(NOX) $(PARALLEL) --report $(RESULTS)/nox-report.json -e $(TEST_SESSIONS) $(NOX_ARGS); \
	  echo "nox: $$((SECONDS - start)) s; junit XML in $(RESULTS)/"; \
	  $(BOOTSTRAP)/bin/python tests/summary.py $(RESULTS)/nox-report.json

# every test on every ansible-core (tests/README.md: the split), as before a release
test-all:
	ZENLAYER_TESTS=all $(MAKE) test

check: bootstrap
	@start=$$SECONDS; ZENLAYER_UNIT_WORKERS=$${ZENLAYER_UNIT_WORKERS:-$(CHECK_UNIT_WORKERS)} ZENLAYER_UNIT_GROUPS=together \
	  $(NOX) $(PARALLEL) -e units-$(CORE) $(LINT_SESSIONS) $(NOX_ARGS) && \
	  echo "make check: $$((SECONDS - start)) s"

demo:
	bash scripts/demo.sh

# the emulator in the background for the README's Quick start (scripts/emulator.py; EMULATOR_DIR, EMULATOR_PORT)
emulator:
	@$(PYTHON) scripts/emulator.py start

emulator-env:
	@$(PYTHON) scripts/emulator.py env

emulator-stop:
	@$(PYTHON) scripts/emulator.py stop

lint: bootstrap
	$(NOX) -e $(LINT_SESSIONS)

sanity units integration: bootstrap
	$(NOX) -e $@-$(CORE) $(NOX_ARGS)

release: bootstrap
	$(NOX) -e changelog build-import-check release

reliability: bootstrap
	$(NOX) -e reliability $(NOX_ARGS)

bench: bootstrap
	$(NOX) -e bench -- $(if $(QUICK),--quick) $(BENCH_ARGS)

clean:
	-@$(PYTHON) scripts/emulator.py stop 2>/dev/null
	rm -rf .nox $(BOOTSTRAP) .venvs .cache .pytest_cache tests/output tests/integration/inventory build zenlayer-cloud-*.tar.gz
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
