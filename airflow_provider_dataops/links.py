"""Extra links on the task page: they read URLs the operators pushed to XCom, so they cost nothing.

On Airflow 3 the worker resolves each link once, when the task ends, with the operator that just ran:
that operator remembers what it published, so a task that failed before any pipeline existed gets
no link without an XCom read (which Airflow logs as "XCom not found").
"""

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
#: Pushed by a pipeline task group's job tasks: the job they follow (its newest run).
JOB_ID_KEY = "job_id"
JOB_URL_KEY = "job_url"
#: Pushed by the trigger operator and the sensor when the finished pipeline has a test report.
TEST_SUMMARY_KEY = "test_summary"
#: The URLs of the first downstream (child or multi-project) pipelines of the last run, breadth first
#: (ending in ``_url``: the links of a task that ran in this process read what it published).
DOWNSTREAM_URL_KEYS = ("downstream_pipeline_1_url", "downstream_pipeline_2_url", "downstream_pipeline_3_url")


#: The operator attribute holding the URLs it published in this process (absent: it did not run here).
_PUBLISHED = "_dataops_published_urls"


def begin_publishing(operator: Any, published: Mapping[str, Any] | None = None) -> None:
    """Mark ``operator`` as running in this process, having published ``published`` so far."""
    setattr(operator, _PUBLISHED, {key: url for key, url in (published or {}).items() if url})


def _push(context: Context, values: Mapping[str, Any]) -> None:
    ti = context["ti"]
    for key, value in values.items():
        ti.xcom_push(key=key, value=value)
    urls = getattr(getattr(ti, "task", None), _PUBLISHED, None)
    if isinstance(urls, dict):
        urls.update({key: value for key, value in values.items() if key.endswith("_url") and value})


def publish_pipeline(context: Context, pipeline: Mapping[str, Any]) -> None:
    """Push a pipeline's id and URL to XCom, where the extra link and downstream tasks read them."""
    _push(context, {PIPELINE_ID_KEY: int(pipeline["id"]), PIPELINE_URL_KEY: pipeline.get("web_url")})


def publish_job(context: Context, job: Mapping[str, Any]) -> None:
    """Push a job's id and URL to XCom, where the job link reads them."""
    _push(context, {JOB_ID_KEY: int(job["id"]), JOB_URL_KEY: job.get("web_url")})


def publish_test_summary(context: Context, summary: Mapping[str, Any]) -> None:
    """Push a finished pipeline's test counts as the ``test_summary`` XCom."""
    _push(context, {TEST_SUMMARY_KEY: dict(summary)})


def publish_downstream(context: Context, urls: list[str]) -> None:
    """Push the URLs of the downstream pipelines (at most one per :data:`DOWNSTREAM_URL_KEYS`)."""
    _push(context, dict(zip(DOWNSTREAM_URL_KEYS, urls, strict=False)))


def publish_project(context: Context, project: Mapping[str, Any]) -> None:
    """Push a project's id, full path and URL to XCom."""
    _push(
        context,
        {
            PROJECT_ID_KEY: int(project["id"]),
            PROJECT_PATH_KEY: project["path_with_namespace"],
            PROJECT_URL_KEY: project.get("web_url"),
        },
    )


def _link(operator: Any, ti_key: TaskInstanceKey, key: str) -> str:
    published = getattr(operator, _PUBLISHED, None)
    if isinstance(published, dict):  # the operator ran in this process: it knows
        return str(published.get(key, ""))
    return XCom.get_value(key=key, ti_key=ti_key) or ""


class DataOpsPipelineLink(BaseOperatorLink):
    """Link to the pipeline a task started or watched."""

    name = "DataOps.live pipeline"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        """The ``pipeline_url`` XCom of the task instance, or an empty string before it exists."""
        return _link(operator, ti_key, PIPELINE_URL_KEY)


class DataOpsProjectLink(BaseOperatorLink):
    """Link to the project a task created (or found already there)."""

    name = "DataOps.live project"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        """The ``project_url`` XCom of the task instance, or an empty string before it exists."""
        return _link(operator, ti_key, PROJECT_URL_KEY)


class DataOpsDownstreamPipelineLink(BaseOperatorLink):
    """Link to the first downstream (child or multi-project) pipeline of the last run."""

    name = "DataOps.live downstream pipeline 1"
    key = DOWNSTREAM_URL_KEYS[0]

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        """The downstream pipeline's URL, or an empty string when the run started none."""
        return _link(operator, ti_key, self.key)


class DataOpsDownstreamPipelineLink2(DataOpsDownstreamPipelineLink):
    """Link to the second downstream pipeline of the last run."""

    name = "DataOps.live downstream pipeline 2"
    key = DOWNSTREAM_URL_KEYS[1]


class DataOpsDownstreamPipelineLink3(DataOpsDownstreamPipelineLink):
    """Link to the third downstream pipeline of the last run."""

    name = "DataOps.live downstream pipeline 3"
    key = DOWNSTREAM_URL_KEYS[2]


def pipeline_links() -> tuple[BaseOperatorLink, ...]:
    """The extra links of a task that follows a pipeline: the pipeline, then its downstream pipelines."""
    return (
        DataOpsPipelineLink(),
        DataOpsDownstreamPipelineLink(),
        DataOpsDownstreamPipelineLink2(),
        DataOpsDownstreamPipelineLink3(),
    )


class DataOpsJobLink(BaseOperatorLink):
    """Link to the job a pipeline task group's job task follows (after a repair, the re-run)."""

    name = "DataOps.live job"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        """The ``job_url`` XCom of the task instance, or an empty string before it exists."""
        return _link(operator, ti_key, JOB_URL_KEY)
