"""Any endpoint with ``request``: the path built from encoded parts, query parameters apart."""

from typing import Any

from airflow_provider_dataops.api.paths import api_path, resource_id
from airflow_provider_dataops.hooks.dataops import DataOpsHook


def latest_pipeline(hook: DataOpsHook) -> Any:
    project = resource_id("demo/dataops-project", "project")  # "demo%2Fdataops-project"
    path = api_path("projects", project, "pipelines", "latest")
    return hook.request("GET", path, params={"ref": "main"})
