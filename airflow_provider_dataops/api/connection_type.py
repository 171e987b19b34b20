"""The ``dataops`` connection type's identity and defaults, declared once.

Import-free on purpose: provider discovery reads it (through :mod:`~airflow_provider_dataops.connection_form`
and ``get_provider_info``) without importing Airflow. Product code imports these names from
:mod:`~airflow_provider_dataops.api.connection`.
"""

from __future__ import annotations

CONN_TYPE = "dataops"
DEFAULT_CONN_ID = "dataops_default"
HOOK_NAME = "DataOps.live"
DEFAULT_HOST = "https://app.dataops.live"
DEFAULT_TIMEOUT = 30.0
