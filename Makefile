# The two commands of the README: `make demo` (the main job) and `make test` (the tests).
# Both install everything they need into .venv first (about a minute the first time).
VENV ?= .venv
export PYTHONDONTWRITEBYTECODE :=

.PHONY: install demo test lint bench-trainers

$(VENV)/.installed-dev: pyproject.toml constraints.txt .ci/install
	bash .ci/install dev

install: $(VENV)/.installed-dev

# Until the agent lands, the main job is one training job: DCN-v2 on the interaction-heavy preset.
demo: install
	$(VENV)/bin/rea train --model dcn_v2 --data "synthetic:interaction-heavy?rows=60000&seed=0" \
		--set epochs=4 --set batch_size=512 --set lr=0.003

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	LANGGRAPH_STRICT_MSGPACK=true $(VENV)/bin/python -m pytest -q

bench-trainers:
	bash .ci/install dev,bench
	$(VENV)/bin/python benchmarks/trainers_vs_deepctr.py
