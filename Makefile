# Two commands for a newcomer: `make run` and `make test`. Both create (once) and reuse a
# virtual environment in .venv with the pinned versions of requirements.lock.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# Offline at run time: no telemetry from Kedro or MLflow.
export KEDRO_DISABLE_TELEMETRY := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1

.PHONY: run test setup data clean-data viz chromium mono powerbi

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# Synthetic raw files, only when the raw folder holds none (so a second `make run` re-ingests
# the same files, which Bronze recognises and skips).
data: setup
	@if ls data/01_raw/orders* >/dev/null 2>&1; then \
		echo "data/01_raw already holds raw files: not regenerating (make clean-data to start over)"; \
	else \
		$(BIN)/kedro run --pipelines generate; \
	fi

run: data
	$(BIN)/kedro run
	@$(MAKE) --no-print-directory viz
	@echo "Report: data/08_reporting/control_tower_report.html  Lineage: build/index.html (make viz)"

# Static kedro-viz site in build/. `kedro viz build` exits 0 even when it fails: check its words.
# A stale build/index.html must not hide a crash, so it goes first and the exit status is logged.
viz: setup
	@rm -f build/index.html .viz-build.log
	@{ $(BIN)/kedro viz build 2>&1; echo "kedro viz build exit status $$?"; } | tee .viz-build.log | tail -2
	@if grep -q "Failed" .viz-build.log || ! grep -q "exit status 0$$" .viz-build.log || [ ! -f build/index.html ]; then echo "kedro viz build failed (see .viz-build.log)"; exit 1; fi
	@rm -f .viz-build.log

# Headless Chromium for the lineage test: Debian's package, never a downloaded browser.
chromium:
	@command -v chromium >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# Power BI checks (tests/powerbi): Microsoft's TMDL parser runs on Debian's Mono (pythonnet), and
# Microsoft's M parser is an npm package, installed from the lock file beside the tests.
mono:
	@dpkg -s mono-complete >/dev/null 2>&1 || ($(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mono-complete)

POWERBI_NODE := tests/powerbi/node_modules/.package-lock.json
$(POWERBI_NODE): tests/powerbi/package.json tests/powerbi/package-lock.json
	npm ci --prefix tests/powerbi --no-audit --no-fund --loglevel=error

# Regenerate the Power BI Project (powerbi/) from powerbi/spec.yml.
powerbi: setup
	$(BIN)/retail-control-tower-powerbi

test: setup chromium mono $(POWERBI_NODE)
	$(BIN)/python -m pytest

clean-data:
	find data -type f ! -name .gitkeep -delete
