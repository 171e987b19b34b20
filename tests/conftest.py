"""Test settings shared by every test.

The test kit (auto-loaded by pytest) gives the session an isolated Airflow before anything imports
it, because pyproject.toml sets ``dataops_dags_folder``: a temporary AIRFLOW_HOME with a SQLite DB,
``example_dags`` as the dags folder, no example DAGs.
"""

from __future__ import annotations

import os

os.environ.pop("AIRFLOW_CONN_DATAOPS_DEFAULT", None)
# The OpenLineage provider (a dev dependency) stays off, whatever the developer's environment says;
# the lineage tests turn it on for themselves.
os.environ["AIRFLOW__OPENLINEAGE__DISABLED"] = "True"
