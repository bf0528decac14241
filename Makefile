# zenlayer.cloud developer entry points. `make test` is the README's test command (and what .ci/run runs).
SHELL := /bin/bash
VENVS := .venvs
CORE ?= 2.19

.PHONY: help test demo venv lint sanity units integration release reliability bench clean

help:
	@echo "make test         the whole suite (scripts/test.sh): lint, sanity, units, integration, docs, build"
	@echo "make demo         the demo (scripts/demo.sh)"
	@echo "make venv         create/refresh the venvs under $(VENVS)/"
	@echo "make lint         ansible-lint --profile production"
	@echo "make sanity       ansible-test sanity       (CORE=2.16|2.19|2.21, default $(CORE))"
	@echo "make units        pytest tests/unit         (CORE=...)"
	@echo "make integration  pytest tests/integration  (CORE=...)"
	@echo "make release      the release checks (scripts/check_release.sh): EE context, changelog, galaxy-importer"
	@echo "make reliability  the fault/bad-input/secrets/TLS/concurrency suite; rewrites docs/reliability.md (CORE=...)"
	@echo "make bench        the benchmark; rewrites docs/benchmarks.md and .json (QUICK=1 for a short run)"
	@echo "make clean        remove venvs, test output and built tarballs"

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh

venv:
	bash scripts/venv.sh

lint:
	ZC_STAGES=lint bash scripts/test.sh

sanity:
	ZC_STAGES=sanity ZC_CORES=$(CORE) bash scripts/test.sh

units:
	ZC_STAGES=units ZC_CORES=$(CORE) bash scripts/test.sh

integration:
	ZC_STAGES=integration ZC_CORES=$(CORE) bash scripts/test.sh

release:
	bash scripts/venv.sh >/dev/null && bash scripts/check_release.sh

reliability:
	bash scripts/venv.sh >/dev/null && $(VENVS)/core-$(CORE)/bin/python scripts/reliability.py

bench:
	python3 tests/bench/run_bench.py $(if $(QUICK),--quick) $(BENCH_ARGS)

clean:
	rm -rf $(VENVS) .cache .pytest_cache tests/output tests/integration/inventory zenlayer-cloud-*.tar.gz
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
