# The two commands of the README: `make demo` (the main job) and `make test` (the tests).
# Both install everything they need into .venv first (about a minute the first time).
VENV ?= .venv
export PYTHONDONTWRITEBYTECODE :=

.PHONY: install demo test lint bench-trainers

# dev,ray: the tests start a Ray head on loopback (tests/test_backend_ray.py).
$(VENV)/.installed-dev,ray: pyproject.toml constraints.txt .ci/install
	bash .ci/install dev,ray

install: $(VENV)/.installed-dev,ray

# The main job: one whole campaign on embedded defaults (SQLite, embedded Chroma, local jobs,
# offline brain unless an LLM is configured), from a team's current DCN-v2 config.
demo: install
	$(VENV)/bin/rea run --model dcn_v2 --data "synthetic:interaction-heavy?rows=60000&seed=0" \
		--budget 240 --baseline examples/baseline_dcn_v2.json --yes

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	LANGGRAPH_STRICT_MSGPACK=true $(VENV)/bin/python -m pytest -q --durations=15

bench-trainers:
	bash .ci/install dev,bench
	$(VENV)/bin/python benchmarks/trainers_vs_deepctr.py
