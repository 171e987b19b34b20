"""Extra links on the task page: they read URLs the operators pushed to XCom, so they cost nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import TaskInstanceKey

#: XCom keys the operators push and the links read.
PIPELINE_ID_KEY = "pipeline_id"
PIPELINE_URL_KEY = "pipeline_url"
PROJECT_ID_KEY = "project_id"
PROJECT_PATH_KEY = "project_path"
PROJECT_URL_KEY = "project_url"


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
