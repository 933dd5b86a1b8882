# The two commands: `make run` (the demo service on http://127.0.0.1:8000) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install bench bench-callbacks bench-instructions faults fuzz clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The demo makes its own admin token (var/demo-admin-token) unless KAOHE_ADMIN_TOKEN is set already.
run: $(STAMP)
	$(BIN)/kaohe demo --campaign-out var/demo-campaign.toml $(if $(KAOHE_ADMIN_TOKEN),,--admin-token-file var/demo-admin-token)
	@echo "dashboard: http://127.0.0.1:8000/dashboard/login"
	KAOHE_CAMPAIGN=var/demo-campaign.toml KAOHE_ADMIN_TOKEN="$${KAOHE_ADMIN_TOKEN:-$$(cat var/demo-admin-token)}" \
		$(BIN)/kaohe serve --host 127.0.0.1 --port 8000

test: $(STAMP) lint
	. scripts/test-services.sh && $(BIN)/python -m pytest $(PYTEST_ARGS)

# The architecture (layers, one wechatpy importer) and a short lint rule set, checked by tools.
lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# One reminder to 20,000 clerks: one text for most of them, then the worst case (a text per unit);
# then 10,000 voters in 200 groups casting sealed ballots through /wecom/callback (benchmarks/votes.py).
bench: $(STAMP)
	$(BIN)/python -m benchmarks.reminders
	$(BIN)/python -m benchmarks.reminders --partial
	$(BIN)/python -m benchmarks.votes
	$(BIN)/python -m benchmarks.documents

# The floor, a turn and WeRoBot 1.13 (the `bench` extra) under wrk, alternating; SQLite, then PostgreSQL.
$(VENV)/.installed-bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

bench-callbacks: $(VENV)/.installed-bench
	. scripts/bench-tools.sh && $(BIN)/python -m benchmarks.callbacks
	. scripts/test-services.sh && $(BIN)/python -m benchmarks.callbacks --db postgres
	. scripts/test-services.sh && $(BIN)/python -m benchmarks.turn_cpu && $(BIN)/python -m benchmarks.turn_cpu --db postgres
	$(BIN)/python -m benchmarks.asgi_cpu && $(BIN)/python -m benchmarks.asgi_cpu --calls --requests 2000

# Instructions per answer turn in the dispatcher under valgrind's callgrind: the same on a busy machine as on
# an idle one, so a change to the hot path can be weighed before the wrk runs (a few minutes a database).
bench-instructions: $(VENV)/.installed-bench
	. scripts/bench-tools.sh && $(BIN)/python -m benchmarks.turn_instructions --top 15
	. scripts/test-services.sh && $(BIN)/python -m benchmarks.turn_instructions --db postgres --top 15

# A longer WeCom outage than make test's fault run, with the shipped backoff; prints figures, never fails.
faults: $(STAMP)
	$(BIN)/python -m benchmarks.faults --outage 90

# 100,000 hostile requests against a real `kaohe serve` (not part of `make test`); fails on any 5xx.
$(VENV)/.installed-fuzz: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,fuzz]'
	touch $@

fuzz: $(VENV)/.installed-fuzz
	$(BIN)/python -m benchmarks.fuzz --requests 100000

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
