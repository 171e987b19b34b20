"""Extra links on the task page: they read URLs the operators pushed to XCom, so they cost nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context, TaskInstanceKey

#: XCom keys the operators push and the links read.
PIPELINE_ID_KEY = "pipeline_id"
PIPELINE_URL_KEY = "pipeline_url"
PROJECT_ID_KEY = "project_id"
PROJECT_PATH_KEY = "project_path"
PROJECT_URL_KEY = "project_url"


def publish_pipeline(context: Context, pipeline: Mapping[str, Any]) -> None:
    """Push a pipeline's id and URL to XCom, where the extra link and downstream tasks read them."""
    ti = context["ti"]
    ti.xcom_push(key=PIPELINE_ID_KEY, value=int(pipeline["id"]))
    ti.xcom_push(key=PIPELINE_URL_KEY, value=pipeline.get("web_url"))


def publish_project(context: Context, project: Mapping[str, Any]) -> None:
    """Push a project's id, full path and URL to XCom."""
    ti = context["ti"]
    ti.xcom_push(key=PROJECT_ID_KEY, value=int(project["id"]))
    ti.xcom_push(key=PROJECT_PATH_KEY, value=project["path_with_namespace"])
    ti.xcom_push(key=PROJECT_URL_KEY, value=project.get("web_url"))


class DataOpsPipelineLink(BaseOperatorLink):
    """Link to the pipeline a task started or watched."""

    name = "DataOps.live pipeline"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        """The ``pipeline_url`` XCom of the task instance, or an empty string before it exists."""
        return XCom.get_value(key=PIPELINE_URL_KEY, ti_key=ti_key) or ""


class DataOpsProjectLink(BaseOperatorLink):
    """Link to the project a task created (or found already there)."""

    name = "DataOps.live project"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        """The ``project_url`` XCom of the task instance, or an empty string before it exists."""
        return XCom.get_value(key=PROJECT_URL_KEY, ti_key=ti_key) or ""
