# The README's commands. `make test` is what CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run emulator test lint settings bench migrate clean miniprogram-test

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install everything

migrate: install  ## bring DATABASE_URL (default: the SQLite file under instance/) to the current schema
	$(BIN)/flask --app wsgi db upgrade

run: migrate  ## dev mode: the emulator and the backend on localhost
	bash scripts/run-dev.sh

emulator: install  ## only the WeChat emulator, on port 8090
	$(BIN)/python -m wxemu

lint: install  ## ruff, and every relative link of the Markdown files resolves inside the repository
	$(BIN)/ruff check .
	$(BIN)/ruff format --check backend wxemu tests bench scripts
	$(BIN)/python scripts/check_links.py
	$(BIN)/python -m scripts.settings_table --check

settings: install  ## write .env.example and the READMEs' settings tables from backend/settings.py
	$(BIN)/python -m scripts.settings_table

test: install lint  ## ruff, pytest (SQLite always; PostgreSQL / Redis when TEST_DATABASE_URL / TEST_REDIS_URL are set), the mini program's tests
	$(BIN)/pytest -q
	$(MAKE) miniprogram-test

miniprogram-test: install  ## the sample mini program: tsc --checkJs and jest, end-to-end included (needs node, npm)
	cd miniprogram && npm ci --no-audit --no-fund && npm test

bench: install  ## benchmarks that print figures (see docs/benchmarks.md); they empty the PostgreSQL databases `bench` and `bench_apps*` and Redis db 13
	$(BIN)/python bench/client_throughput.py
	$(BIN)/python bench/send_throughput.py
	$(BIN)/python bench/push_throughput.py
	$(BIN)/python bench/batch_throughput.py
	$(BIN)/python bench/device_send.py
	$(BIN)/python bench/sqlite_vs_postgres.py
	$(BIN)/python bench/vs_handwritten.py
	$(BIN)/python bench/apps_spread.py
	$(BIN)/python bench/cpu_per_call.py
	$(BIN)/python bench/retention_purge.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache miniprogram/node_modules
