"""The ``dataops`` connection type and its form, declared once.

Import-free on purpose: provider discovery reads this through ``get_provider_info`` without importing
Airflow or the hook. ``conn-fields`` (Airflow 3.2+) and the WTForms widgets of
:meth:`DataOpsHook.get_connection_form_widgets` (Airflow 2.11-3.1) are both generated from it.
"""

from __future__ import annotations

from typing import Any

CONN_TYPE = "dataops"
DEFAULT_CONN_ID = "dataops_default"
HOOK_NAME = "DataOps.live"
DEFAULT_HOST = "https://app.dataops.live"
DEFAULT_TIMEOUT = 30.0
#: The form's bound for the timeout extra; the same as ``limits.MAX_READ_TIMEOUT`` (a test checks).
MAX_TIMEOUT = 3600

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "trigger_token": {
        "label": "Pipeline trigger token",
        "description": "Optional. A project's pipeline trigger token (Settings > CI/CD > Pipeline "
        "triggers). Used to trigger when there is no access token; it cannot read pipelines.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": f"Read timeout of each API request, 1 to {MAX_TIMEOUT}. Default {DEFAULT_TIMEOUT:g}.",
        "schema": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_TIMEOUT},
    },
    "verify_ssl": {
        "label": "Verify TLS certificates",
        "description": "Default true. Turn off only for a test server with a self-signed certificate.",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "proxy": {
        "label": "Proxy URL",
        "description": "Optional HTTP(S) proxy, e.g. http://proxy.internal:3128.",
        "schema": {"type": ["string", "null"]},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "login", "port", "extra"],
    "relabeling": {"host": "DataOps.live URL", "password": "Access token"},
    "placeholders": {
        "host": DEFAULT_HOST,
        "password": "Personal, project or group access token (glpat-...)",
    },
}
