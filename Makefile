# Two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
PIP := $(VPY) -m pip
DEMO_OUTPUT ?= demo_output
# Tiny networks run fastest single-threaded, and spinning OpenMP threads starve each
# other when a core is busy (see DESIGN.md, performance notes).
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: demo test bench bench-eelsfitter-venv lint format docs bad-inputs-table clean

$(VPY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip setuptools wheel

$(VENV)/.installed-demo: $(VPY) setup.cfg setup.py pyproject.toml constraints.txt sklearn_zlp/nn/_ckernel*.c sklearn_zlp/nn/_ckernel*.h
	$(PIP) install -q -c constraints.txt -e ".[plot,io]"
	touch $@

$(VENV)/.installed-test: $(VPY) setup.cfg setup.py pyproject.toml constraints.txt sklearn_zlp/nn/_ckernel*.c sklearn_zlp/nn/_ckernel*.h
	$(PIP) install -q -c constraints.txt -e ".[test]"
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	$(VPY) -m sklearn_zlp demo --output $(DEMO_OUTPUT)

test: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VPY) -m pytest

# Speed and time-to-quality benchmark (prints ratios measured side by side).
bench: $(VENV)/.installed-demo
	$(VPY) benchmarks/bench_ensemble.py $(BENCH_ARGS)

# Optional, for part (c) of the benchmark only: EELSFitter (GPL) in a venv of its own,
# run by benchmarks/eelsfitter_driver.py as a subprocess, never imported by sklearn_zlp.
# torch is pinned by constraints.txt in both installs (any other torch means GBs of CUDA
# wheels). Neither `make test` nor `make bench` depends on this.
EF_VENV := benchmarks/.venv-eelsfitter
bench-eelsfitter-venv: $(EF_VENV)/.installed

$(EF_VENV)/.installed: constraints.txt
	$(PYTHON) -m venv $(EF_VENV)
	$(EF_VENV)/bin/python -m pip install -q -U pip
	$(EF_VENV)/bin/python -m pip install -q -c constraints.txt torch==2.13.0
	$(EF_VENV)/bin/python -m pip install -q -c constraints.txt EELSFitter==3.1.0
	touch $@

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# docs/bad_inputs.rst: every bad input the tests try and its message, as printed today
# (tests/test_bad_inputs.py fails when the file differs from this output).
bad-inputs-table: $(VENV)/.installed-test
	$(VPY) tests/_bad_input_table.py docs/bad_inputs.rst

docs: $(VENV)/.installed-test
	$(PIP) install -q -c constraints.txt -e ".[docs]"
	$(VPY) -m sphinx -b html -W --keep-going docs docs/_build/html

clean:
	rm -rf $(VENV) build dist *.egg-info sklearn_zlp/*.so sklearn_zlp/nn/*.so $(DEMO_OUTPUT) docs/_build docs/auto_examples
