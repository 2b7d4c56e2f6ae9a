# Set-up lives here: every target creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The Redis tests start redis-server themselves; `make bench` also runs wrk. Both come from the
# system's packages: apt-get installs them when they are missing (as root, or through sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
define require
	@command -v $(1) >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $(2) with apt-get"; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; \
	  else \
	    echo "$(1) is missing and apt-get is not available: install $(2) and run again"; exit 1; \
	  fi; }
endef

.PHONY: demo test check lint docs bench soak conformance clean

# The oldest and newest supported Python on this machine (on the PATH, or installed by pyenv):
# `make test` runs the suite on each of them too.
PYENV_ROOT ?= $(HOME)/.pyenv
FOUND_PYTHONS := $(shell for v in 3.9 3.10 3.11 3.12 3.13; do 	  for p in "$$(command -v python$$v 2>/dev/null)" $(PYENV_ROOT)/versions/$$v*/bin/python$$v; do 	    if [ -x "$$p" ] && "$$p" -c "" 2>/dev/null; then echo "$$p"; break; fi; 	  done; done)
OTHER_PYTHONS := $(sort $(firstword $(FOUND_PYTHONS)) $(lastword $(FOUND_PYTHONS)))

# `make conformance` fails when fewer required tests of the HTTP caching test suite pass than this.
CONFORMANCE_FLOOR ?= 143
SOAK_SECONDS ?= 60

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,dev,docs]"
	touch $(STAMP)

demo: $(STAMP)  ## serve examples/ on http://127.0.0.1:8000 and print what to curl
	$(BIN)/python -m examples.serve

test: $(STAMP)  ## the whole test suite (its own redis-server, a Redis Cluster, a 10 s soak), then on the oldest and newest Python
	$(call require,redis-server,redis-server)
	$(call require,wrk,wrk)
	$(call require,valgrind,valgrind)
	$(BIN)/python -m pytest
	@for python in $(OTHER_PYTHONS); do 	  version=$$("$$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])'); 	  [ "$$version" = "$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ] && continue; 	  echo "== the suite on Python $$version ($$python)"; 	  [ -x .venv-$$version/bin/python ] || "$$python" -m venv .venv-$$version || exit 1; 	  .venv-$$version/bin/python -m pip install --quiet --upgrade pip && 	  .venv-$$version/bin/python -m pip install --quiet -e ".[test]" && 	  .venv-$$version/bin/python -m pytest -q -p no:cacheprovider || exit 1; 	done

check: $(STAMP)  ## the fast loop (under a minute): every test but the system tests, then ruff and mypy
	$(call require,redis-server,redis-server)
	$(BIN)/python -m pytest -q -m "not system" -p no:cacheprovider
	$(BIN)/ruff check .
	$(BIN)/mypy

lint: $(STAMP)  ## ruff and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

docs: $(STAMP)  ## the documentation site, with the API reference, into site/ (fails on a broken link or reference)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

bench: $(STAMP)  ## what a hit costs next to bare chocs, memory per entry, stampedes, throughput
	$(call require,redis-server,redis-server)
	$(call require,wrk,wrk)
	$(call require,valgrind,valgrind)
	$(BIN)/python -m benchmarks.bench

soak: $(STAMP)  ## gunicorn, 4 workers, Redis + tiers under load for 60 s; Redis restarted, a purge a second
	$(call require,redis-server,redis-server)
	$(call require,wrk,wrk)
	$(BIN)/python -m benchmarks.soak --seconds $(SOAK_SECONDS)

conformance: $(STAMP)  ## the public HTTP caching test suite (cache-tests.fyi) against the middleware
	$(call require,node,nodejs)
	$(call require,npm,npm)
	$(BIN)/python -m conformance.run --floor $(CONFORMANCE_FLOOR)

clean:
	rm -rf $(VENV) .venv-3.* build site *.egg-info .pytest_cache .mypy_cache .ruff_cache .cache-tests
