"""The ``dataops`` connection type and its form, declared once.

Import-free on purpose: provider discovery reads this through ``get_provider_info`` without importing
Airflow or the hook. ``conn-fields`` (Airflow 3.2+) and the legacy WTForms widgets that
:meth:`DataOpsHook.get_connection_form_widgets` returns (Airflow 2.11-3.1) are both generated from it.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_dataops.api.connection_type import DEFAULT_HOST, DEFAULT_TIMEOUT

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


def connection_form_widgets() -> dict[str, Any]:
    """WTForms widgets for the extra fields (Airflow 2.11-3.1), generated from :data:`CONN_FIELDS`.

    WTForms and Flask are imported here, when the form is built, never at provider discovery.
    """
    from wtforms import BooleanField, IntegerField, PasswordField, StringField

    try:
        from flask_babel import lazy_gettext
    except ImportError:  # Airflow 3.0/3.1 API server without Flask-Babel

        def lazy_gettext(text: str) -> str:
            return text

    try:
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget

        text_widget: Any = BS3TextFieldWidget()
        password_widget: Any = BS3PasswordFieldWidget()
    except ImportError:
        text_widget = password_widget = None

    widgets: dict[str, Any] = {}
    for name, field in CONN_FIELDS.items():
        schema = field["schema"]
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        label = lazy_gettext(field["label"])
        options: dict[str, Any] = {"description": field.get("description", "")}
        if schema.get("format") == "password":
            widgets[name] = PasswordField(label, widget=password_widget, **options)
        elif "boolean" in types:
            widgets[name] = BooleanField(label, default=schema.get("default", False), **options)
        elif "integer" in types or "number" in types:
            widgets[name] = IntegerField(label, widget=text_widget, **options)
        else:
            widgets[name] = StringField(label, widget=text_widget, **options)
    return widgets


def ui_field_behaviour() -> dict[str, Any]:
    """Hidden, relabelled and placeholder fields in the shape of ``get_ui_field_behaviour()``."""
    return {
        "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
        "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
        "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
    }
