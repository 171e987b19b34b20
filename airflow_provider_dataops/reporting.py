"""What a failed pipeline did wrong, for the task log: each failed job, its reason and its last lines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_dataops.errors import DataOpsError
from airflow_provider_dataops.hooks.dataops import DataOpsHook

#: Failed jobs described in full; a pipeline with more lists only their names.
MAX_JOBS_WITH_LOGS = 5


def failure_report(hook: DataOpsHook, project: int | str, pipeline: Mapping[str, Any], *, log_lines: int = 25) -> str:
    """Describe a failed, canceled, skipped or blocked pipeline.

    Reading the jobs or logs can fail too; that is noted in the report instead of hiding the
    pipeline's own failure.

    :param log_lines: Lines kept from the end of each failed job's log; 0 leaves the logs out.
    """
    header = f"Pipeline {pipeline.get('id')} ended as {pipeline.get('status')}: {pipeline.get('web_url')}"
    try:
        jobs = hook.list_pipeline_jobs(project, pipeline["id"], scope=["failed"])
    except DataOpsError as error:
        return f"{header}\n  (could not list its jobs: {error})"
    if not jobs:
        return f"{header}\n  No failed jobs."
    lines = [header, f"  {len(jobs)} failed job(s):"]
    for index, job in enumerate(jobs):
        lines.append(
            f"  - {job.get('name')} (stage {job.get('stage')}): {job.get('failure_reason') or 'failed'} "
            f"{job.get('web_url', '')}".rstrip()
        )
        if index >= MAX_JOBS_WITH_LOGS or not log_lines:
            continue
        try:
            log = hook.get_job_log(project, job["id"], tail_lines=log_lines)
        except DataOpsError as error:
            lines.append(f"      (log unavailable: {error})")
            continue
        lines.extend(f"      | {line}" for line in log.splitlines())
    return "\n".join(lines)
