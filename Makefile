# implicit-bias: the two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# One BLAS/XLA thread per process keeps parallel runs from oversubscribing the cores.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: demo test test-fast bench install clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/implicit-bias run --out runs

# Headless Chromium opens the sweep report in tests/test_report.py (those tests skip without it).
CHROMIUM := /usr/bin/chromium
chromium:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make chromium: $(CHROMIUM) is missing; installing Debian's chromium"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	else \
		echo "make chromium: $(CHROMIUM) is missing and cannot be installed here (needs root and apt-get):" \
			"run 'sudo apt-get install -y chromium'; until then the browser tests of the report are skipped" >&2; \
	fi

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# The bench extra adds the PyTorch peer (exactly torch==2.13.0, the CPU wheel). REFERENCE_CODE=PATH (a checkout of
# roosephu/deep_matrix_factorization) adds the time-to-solution benchmarks against it (benchmarks/README.md);
# LABEL_NOISE_CODE=PATH (a checkout of jhaochenz96/noise-implicit-bias) adds label_noise_reference.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	$(BIN)/python benchmarks/run_all.py $(if $(REFERENCE_CODE),--reference-code $(REFERENCE_CODE)) \
		$(if $(REFERENCE_PYTHONPATH),--reference-pythonpath $(REFERENCE_PYTHONPATH)) \
		$(if $(LABEL_NOISE_CODE),--label-noise-code $(LABEL_NOISE_CODE))

clean:
	rm -rf $(VENV) runs .pytest_cache
