# Two entry points a newcomer needs: `make demo` and `make test`. Everything else is plumbing.
PYTHON ?= python3
VENV ?= .venv
VENV_AF2 ?= .venv-airflow2
AIRFLOW3_SPEC ?= apache-airflow>=3.3,<3.4
AIRFLOW2_SPEC ?= apache-airflow>=2.11,<2.12
# Airflow 2.11 marks its Fernet object with an attribute, which cryptography 51's MultiFernet (a Rust
# class) refuses: every connection read from the environment then fails as "isn't defined".
AIRFLOW2_PINS ?= cryptography<51
# uv creates and fills the venvs; it lives in a small venv of its own, so nothing needs it on PATH.
TOOLS ?= .tools
UV_VERSION ?= 0.13.9
UV := $(TOOLS)/bin/uv
# Never a Python uv downloads by itself: the venvs use $(PYTHON), as CI and users have it.
export UV_PYTHON_DOWNLOADS := never
# Bytecode compiled once at install (pip's default, not uv's): otherwise every Airflow process of the
# suite compiles Airflow again where PYTHONDONTWRITEBYTECODE is set, 2-3x its start-up CPU.
export UV_COMPILE_BYTECODE := 1
# The resolved versions per Airflow line and Python version, as Airflow publishes its constraints:
# every venv installs exactly these; `make lock` refreshes them.
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
LOCK_AF3 := constraints/airflow-3.3-python$(PYTHON_VERSION).txt
LOCK_AF2 := constraints/airflow-2.11-python$(PYTHON_VERSION).txt
# Unit, emulator and integration tests in parallel processes (each its own Airflow home and
# emulator); the deployment suite runs alone, it is a multi-process Airflow of its own.
PYTEST_WORKERS ?= 4
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadgroup
# Every run names its 15 slowest tests, so where the time goes stays visible in CI.
PYTEST_REPORT := --durations=15

.PHONY: demo test checks lint typecheck docs unit integration deployment test-airflow2 test-airflow3 system-deps benchmark lock dist clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(LOCK_AF3) $(LOCK_AF2):
	@echo "No lock of the dependencies for Python $(PYTHON_VERSION) ($@): run 'make lock' to resolve one." >&2
	@exit 1

# A stamp per environment: reinstall only when the project's dependencies, their lock or the version
# change (the editable install's metadata carries the version, which provider info reports).
VERSION_FILE := airflow_provider_dataops/__init__.py
$(VENV)/.installed: pyproject.toml $(LOCK_AF3) $(VERSION_FILE) | $(UV)
	$(UV) venv --quiet --clear --python $(PYTHON) $(VENV)
	$(UV) pip install --quiet --python $(VENV)/bin/python --constraint $(LOCK_AF3) -e ".[dev]" "$(AIRFLOW3_SPEC)"
	touch $@

$(VENV_AF2)/.installed: pyproject.toml $(LOCK_AF2) $(VERSION_FILE) | $(UV)
	$(UV) venv --quiet --clear --python $(PYTHON) $(VENV_AF2)
	$(UV) pip install --quiet --python $(VENV_AF2)/bin/python --constraint $(LOCK_AF2) -e ".[dev]" "$(AIRFLOW2_SPEC)"
	touch $@

# Resolve the newest versions the project allows, per Airflow line, for this Python version.
# `make lock LOCK_UPGRADE=` keeps the locked versions and only adds or drops what pyproject.toml changed.
LOCK_UPGRADE ?= --upgrade
lock: | $(UV)
	@mkdir -p constraints
	echo "$(AIRFLOW3_SPEC)" | $(UV) pip compile --quiet $(LOCK_UPGRADE) --python-version $(PYTHON_VERSION) \
		--extra dev --custom-compile-command "make lock" pyproject.toml - -o $(LOCK_AF3)
	printf '%s\n' "$(AIRFLOW2_SPEC)" "$(AIRFLOW2_PINS)" | $(UV) pip compile --quiet $(LOCK_UPGRADE) --python-version $(PYTHON_VERSION) \
		--extra dev --custom-compile-command "make lock" pyproject.toml - -o $(LOCK_AF2)

# PostgreSQL and Chromium for the deployment suite, from Debian's packages (see the script).
system-deps:
	@sh scripts/system-deps.sh

# KEEP=1 keeps the emulator running after the DAG run, to browse its pages (Ctrl-C stops it).
demo: $(VENV)/.installed
	@DEMO_KEEP_EMULATOR=$(KEEP) $(VENV)/bin/python scripts/demo.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

docs: $(VENV)/.installed
	$(VENV)/bin/sphinx-build -q -W -b html docs docs/_build/html

# Airflow 3.3: unit tests, integration tests (emulator + DAG runs), and the deployment suite (a real
# multi-process Airflow on PostgreSQL; see docs/deployment-tests.rst).
unit: $(VENV)/.installed
	$(VENV)/bin/pytest -q $(PYTEST_PARALLEL) -m "not integration and not deployment"

integration: $(VENV)/.installed
	$(VENV)/bin/pytest -q $(PYTEST_PARALLEL) -m integration

# Two deployments side by side, each running half of the modules (tests/deployment/conftest.py).
deployment: system-deps $(VENV)/.installed
	$(VENV)/bin/pytest -q -n 2 --dist loadgroup $(PYTEST_REPORT) -m deployment

test-airflow3: $(VENV)/.installed
	$(VENV)/bin/pytest -q $(PYTEST_PARALLEL) $(PYTEST_REPORT) -m "not deployment"

# Airflow 2.11: unit and integration tests again, so both supported lines are checked (the
# deployment suite needs Airflow 3; the tooling tests, marked `once`, need no second run).
test-airflow2: $(VENV_AF2)/.installed
	$(VENV_AF2)/bin/pytest -q $(PYTEST_PARALLEL) $(PYTEST_REPORT) -m "not deployment and not once"

# The deployment suite mostly waits on real time (its pipelines take tens of seconds), so everything
# else runs beside it at the lowest CPU and I/O priority: the deployment's processes still get the
# CPU at once when they need it (a busy Airflow can fail a task that resumes within seconds of
# deferring; docs/deployment-tests.rst). Once the suite ends, what is left of the checks gets the
# normal priority back where the user may raise it (root, as in CI); otherwise it would wait for
# any other work of the machine. Ctrl-C stops the checks too: as a background command they ignore
# it. Every part runs even when one fails, so one CI run reports every failure; the output of the
# parts beside comes after the deployment suite's.
BESIDE := nice -n 19 $(shell command -v ionice >/dev/null 2>&1 && echo "ionice -c 3")
test: system-deps $(VENV)/.installed $(VENV_AF2)/.installed | $(UV)
	@status=0; beside_log=$$(mktemp); \
	( $(BESIDE) $(MAKE) --no-print-directory checks >"$$beside_log" 2>&1; echo $$? >"$$beside_log.status" ) & \
	beside=$$!; \
	trap '$(PYTHON) scripts/beside.py stop "$$beside"; rm -f "$$beside_log" "$$beside_log.status"; exit 130' INT TERM; \
	$(MAKE) --no-print-directory deployment || status=1; \
	$(PYTHON) scripts/beside.py normal "$$beside"; \
	wait; cat "$$beside_log"; \
	[ "$$(cat "$$beside_log.status")" = 0 ] || status=1; \
	rm -f "$$beside_log" "$$beside_log.status"; exit $$status

# Everything but the deployment suite: lint, types, docs, both Airflow lines, the release check.
checks: $(VENV)/.installed $(VENV_AF2)/.installed | $(UV)
	@status=0; \
	for part in lint typecheck docs test-airflow3 test-airflow2 dist; do \
		echo "== make $$part"; $(MAKE) --no-print-directory $$part || status=1; \
	done; exit $$status

# The release: sdist and wheel in dist/, twine check, the wheel's contents, and the wheel installed
# into a clean venv (uv, with the lock of .venv's Airflow line) to run `airflow providers get` and an
# example DAG against the emulator.
dist: $(VENV)/.installed | $(UV)
	DIST_UV="$(abspath $(UV))" DIST_CONSTRAINTS="$(abspath $(LOCK_AF3))" $(VENV)/bin/python scripts/check_dist.py

benchmark: $(VENV)/.installed
	$(VENV)/bin/python -m benchmarks

clean:
	rm -rf $(VENV) $(VENV_AF2) $(TOOLS) docs/_build .pytest_cache .mypy_cache .ruff_cache .demo build dist *.egg-info
