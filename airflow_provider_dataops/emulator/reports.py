"""GitLab's pipeline test reports, built from the JUnit cases of the jobs that have finished.

A suite is named after its job, as in GitLab. A pipeline without reports answers with zero counts and
no suites (200, not 404), also as in GitLab.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_dataops.emulator.model import Job, JUnitCase, Pipeline

#: JUnit case statuses and the count fields of a suite that hold them.
_STATUSES = ("success", "failed", "skipped", "error")


def _suites(pipeline: Pipeline, now: float) -> list[tuple[Job, tuple[JUnitCase, ...]]]:
    reported = ((job, job.reported_tests(now)) for job in sorted(pipeline.current_jobs(), key=lambda job: job.id))
    return [(job, cases) for job, cases in reported if cases]


def _counts(cases: Sequence[JUnitCase]) -> dict[str, Any]:
    counts: dict[str, Any] = {
        "total_time": round(sum(case.execution_time for case in cases), 2),
        "total_count": len(cases),
    }
    counts.update({f"{status}_count": sum(case.status == status for case in cases) for status in _STATUSES})
    return counts


def _case_json(case: JUnitCase) -> dict[str, Any]:
    return {
        "status": case.status,
        "name": case.name,
        "classname": case.classname,
        "file": case.file,
        "execution_time": case.execution_time,
        "system_output": case.system_output,
        "stack_trace": None,
        "attachment_url": None,
    }


def test_report_json(pipeline: Pipeline, now: float) -> dict[str, Any]:
    """``GET .../pipelines/:pipeline_id/test_report``: totals, then each suite with its cases.

    :param pipeline: the pipeline.
    :param now: the emulator time.
    """
    suites = _suites(pipeline, now)
    every_case = [case for _, cases in suites for case in cases]
    return {
        **_counts(every_case),
        "test_suites": [
            {"name": job.name, **_counts(cases), "suite_error": None, "test_cases": [_case_json(c) for c in cases]}
            for job, cases in suites
        ],
    }


def test_report_summary_json(pipeline: Pipeline, now: float) -> dict[str, Any]:
    """``GET .../pipelines/:pipeline_id/test_report_summary``: ``total`` and per-suite counts, no cases.

    :param pipeline: the pipeline.
    :param now: the emulator time.
    """
    suites = _suites(pipeline, now)
    totals = _counts([case for _, cases in suites for case in cases])
    return {
        "total": {
            "time": totals["total_time"],
            "count": totals["total_count"],
            **{status: totals[f"{status}_count"] for status in _STATUSES},
            "suite_error": None,
        },
        "test_suites": [
            {"name": job.name, **_counts(cases), "build_ids": [job.id], "suite_error": None} for job, cases in suites
        ],
    }
