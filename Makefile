# calbridge: `make demo` and `make test` are the two commands a newcomer needs; both set themselves up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup browser demo test lint bench proto clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@echo "setting up: creating $(VENV)/ and installing calbridge with its test tools (about a minute, once)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)
	@echo "setup done"

# The status page's browser test (tests/e2e/test_status_page_browser.py) drives Debian's Chromium through
# Debian's ChromeDriver; nothing downloads a browser of its own. Installed here when missing and root (CI
# is); otherwise that test skips and names this target.
browser:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && echo "installing Debian's chromium and chromium-driver (once)" && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
	    >/dev/null; } || \
	  echo "chromium is not installed (needs root): the status page's browser test will skip"

demo: setup
	$(PY) -m bridge demo

# The whole suite, then the issue's bar for the core: at least 95 % branch coverage of bridge/core.
# End-to-end modules mostly wait on the sandbox and the bridge process, so four workers share two cores
# well; --dist loadfile keeps each module (and its one sandbox + bridge) on one worker.
test: setup browser
	$(PY) -m pytest -q -n 4 --dist loadfile --cov --cov-report=
	$(PY) -m coverage report --fail-under=95 --skip-covered

lint: setup
	$(VENV)/bin/ruff check bridge tests bench
	$(VENV)/bin/ruff format --check bridge tests bench
	$(VENV)/bin/mypy bridge

bench: setup
	$(PY) -m bench

# Regenerate the Pub/Sub stubs. The -I mapping makes protoc see proto/pubsub_api.proto as
# bridge/wire/pubsub_api.proto, so the generated gRPC module imports its sibling by package path.
proto: setup
	$(PY) -m grpc_tools.protoc -Ibridge/wire=proto --python_out=. --grpc_python_out=. --pyi_out=. \
		bridge/wire/pubsub_api.proto

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
