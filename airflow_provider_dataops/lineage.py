"""OpenLineage for the trigger operator: a run facet describing the pipeline, and parent run ids for it.

With ``apache-airflow-providers-openlineage`` installed and configured, its listener asks the
operator for facets when the task starts, succeeds or fails (``get_openlineage_facets_on_*``, from
:class:`PipelineLineageMixin`); the ``dataops_pipeline`` run facet answers with what the task knows
then. The operator also passes the task's OpenLineage run to the pipeline, as the variables
OpenLineage's dbt integration (``dbt-ol``) reads, so dbt's lineage inside the pipeline hangs under
the Airflow task. The ids come from the OpenLineage provider's own macros.

Nothing here needs the OpenLineage provider to import: without it (or with OpenLineage disabled)
no facet is built and no variable added.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

#: ``namespace/job_name/run_id`` of the parent run (the Airflow task), as dbt-ol reads it.
PARENT_ID_VARIABLE = "OPENLINEAGE_PARENT_ID"
#: ``namespace/job_name/run_id`` of the root run (the DAG run, or what started it), as dbt-ol reads it.
ROOT_PARENT_ID_VARIABLE = "OPENLINEAGE_ROOT_PARENT_ID"
#: The run facet's key in OpenLineage events.
RUN_FACET_NAME = "dataops_pipeline"
_SCHEMA_URL = (
    "https://github.com/airflow-provider-dataops/airflow-provider-dataops/tree/main/docs/lineage.rst"
    "#the-dataops-pipeline-run-facet"
)


def openlineage_enabled() -> bool:
    """True when the OpenLineage provider is installed and not disabled (it has a transport)."""
    try:
        from airflow.providers.openlineage import conf as openlineage_conf
    except ImportError:
        return False
    return not openlineage_conf.is_disabled()


def parent_run_variables(task_instance: Any) -> dict[str, str]:
    """The task's OpenLineage parent and root run ids, as pipeline variables for dbt-ol.

    Empty when OpenLineage is not installed or disabled. Lineage never stops a pipeline from
    starting: if the ids cannot be computed, a warning is logged and nothing is added.
    """
    if not openlineage_enabled():
        return {}
    try:
        from airflow.providers.openlineage.plugins.macros import lineage_parent_id, lineage_root_parent_id

        return {
            PARENT_ID_VARIABLE: str(lineage_parent_id(task_instance)),
            ROOT_PARENT_ID_VARIABLE: str(lineage_root_parent_id(task_instance)),
        }
    except Exception as error:
        log.warning("The pipeline starts without OpenLineage parent run ids: they could not be computed (%s).", error)
        return {}


def describe_pipeline(project: Any, ref: Any, pipeline_file: Any, pipeline: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run facet's fields: what the task asked for, and what it last saw of the pipeline."""
    pipeline = pipeline or {}
    return {
        "pipelineId": int(pipeline["id"]) if pipeline.get("id") is not None else None,
        "webUrl": pipeline.get("web_url"),
        "project": str(project),
        "ref": pipeline.get("ref") or ref,
        "sha": pipeline.get("sha"),
        "pipelineFile": pipeline_file,
        "status": pipeline.get("status"),
    }


@functools.cache
def _facet_class() -> type:
    """The run facet class, built on first use: its base class comes with OpenLineage."""
    from attrs import define
    from openlineage.client.facet_v2 import RunFacet

    @define
    class DataOpsPipelineRunFacet(RunFacet):
        """The DataOps.live pipeline a task ran: unknown fields are None (left out of the event)."""

        pipelineId: int | None = None
        webUrl: str | None = None
        project: str | None = None
        ref: str | None = None
        sha: str | None = None
        pipelineFile: str | None = None
        status: str | None = None

        @staticmethod
        def _get_schema() -> str:
            return _SCHEMA_URL

    return DataOpsPipelineRunFacet


def operator_lineage(fields: Mapping[str, Any]) -> Any:
    """An ``OperatorLineage`` holding the ``dataops_pipeline`` run facet, or None without OpenLineage."""
    try:
        from airflow.providers.openlineage.extractors.base import OperatorLineage
    except ImportError:
        return None
    return OperatorLineage(run_facets={RUN_FACET_NAME: _facet_class()(**fields)})


class PipelineLineageMixin:
    """The OpenLineage provider's operator hooks, for an operator that runs one pipeline.

    The listener calls them on the worker that runs the task: ``_on_start`` before ``execute`` (and
    again before ``execute_complete`` when a deferred task resumes on a new worker), the others
    after the task ends, on the worker that ended it. So the facet says what was asked for at the
    start, and the pipeline's last seen state (its final status once the task waited for it) at
    the end.
    """

    project: Any
    ref: Any
    pipeline_file: Any
    #: The pipeline as the task last read it (the operator sets it).
    _lineage_pipeline: Mapping[str, Any] | None = None

    def _lineage(self) -> Any:
        return operator_lineage(describe_pipeline(self.project, self.ref, self.pipeline_file, self._lineage_pipeline))

    def get_openlineage_facets_on_start(self) -> Any:
        """The ``dataops_pipeline`` run facet before the task runs: project, ref and pipeline file."""
        return self._lineage()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The ``dataops_pipeline`` run facet with the pipeline's id, URL, commit and final status."""
        return self._lineage()

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """The ``dataops_pipeline`` run facet as far as the failed task got."""
        return self._lineage()
