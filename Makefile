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
TEST_SESSIONS := $(LINT_SESSIONS) docs-check extra-checks build-import-check changelog \
	$(foreach c,$(CORES),sanity-$(c) units-$(c) integration-$(c) ansible-doc-$(c)) release

.PHONY: help bootstrap test check demo lint sanity units integration release reliability bench clean

help:
	@echo "make test         the whole suite: every nox session below, ending 'summary: N passed, M failed'"
	@echo "make check        the inner loop: lint + units on one ansible-core (CORE=$(CORE))"
	@echo "make demo         the demo (scripts/demo.sh)"
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
	@start=$$SECONDS; $(NOX) --report $(RESULTS)/nox-report.json -e $(TEST_SESSIONS) $(NOX_ARGS); \
	  echo "nox: $$((SECONDS - start)) s; junit XML in $(RESULTS)/"; \
	  $(BOOTSTRAP)/bin/python tests/summary.py $(RESULTS)/nox-report.json

check: bootstrap
	$(NOX) -e $(LINT_SESSIONS) units-$(CORE) $(NOX_ARGS)

demo:
	bash scripts/demo.sh

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
	rm -rf .nox $(BOOTSTRAP) .venvs .cache .pytest_cache tests/output tests/integration/inventory build zenlayer-cloud-*.tar.gz
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
