# mctm_replica: `make demo` and `make test` do everything on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Benchmark size; `make bench ROWS=20000` is the quick smoke run CI uses.
ROWS   ?= 1000000
# Two workers match the machine's two cores; each worker owns its own databases and schemas.
TEST_WORKERS ?= 2
# Extra pytest arguments, e.g. `make test PYTEST_ARGS='-m "not browser"'` skips the browser tier.
PYTEST_ARGS ?=
# Extras the venv gets: `dev` (tests; includes `local`: stand-in, embedded PostgreSQL, demo).
# CI adds `deploy-check` (dagster-aws, dagster-k8s) for the ECS/Kubernetes config tests.
EXTRAS ?= dev

.PHONY: install demo dev test bench clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/mctm-replica demo

dev: install
	$(VENV)/bin/mctm-replica dev

test: install
	$(PY) -m pytest -n $(TEST_WORKERS) -q $(PYTEST_ARGS)

bench: install
	$(PY) benchmarks/replication_bench.py --rows $(ROWS)
	$(PY) benchmarks/refresh_bench.py --rows $(ROWS)
	$(PY) benchmarks/peers_bench.py --rows $(ROWS)
	$(PY) benchmarks/ct_bench.py --rows $(ROWS)
	$(PY) benchmarks/readers_bench.py --rows $(ROWS)

clean:
	rm -rf $(VENV) .local *.egg-info .pytest_cache
