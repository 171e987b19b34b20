"""What a failed pipeline did wrong, for the task log: its failed jobs and its failed test cases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_dataops.api.redaction import redact
from airflow_provider_dataops.api.statuses import FAILURE_STATUSES
from airflow_provider_dataops.api.test_results import (
    PipelineTestSummary,
    describe_failures,
    failed_case_lines,
    has_failures,
)
from airflow_provider_dataops.errors import DataOpsError
from airflow_provider_dataops.follow.downstream import downstream_pipelines

if TYPE_CHECKING:  # the hook's module loads only when a task runs (python -m benchmarks imports)
    from airflow_provider_dataops.hooks.dataops import DataOpsHook

#: Failed jobs described in full; a pipeline with more lists only their names.
MAX_JOBS_WITH_LOGS = 5


def failure_report(
    hook: DataOpsHook,
    project: int | str,
    pipeline: Mapping[str, Any],
    *,
    log_lines: int = 25,
    test_summary: PipelineTestSummary | None = None,
) -> str:
    """Describe a pipeline that failed, was canceled, skipped or blocked, or whose tests failed.

    Reading the jobs, logs or test report can fail too; that is noted in the report instead of hiding
    the pipeline's own failure.

    :param log_lines: Lines kept from the end of each failed job's log; 0 leaves the logs out.
    :param test_summary: The pipeline's test counts; when some failed or errored, the full test
        report is read and those cases are listed.
    """
    header = f"Pipeline {pipeline.get('id')} ended as {pipeline.get('status')}: {pipeline.get('web_url')}"
    report = "\n".join(
        [
            header,
            *_job_lines(hook, project, pipeline, log_lines),
            *_downstream_lines(hook, project, pipeline, log_lines),
            *_test_lines(hook, project, pipeline, test_summary),
        ]
    )
    # Job names, failure reasons, log tails and test names are the server's text.
    return redact(report, hook.settings.secrets)


def _downstream_lines(hook: DataOpsHook, project: int | str, pipeline: Mapping[str, Any], log_lines: int) -> list[str]:
    """The failed child and multi-project pipelines, each with its failed jobs, up to three levels."""
    failed = {status.value for status in FAILURE_STATUSES}
    lines: list[str] = []
    for level, where, child in downstream_pipelines(
        hook, project, int(pipeline["id"]), descend=lambda found: found.status in failed
    ):
        if child.status not in failed:
            continue
        indent = "  " * level
        lines.append(f"{indent}Downstream pipeline {child.id} ended as {child.status}: {child.web_url}")
        lines.extend(_job_lines(hook, where, {"id": child.id}, log_lines, indent=indent + "  "))
    return lines


def _job_lines(
    hook: DataOpsHook, project: int | str, pipeline: Mapping[str, Any], log_lines: int, *, indent: str = "  "
) -> list[str]:
    try:
        jobs = hook.list_pipeline_jobs(project, pipeline["id"], scope=["failed"])
    except DataOpsError as error:
        return [f"{indent}(could not list its jobs: {error})"]
    if not jobs:
        return [f"{indent}No failed jobs."]
    lines = [f"{indent}{len(jobs)} failed job(s):"]
    for index, job in enumerate(jobs):
        lines.extend(job_lines(hook, project, job, log_lines if index < MAX_JOBS_WITH_LOGS else 0, indent=indent))
    return lines


def job_lines(
    hook: DataOpsHook, project: int | str, job: Mapping[str, Any], log_lines: int, *, indent: str = "  "
) -> list[str]:
    """One failed job: its name, stage, failure reason and URL, then the last ``log_lines`` of its log.

    :param log_lines: Lines kept from the end of the log; 0 leaves it out.
    :param indent: Put before each line (deeper for a downstream pipeline's jobs).
    """
    allowed = " (allowed to fail)" if job.get("allow_failure") else ""
    lines = [
        f"{indent}- {job.get('name')} (stage {job.get('stage')}): {job.get('failure_reason') or 'failed'}{allowed} "
        f"{job.get('web_url', '')}".rstrip()
    ]
    if not log_lines:
        return lines
    try:
        log = hook.get_job_log(project, job["id"], tail_lines=log_lines)
    except DataOpsError as error:
        return [*lines, f"{indent}    (log unavailable: {error})"]
    return [*lines, *(f"{indent}    | {line}" for line in log.splitlines())]


def _test_lines(
    hook: DataOpsHook, project: int | str, pipeline: Mapping[str, Any], summary: PipelineTestSummary | None
) -> list[str]:
    if summary is None or not has_failures(summary):
        return []
    header = f"  {describe_failures(summary)}:"
    try:
        report = hook.get_test_report(project, pipeline["id"])
    except DataOpsError as error:
        return [header, f"  (could not read the test report: {error})"]
    return [header, *failed_case_lines(report)]
