"""Test settings shared by every test: an isolated AIRFLOW_HOME, set before Airflow is imported."""

from __future__ import annotations

import os
import tempfile

# Airflow reads its home and database once, at import; point both at a throw-away folder first.
_HOME = tempfile.mkdtemp(prefix="dataops-airflow-home-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(os.path.dirname(__file__), "..", "example_dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME}/airflow.db"
os.environ.pop("AIRFLOW_CONN_DATAOPS_DEFAULT", None)

# The emulator's fixtures (dataops_emulator, dataops_connection_env), as users enable them.
pytest_plugins = ["airflow_provider_dataops.emulator.pytest_plugin"]
