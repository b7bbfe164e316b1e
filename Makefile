# The two commands of the README: `make demo` (the main job) and `make test` (the tests).
# Both install everything they need into .venv first (about 15 s with a warm registry).
VENV ?= .venv
export PYTHONDONTWRITEBYTECODE :=

.PHONY: install demo test lint bench-trainers

$(VENV)/.installed-dev: pyproject.toml constraints.txt .ci/install
	bash .ci/install dev

install: $(VENV)/.installed-dev

demo: install
	$(VENV)/bin/rea train-demo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(VENV)/bin/python -m pytest -q

bench-trainers:
	bash .ci/install dev,bench
	$(VENV)/bin/python benchmarks/trainers_vs_deepctr.py
