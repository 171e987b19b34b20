# Two entry points a newcomer needs: `make demo` and `make test`. Everything else is plumbing.
PYTHON ?= python3
VENV ?= .venv
VENV_AF2 ?= .venv-airflow2
AIRFLOW3_SPEC ?= apache-airflow>=3.3,<3.4
AIRFLOW2_SPEC ?= apache-airflow>=2.11,<2.12
PIP_FLAGS ?= --quiet --disable-pip-version-check

.PHONY: demo test lint typecheck docs unit integration deployment test-airflow2 benchmark dist clean

# A stamp per environment: reinstall only when the project's dependencies change.
$(VENV)/.installed: pyproject.toml
	@echo "Installing Airflow 3.3 and the dev tools into $(VENV): pip works quietly for about 2-5 minutes ..."
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(VENV)/bin/pip install $(PIP_FLAGS) -e ".[dev]" "$(AIRFLOW3_SPEC)"
	touch $@

$(VENV_AF2)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV_AF2)
	$(VENV_AF2)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(VENV_AF2)/bin/pip install $(PIP_FLAGS) -e ".[dev]" "$(AIRFLOW2_SPEC)"
	touch $@

# KEEP=1 keeps the emulator running after the DAG run, to browse its pages (Ctrl-C stops it).
demo: $(VENV)/.installed
	@DEMO_KEEP_EMULATOR=$(KEEP) $(VENV)/bin/python scripts/demo.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

docs: $(VENV)/.installed
	$(VENV)/bin/sphinx-build -q -W -b html docs docs/_build/html

# Airflow 3.3: unit tests, integration tests (emulator + DAG runs), and the deployment suite (a real
# multi-process Airflow on PostgreSQL; see docs/deployment-tests.rst).
unit: $(VENV)/.installed
	$(VENV)/bin/pytest -q -m "not integration and not deployment"

integration: $(VENV)/.installed
	$(VENV)/bin/pytest -q -m integration

deployment: $(VENV)/.installed
	$(VENV)/bin/pytest -q -m deployment

# Airflow 2.11: unit and integration tests again, so both supported lines are checked (the
# deployment suite needs Airflow 3).
test-airflow2: $(VENV_AF2)/.installed
	$(VENV_AF2)/bin/pytest -q -m "not deployment"

test: lint typecheck docs $(VENV)/.installed
	$(VENV)/bin/pytest -q
	$(MAKE) test-airflow2
	$(MAKE) dist

# The release: sdist and wheel in dist/, twine check, the wheel's contents, and the wheel installed
# into a clean venv with Airflow (`airflow providers get`, an example DAG against the emulator).
dist: $(VENV)/.installed
	$(VENV)/bin/python scripts/check_dist.py

benchmark: $(VENV)/.installed
	$(VENV)/bin/python -m benchmarks

clean:
	rm -rf $(VENV) $(VENV_AF2) docs/_build .pytest_cache .mypy_cache .ruff_cache .demo build dist *.egg-info
