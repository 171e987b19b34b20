"""The verdict on a pipeline that stopped running: success, failure, or failed tests.

Status semantics come from :mod:`~airflow_provider_dataops.api.statuses`; this module reads what a
verdict needs (the test counts), logs the failure report, and raises the task's error. The worker
wait loop, the deferred operators' resume and the sensor all end here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_dataops.api.paths import pipeline_path
from airflow_provider_dataops.api.redaction import redact_value
from airflow_provider_dataops.api.statuses import ManualPolicy, Outcome, classify_pipeline_status
from airflow_provider_dataops.api.test_results import (
    PipelineTestSummary,
    has_failures,
    summarize,
    tests_failed_message,
)
from airflow_provider_dataops.errors import DataOpsError, DataOpsPipelineFailedError, DataOpsTestsFailedError
from airflow_provider_dataops.follow.failure_report import failure_report

if TYPE_CHECKING:  # the hook's module loads only when a task runs (python -m benchmarks imports)
    from airflow_provider_dataops.hooks.dataops import DataOpsHook

#: Hands the test counts of a finished pipeline to the task (its XCom).
PublishTests = Callable[[PipelineTestSummary], None]


def read_test_summary(
    hook: DataOpsHook,
    project: int | str,
    pipeline_id: int,
    log: Any,
    publish: PublishTests,
    *,
    required: bool,
) -> PipelineTestSummary | None:
    """Read a finished pipeline's test counts, log them and ``publish`` them.

    A pipeline without test cases publishes nothing. Call it once, after the wait: it costs a request.

    :param log: The task's logger.
    :param required: The task's outcome depends on the tests (``fail_on_test_failures``): an error
        reading them is raised. Otherwise it is logged as a warning and the task goes on without.
    :returns: The summary, or None when there is none (or it could not be read).
    """
    try:
        summary = summarize(
            hook.get_test_report_summary(project, pipeline_id),
            pipeline_path(project, pipeline_id, "test_report_summary"),
        )
    except DataOpsError as error:
        if required:
            raise
        log.warning("Could not read the test report of pipeline %s: %s", pipeline_id, error)
        return None
    if summary is not None:
        publish(summary)
        log.info("Tests of pipeline %s: %s", pipeline_id, ", ".join(f"{k} {v}" for k, v in summary.items()))
    return summary


def log_failure_report(
    hook: DataOpsHook,
    project: int | str,
    pipeline: Mapping[str, Any],
    tests: PipelineTestSummary | None,
    *,
    log_lines: int,
    log: Any,
) -> None:
    """Write the failed jobs (with the end of their logs) and failed tests into the task log."""
    log.error("%s", failure_report(hook, project, pipeline, log_lines=log_lines, test_summary=tests))


def settle(
    hook: DataOpsHook,
    project: int | str,
    pipeline: Mapping[str, Any],
    *,
    manual_policy: ManualPolicy,
    fail_on_test_failures: bool,
    failure_log_lines: int,
    log: Any,
    publish: PublishTests,
) -> None:
    """Publish the test summary; return on success, or raise with the failed jobs and tests in the log.

    :raises DataOpsTestsFailedError: the pipeline succeeded, tests failed and ``fail_on_test_failures``.
    :raises DataOpsPipelineFailedError: the pipeline ended in a failure status.
    """
    pipeline = redact_value(pipeline, hook.settings.secrets)  # it may come from an event or a stored record
    outcome = classify_pipeline_status(pipeline["status"], manual_policy)
    gated = fail_on_test_failures and outcome is Outcome.SUCCESS
    tests = read_test_summary(hook, project, int(pipeline["id"]), log, publish, required=gated)
    if gated and tests is not None and has_failures(tests):
        log_failure_report(hook, project, pipeline, tests, log_lines=failure_log_lines, log=log)
        raise DataOpsTestsFailedError(tests_failed_message(pipeline, tests))
    if outcome is Outcome.SUCCESS:
        log.info("Pipeline %s finished as %s: %s", pipeline["id"], pipeline["status"], pipeline.get("web_url"))
        return
    log_failure_report(hook, project, pipeline, tests, log_lines=failure_log_lines, log=log)
    raise DataOpsPipelineFailedError(
        f"Pipeline {pipeline['id']} ended as {pipeline['status']}: {pipeline.get('web_url')}"
    )
