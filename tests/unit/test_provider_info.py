"""Provider registration: schema-valid metadata that names only importable things, and a form in sync."""

from __future__ import annotations

import importlib
import json
from importlib import metadata
from pathlib import Path

import airflow
import jsonschema
import pytest
from packaging.utils import canonicalize_name

from airflow_provider_dataops import __version__
from airflow_provider_dataops.connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_dataops.get_provider_info import get_provider_info
from airflow_provider_dataops.hooks.dataops import DataOpsHook

INFO = get_provider_info()


def test_matches_the_schema_shipped_with_airflow() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(INFO, schema)


def test_package_name_is_the_canonical_distribution_name() -> None:
    assert INFO["package-name"] == canonicalize_name(metadata.metadata("airflow-provider-dataops")["Name"])
    assert INFO["versions"] == [__version__] == [metadata.version("airflow-provider-dataops")]


def test_every_module_and_class_it_names_imports() -> None:
    modules = [
        m
        for key in ("hooks", "operators", "sensors", "triggers")
        for entry in INFO[key]
        for m in entry["python-modules"]
    ]
    for module in modules:
        importlib.import_module(module)
    classes = [c["hook-class-name"] for c in INFO["connection-types"]] + INFO["extra-links"]
    for path in classes:
        module, _, name = path.rpartition(".")
        assert getattr(importlib.import_module(module), name)
    integrations = {i["integration-name"] for i in INFO["integrations"]}
    for key in ("hooks", "operators", "sensors", "triggers"):
        assert {entry["integration-name"] for entry in INFO[key]} <= integrations


def test_entry_point_is_registered() -> None:
    points = metadata.entry_points(group="apache_airflow_provider")
    ours = [p for p in points if p.value.startswith("airflow_provider_dataops")]
    assert len(ours) == 1
    assert ours[0].load() is get_provider_info


def test_connection_type_declares_the_form() -> None:
    (conn,) = INFO["connection-types"]
    assert (conn["connection-type"], conn["hook-name"]) == ("dataops", "DataOps.live")
    assert conn["conn-fields"] is CONN_FIELDS
    assert set(UI_FIELD_BEHAVIOUR["hidden-fields"]) <= {
        "description",
        "host",
        "port",
        "login",
        "password",
        "schema",
        "extra",
    }
    assert CONN_FIELDS["trigger_token"]["schema"]["format"] == "password"


def test_declarative_form_and_hook_methods_stay_in_sync() -> None:
    pytest.importorskip("wtforms")
    widgets = DataOpsHook.get_connection_form_widgets()
    assert set(CONN_FIELDS) <= set(widgets)  # mirrors Airflow's own check (PR #69473)
    behaviour = DataOpsHook.get_ui_field_behaviour()
    assert behaviour == {
        "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
        "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
        "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
    }
    assert type(widgets["trigger_token"]).__name__ == "UnboundField"
    assert widgets["trigger_token"].field_class.__name__ == "PasswordField"


def test_providers_manager_discovers_the_provider_and_hook() -> None:
    from airflow.providers_manager import ProvidersManager

    try:  # Airflow 3.2+: hooks moved to the task SDK's manager (ProvidersManager.hooks warns)
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime as HookManager
    except ImportError:
        HookManager = ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-dataops" in manager.providers
    hook = HookManager().hooks["dataops"]
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_dataops.hooks.dataops.DataOpsHook"
    assert hook.connection_testable
    assert "dataops" in manager.field_behaviours
    assert "extra__dataops__trigger_token" in manager.connection_form_widgets
