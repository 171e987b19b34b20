"""A finished pipeline's test results: the summary a task pushes, and the failed cases it reports.

GitLab builds them from the JUnit reports of the pipeline's jobs. A pipeline without reports answers
with zero counts; that is "no test report", not "no failures".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypedDict

from airflow_provider_dataops.errors import DataOpsMalformedResponseError

#: Failed or errored test cases a failure report describes; the rest are only counted.
MAX_REPORTED_CASES = 20
#: Lines of each reported case's output (``system_output``, then ``stack_trace``).
MAX_CASE_LINES = 10
#: Characters kept of one output line: a minified payload must not flood the task log.
MAX_LINE_LENGTH = 300

_COUNTS = ("count", "success", "failed", "skipped", "error")
_FAILING = ("failed", "error")


class PipelineTestSummary(TypedDict):
    """The ``test_summary`` XCom: how many of the pipeline's test cases ended each way."""

    total: int
    success: int
    failed: int
    skipped: int
    error: int


def summarize(report_summary: Any, path: str) -> PipelineTestSummary | None:
    """The counts of a ``test_report_summary`` answer; None when the pipeline has no test cases.

    :param report_summary: The decoded body of ``GET .../pipelines/:id/test_report_summary``.
    :param path: The request's API path, for the error.
    :raises DataOpsMalformedResponseError: when ``total`` does not hold the counts.
    """
    total = report_summary.get("total") if isinstance(report_summary, Mapping) else None
    if not isinstance(total, Mapping):
        total = {}
    counts: dict[str, int] = {}
    for key in _COUNTS:
        value = total.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            counts[key] = value
    if len(counts) != len(_COUNTS):
        raise DataOpsMalformedResponseError(
            f"GET {path} did not return the test counts under 'total'", status=200, method="GET", path=path
        )
    if counts["count"] == 0:
        return None
    return PipelineTestSummary(
        total=counts["count"],
        success=counts["success"],
        failed=counts["failed"],
        skipped=counts["skipped"],
        error=counts["error"],
    )


def has_failures(summary: PipelineTestSummary | None) -> bool:
    """Whether any test case failed or errored."""
    return summary is not None and summary["failed"] + summary["error"] > 0


def describe_failures(summary: PipelineTestSummary) -> str:
    """``2 of 40 test case(s) failed or errored``."""
    return f"{summary['failed'] + summary['error']} of {summary['total']} test case(s) failed or errored"


def tests_failed_message(pipeline: Mapping[str, Any], summary: PipelineTestSummary) -> str:
    """The error of a task that fails a succeeded pipeline for its tests (``fail_on_test_failures``)."""
    return f"Pipeline {pipeline.get('id')} succeeded, but {describe_failures(summary)}: {pipeline.get('web_url')}"


def failed_case_lines(
    report: Any, *, max_cases: int = MAX_REPORTED_CASES, max_lines: int = MAX_CASE_LINES
) -> list[str]:
    """The failed and errored cases of a ``test_report`` answer, for the failure report.

    Each case gives its suite, name, classname and the first ``max_lines`` lines of its output; after
    ``max_cases`` cases, a last line says how many more were left out.
    """
    lines: list[str] = []
    shown = left_out = 0
    for suite, case in _failing_cases(report):
        if shown >= max_cases:
            left_out += 1
            continue
        shown += 1
        lines.append(
            f"  - [{case.get('status')}] {suite} :: {case.get('name')} ({case.get('classname') or 'no classname'})"
        )
        output = [line for key in ("system_output", "stack_trace") for line in str(case.get(key) or "").splitlines()]
        lines.extend(f"      | {_clip(line)}" for line in output[:max_lines])
        if len(output) > max_lines:
            lines.append(f"      | ... {len(output) - max_lines} more line(s)")
    if left_out:
        lines.append(f"  ... and {left_out} more failed or errored test case(s), not shown")
    return lines


def _failing_cases(report: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    suites = report.get("test_suites") if isinstance(report, Mapping) else None
    for suite in suites if isinstance(suites, list) else ():
        if not isinstance(suite, Mapping) or not isinstance(suite.get("test_cases"), list):
            continue
        for case in suite["test_cases"]:
            if isinstance(case, Mapping) and case.get("status") in _FAILING:
                yield str(suite.get("name")), case


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_LENGTH else line[:MAX_LINE_LENGTH] + " ..."
