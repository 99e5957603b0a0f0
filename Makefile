# podswitch — the two commands a fresh machine needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
DATA_DIR ?= var/podswitch
PYTEST_ARGS ?=

.PHONY: run test bench lint fmt system-deps services clean lab-down constraints typecheck mutate

$(PY): | system-deps
	$(PYTHON) -m venv $(VENV)

# constraints.txt pins the versions the suite last passed with, so an upstream release cannot break a fresh
# clone; refresh it with `make constraints` after testing newer ones.
$(INSTALLED): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

system-deps:
	@scripts/system-deps.sh

services:
	@scripts/services.sh

## run: the controller on its embedded SQLite store, the emulated lab POD and the seed's demo tenant
run: $(INSTALLED) system-deps
	$(VENV)/bin/podswitch run --data-dir $(DATA_DIR)

## test: everything — lint, format, types, then unit, property, API (schemathesis), PostgreSQL, and data plane
## in namespaces
test: $(INSTALLED) system-deps services
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest $(PYTEST_ARGS)

## bench: figures side by side with baselines measured in the same run, and with the same benchmarks of
## BENCH_AGAINST (a git revision; default: main before the controller/client foundation) run right after each
## of today's; `make bench BENCH_AGAINST=` runs today's alone
BENCH_AGAINST ?= 0dc157f
bench: $(INSTALLED) system-deps services
	$(PY) -m benchmarks $(if $(BENCH_AGAINST),--against $(BENCH_AGAINST))

## typecheck: mypy over src/podswitch, strict on model, config, fabric, controller and client ([tool.mypy])
typecheck: $(INSTALLED)
	$(VENV)/bin/mypy

## mutate: mutation testing (mutmut) of model/, config/ and fabric/ against their fast tests (tests/model,
##   tests/config, tests/fabric: no root, no network), then the survivors. Takes long over all three packages;
##   narrow it while iterating: make mutate MUTANTS='podswitch.model.validate*'. `mutmut show NAME` shows one
##   mutant, `mutmut browse` all of them; results are kept in mutants/ and reused for unchanged code.
MUTANTS ?=
MUTATE_JOBS ?= 2
mutate: $(INSTALLED)
	PODSWITCH_MUTATION=1 $(VENV)/bin/mutmut run --max-children $(MUTATE_JOBS) $(MUTANTS)
	@$(VENV)/bin/mutmut results | grep -v ': not checked$$' || echo "no survivors"

lint: $(INSTALLED)
	$(VENV)/bin/ruff check src tests benchmarks

fmt: $(INSTALLED)
	$(VENV)/bin/ruff check --fix src tests benchmarks
	$(VENV)/bin/ruff format src tests benchmarks

lab-down: $(INSTALLED)
	$(VENV)/bin/podswitch lab down

constraints: $(INSTALLED)
	$(PY) -m pip freeze --exclude-editable | grep -v '^podswitch' > constraints.txt

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis mutants
