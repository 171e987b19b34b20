"""Provider metadata read by Airflow's ProvidersManager through the ``apache_airflow_provider`` entry point.

Nothing here imports Airflow or a hook: discovery and the connection form (Airflow 3.2+) read this
without importing anything else.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_dataops import __version__
from airflow_provider_dataops.api.connection_type import CONN_TYPE, HOOK_NAME
from airflow_provider_dataops.connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR

INTEGRATION = "DataOps.live"
#: The ``dataops://`` project asset scheme (see :mod:`airflow_provider_dataops.assets`).
_ASSET_URIS = {
    "schemes": ["dataops"],
    "handler": "airflow_provider_dataops.assets.sanitize_uri",
    "factory": "airflow_provider_dataops.assets.create_asset",
    "to_openlineage_converter": "airflow_provider_dataops.assets.convert_asset_to_openlineage",
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata in the shape of Airflow's ``provider_info.schema.json``."""
    return {
        "package-name": "airflow-provider-dataops",
        "name": "DataOps.live",
        "description": "Trigger and watch `DataOps.live <https://dataops.live>`__ pipelines and create "
        "projects from Airflow, through the DataOps.live REST API (GitLab API v4).",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://docs.dataops.live/docs/api-docs/",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": ["airflow_provider_dataops.hooks.dataops"]}],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_dataops.operators.pipeline",
                    "airflow_provider_dataops.operators.project",
                    "airflow_provider_dataops.operators.jobs",
                    "airflow_provider_dataops.operators.schedules",
                    "airflow_provider_dataops.operators.artifacts",
                    "airflow_provider_dataops.operators.pipeline_job",
                    "airflow_provider_dataops.operators.task_group",
                ],
            }
        ],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": ["airflow_provider_dataops.sensors.pipeline"]}],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_dataops.triggers.pipeline",
                    "airflow_provider_dataops.triggers.events",
                    "airflow_provider_dataops.triggers.job",
                ],
            }
        ],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "airflow_provider_dataops.hooks.dataops.DataOpsHook",
                "hook-name": HOOK_NAME,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            }
        ],
        # Airflow 3 reads "asset-uris", Airflow 2 "dataset-uris": the same scheme for both.
        "asset-uris": [_ASSET_URIS],
        "dataset-uris": [_ASSET_URIS],
        "extra-links": [
            "airflow_provider_dataops.links.DataOpsPipelineLink",
            "airflow_provider_dataops.links.DataOpsProjectLink",
            "airflow_provider_dataops.links.DataOpsDownstreamPipelineLink",
            "airflow_provider_dataops.links.DataOpsDownstreamPipelineLink2",
            "airflow_provider_dataops.links.DataOpsDownstreamPipelineLink3",
            "airflow_provider_dataops.links.DataOpsJobLink",
        ],
    }
