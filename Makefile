# Two commands: `make run` serves the app, `make test` runs every test.
# Both build .venv from the pinned requirements and fetch MNIST on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PORT ?= 8501
REPLICAS ?= 2
HALL_PORT ?= 8600

.PHONY: run talk hall test data chromium postgres caddy fonts bench clean

$(VENV)/.app-installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test-installed: $(VENV)/.app-installed requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

# MNIST into the per-user cache (MNIST_DATA_DIR overrides). `make run` goes on without it:
# the app then shows which sources failed and how to fix it.
data: $(VENV)/.app-installed
	$(PY) -m mnist_core fetch

chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; fi

# PostgreSQL's server programs, for the room's digits past one laptop. deploy/local_postgres.py
# runs a cluster of its own on a loopback port: nothing uses the system's cluster or service.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq postgresql; fi

# Caddy, the balancer (deploy/Caddyfile). Debian's package may also start a caddy service; the
# hall never uses it (`caddy run` with our file, another port, no admin API), so it may stay off.
caddy:
	@if ! command -v caddy >/dev/null 2>&1; then \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq caddy; fi

# Handwriting fonts from Debian packages: digits by writers MNIST never had, for measuring only
# (mnist_core.data.handwriting lists them).
fonts: $(VENV)/.app-installed
	@missing="$$($(PY) -m mnist_core.data.handwriting --missing-packages)"; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; fi

run: $(VENV)/.app-installed
	-$(PY) -m mnist_core fetch
	$(VENV)/bin/streamlit run streamlit_app.py --server.port $(PORT)

# Talk mode: every interface, a random presenter key unless MNIST_TALK_KEY is given. uvicorn is
# told to trust X-Forwarded-For from the same proxies as the audience path (none unless set).
talk: $(VENV)/.app-installed
	-$(PY) -m mnist_core fetch
	@export MNIST_TALK_KEY="$${MNIST_TALK_KEY:-$$($(PY) -m mnist_core.talk.presenter --new-key)}"; \
	export FORWARDED_ALLOW_IPS="$${MNIST_TRUSTED_PROXIES:-}"; \
	$(PY) -m mnist_core.talk.presenter --urls $(PORT) && \
	exec $(VENV)/bin/streamlit run streamlit_app.py --server.port $(PORT) --server.address 0.0.0.0

# A hall on this machine: PostgreSQL, REPLICAS app servers and Caddy in front, all on loopback
# (deploy/local_hall.py); Ctrl-C stops them all.
hall: $(VENV)/.app-installed data postgres caddy
	$(PY) -m deploy.local_hall --replicas $(REPLICAS) --port $(HALL_PORT)

test: $(VENV)/.test-installed data chromium fonts postgres caddy
	$(PY) -m pytest

bench: $(VENV)/.test-installed data chromium fonts postgres caddy
	$(PY) benchmarks/inference_latency.py
	$(PY) benchmarks/canvas_accuracy.py
	$(PY) benchmarks/handwriting_accuracy.py
	$(PY) benchmarks/stroke_width_accuracy.py
	$(PY) benchmarks/calibration_figures.py
	$(PY) benchmarks/training_throughput.py
	$(PY) benchmarks/time_to_99.py
	$(PY) benchmarks/explain_latency.py
	$(PY) benchmarks/experiment_times.py
	$(PY) benchmarks/replay_timings.py
	$(PY) benchmarks/page_timings.py
	$(PY) benchmarks/learned_space_timings.py
	$(PY) benchmarks/cold_start.py
	$(PY) benchmarks/audience_load.py
	$(PY) benchmarks/audience_load.py --sessions 10 --train
	$(PY) benchmarks/hall_load.py --storm 500 --steady 500 --seconds 120 --flood --compare
	$(PY) benchmarks/hall_load.py --steady 500 --seconds 120 --kill-worker-at 30
	$(PY) benchmarks/hall_load.py --balancer --steady 500 --seconds 120
	$(PY) benchmarks/hall_load.py --balancer --steady 500 --seconds 60 --kill-replica-at 20
	$(PY) benchmarks/hall_load.py --balancer --steady 500 --seconds 60 --restart-postgres-at 20
	$(PY) benchmarks/lighthouse_join.py

clean:
	rm -rf $(VENV) .pytest_cache
