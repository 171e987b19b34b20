"""DataOpsPipelineTaskGroup: a DataOps.live pipeline as Airflow tasks, one per job, repaired by clearing a job.

::

    with DataOpsPipelineTaskGroup(
        group_id="nightly", project="demo/dataops-project", ref="main", pipeline_file="full-ci.yml",
        jobs=["Initialise Pipeline", "Ingest Source Data", "Build all Models", "Generate Docs"],
        deferrable=True,
    ) as nightly:
        ...

The group holds a ``start`` task (:class:`~airflow_provider_dataops.operators.pipeline.DataOpsTriggerPipelineOperator`
with ``wait_for_completion=False``: one pipeline per clear, with its marker, re-attach and
``on_running`` rules) and a job task per job
(:class:`~airflow_provider_dataops.operators.pipeline_job.DataOpsPipelineJobOperator`), each waiting
for the job tasks of the jobs it waits for in the pipeline (its ``needs``, else the previous stage).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.common.compat.sdk import TaskGroup, conf

from airflow_provider_dataops.api.connection import DEFAULT_CONN_ID
from airflow_provider_dataops.api.job_graph import (
    JobSpec,
    graph_from_lint,
    graph_from_pipeline_jobs,
    jobs_argument,
    upstream_jobs,
)
from airflow_provider_dataops.api.limits import MAX_WAIT, check_seconds
from airflow_provider_dataops.api.paths import check_ref, resource_id
from airflow_provider_dataops.api.retry import RetryPolicy
from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsError
from airflow_provider_dataops.operators._job_graph_cache import cached_job_graph
from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator
from airflow_provider_dataops.operators.pipeline_job import DataOpsPipelineJobOperator

#: Where the job graph comes from when ``jobs`` is omitted.
GRAPH_SOURCES = ("lint", "newest_pipeline")
#: Default seconds a job graph read from the API is reused before it is read again.
DEFAULT_GRAPH_REFRESH = 3600.0
#: The start task's id inside the group.
START_TASK_ID = "start"
#: At DAG parse time a read gets two attempts and at most 5 s of waiting: a parse must stay short.
PARSE_RETRY_POLICY = RetryPolicy(max_attempts=2, max_total_wait=5.0, backoff_max=5.0)
PARSE_READ_TIMEOUT = 10.0

_NOT_ID = re.compile(r"[^A-Za-z0-9_.-]+")


def job_task_id(name: str, taken: set[str]) -> str:
    """A task id for a job name (``Build all Models`` -> ``build_all_models``), unique among ``taken``."""
    base = _NOT_ID.sub("_", name.strip().lower()).strip("_.-") or "job"
    base = base[:200]
    task_id, suffix = base, 2
    while task_id in taken or task_id == START_TASK_ID:
        task_id, suffix = f"{base}_{suffix}", suffix + 1
    taken.add(task_id)
    return task_id


class DataOpsPipelineTaskGroup(TaskGroup):
    """A pipeline as a ``start`` task and one task per job; clear a failed job's task to retry that job.

    :param group_id: The group's id.
    :param project: Project id or full path.
    :param ref: Branch, tag or commit SHA to run.
    :param pipeline_file: Pipeline file to run, ending in ``-ci.yml``.
    :param jobs: The jobs to render, as a list of names in stage order (each waits for the one before)
        or a mapping of name to the names it waits for. None: read the job graph from the API (see
        ``job_graph_source``), cached for ``job_graph_refresh`` seconds.
    :param variables: Pipeline variables, as for the trigger operator.
    :param poll_interval: Seconds between reads while job tasks wait.
    :param timeout: Longest wait of each job task (seconds or a timedelta); the job is then canceled.
    :param deferrable: Job tasks wait in the triggerer.
    :param on_running: The start task's rule for a pipeline of the same ref already running
        (``allow``, ``wait``, ``reuse``, ``cancel``, ``skip``).
    :param manual_job: A job task whose job is ``manual``: ``wait`` for a person, or ``play`` it.
    :param cancel_on_kill: The start task cancels the pipeline, and a job task its job, when killed or
        timed out.
    :param failure_log_lines: Lines of a failed job's log copied into its task log.
    :param job_graph_source: ``lint`` (CI lint's dry run of ``pipeline_file`` on ``ref``; needs
        ``pipeline_file``) or ``newest_pipeline`` (the jobs of the ref's newest pipeline).
    :param job_graph_refresh: Seconds (or a timedelta) a job graph read from the API is reused, in
        every DAG-parsing process of the machine.
    :param dataops_conn_id: A ``dataops`` connection with an access token.
    :param hook_params: Extra :class:`DataOpsHook` arguments for every task.
    :param start_kwargs: Further arguments of the start task (e.g. ``retries``, ``openlineage_inject_parent_job_info``).
    :param job_kwargs: Further arguments of every job task (e.g. ``execution_timeout``, ``pool``).
    :param group_kwargs: Further :class:`TaskGroup` arguments (``tooltip``, ``default_args``...).
    """

    def __init__(
        self,
        *,
        group_id: str,
        project: int | str,
        ref: str,
        pipeline_file: str | None = None,
        jobs: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
        variables: Mapping[str, Any] | None = None,
        poll_interval: float = 30.0,
        timeout: float | timedelta | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        on_running: str = "allow",
        manual_job: str = "wait",
        cancel_on_kill: bool = True,
        failure_log_lines: int = 25,
        job_graph_source: str = "lint",
        job_graph_refresh: float | timedelta = DEFAULT_GRAPH_REFRESH,
        dataops_conn_id: str = DEFAULT_CONN_ID,
        hook_params: Mapping[str, Any] | None = None,
        start_kwargs: Mapping[str, Any] | None = None,
        job_kwargs: Mapping[str, Any] | None = None,
        **group_kwargs: Any,
    ) -> None:
        super().__init__(group_id=group_id, **group_kwargs)
        if job_graph_source not in GRAPH_SOURCES:
            raise DataOpsConfigError(f"job_graph_source must be one of {GRAPH_SOURCES}, got {job_graph_source!r}")
        refresh = check_seconds(job_graph_refresh, "job_graph_refresh", maximum=MAX_WAIT)
        if job_graph_source == "lint" and jobs is None and pipeline_file is None:
            raise DataOpsConfigError(
                "job_graph_source='lint' needs pipeline_file (the file CI lint reads); "
                "give pipeline_file, jobs, or job_graph_source='newest_pipeline'"
            )
        with self:
            # The start task checks project, ref, pipeline_file, variables, on_running and the connection.
            start = DataOpsTriggerPipelineOperator(
                task_id=START_TASK_ID,
                project=project,
                ref=ref,
                pipeline_file=pipeline_file,
                variables=variables,
                wait_for_completion=False,
                on_running=on_running,
                cancel_on_kill=cancel_on_kill,
                dataops_conn_id=dataops_conn_id,
                hook_params=hook_params,
                **dict(start_kwargs or {}),
            )
            specs = (
                jobs_argument(jobs)
                if jobs is not None
                else _read_graph(dataops_conn_id, project, ref, pipeline_file, job_graph_source, refresh)
            )
            self.start_task = start
            self.job_tasks: dict[str, DataOpsPipelineJobOperator] = {}
            taken: set[str] = set()
            for spec in specs:
                self.job_tasks[spec.name] = DataOpsPipelineJobOperator(
                    task_id=job_task_id(spec.name, taken),
                    task_display_name=spec.name,
                    project=project,
                    pipeline_id=f"{{{{ ti.xcom_pull(task_ids={start.task_id!r}) }}}}",
                    job_name=spec.name,
                    manual_job=manual_job,
                    poll_interval=poll_interval,
                    timeout=timeout,
                    deferrable=deferrable,
                    cancel_on_kill=cancel_on_kill,
                    failure_log_lines=failure_log_lines,
                    dataops_conn_id=dataops_conn_id,
                    hook_params=hook_params,
                    **dict(job_kwargs or {}),
                )
            for name, parents in upstream_jobs(specs).items():
                task = self.job_tasks[name]
                # A job task without a parent waits for the start task; the others wait for it through them.
                task.set_upstream([self.job_tasks[parent] for parent in parents] or [start])


def _read_graph(
    conn_id: str, project: int | str, ref: str, pipeline_file: str | None, source: str, refresh: float
) -> list[JobSpec]:
    """The job graph from the API, through the on-disk cache (see :mod:`._job_graph_cache`)."""
    resource_id(project, "project")  # refused before any request
    key = {
        "conn_id": conn_id,
        "project": str(project),
        "ref": check_ref(ref),
        "pipeline_file": pipeline_file,
        "source": source,
    }

    def read() -> list[JobSpec]:
        from airflow_provider_dataops.hooks.dataops import DataOpsHook

        hook = DataOpsHook(conn_id, retry_policy=PARSE_RETRY_POLICY, timeout=PARSE_READ_TIMEOUT)
        if source == "lint":
            assert pipeline_file is not None  # checked by the group
            return graph_from_lint(hook.lint_pipeline_file(project, ref=ref, pipeline_file=pipeline_file))
        newest = hook.newest_pipeline(project, ref)
        if newest is None:
            raise DataOpsError(f"ref {ref!r} has no pipeline yet to read the jobs of")
        return graph_from_pipeline_jobs(hook.list_pipeline_jobs(project, newest["id"]))

    return cached_job_graph(key, read, refresh=refresh)
