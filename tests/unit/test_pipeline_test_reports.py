"""Test reports: the hook's endpoints, the test_summary XCom, failed cases in the failure report, and
fail_on_test_failures, for the trigger operator and the sensor."""

from __future__ import annotations

from typing import Any

import pytest
import requests_mock as rm
from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSkipException

from airflow_provider_dataops.api.test_results import failed_case_lines, summarize
from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsMalformedResponseError, DataOpsNotFoundError
from airflow_provider_dataops.follow.failure_report import failure_report
from airflow_provider_dataops.operators.pipeline import (
    DataOpsPipelineFailedError,
    DataOpsTestsFailedError,
    DataOpsTriggerPipelineOperator,
)

from .test_pipeline_operator import PROJECT, make_context, operator, pipeline, reads, task_log
from .test_sensor_and_project import sensor

SUMMARY_PATH = f"{PROJECT}/pipelines/7/test_report_summary"
REPORT_PATH = f"{PROJECT}/pipelines/7/test_report"


def summary_body(count: int = 3, success: int = 3, failed: int = 0, skipped: int = 0, error: int = 0) -> dict[str, Any]:
    total = {"time": 1.5, "count": count, "success": success, "failed": failed, "skipped": skipped, "error": error}
    return {"total": {**total, "suite_error": None}, "test_suites": [{"name": "dbt", "total_count": count}]}


def case(name: str, status: str = "failed", output: str | None = "assert 1 == 2", **extra: Any) -> dict[str, Any]:
    return {"status": status, "name": name, "classname": "models.marts", "system_output": output, **extra}


def report_body(*cases: dict[str, Any], suite: str = "Test all Models") -> dict[str, Any]:
    return {"total_count": len(cases), "test_suites": [{"name": suite, "test_cases": list(cases)}]}


def pushed(context: dict[str, Any]) -> dict[str, Any]:
    return {call.kwargs["key"]: call.kwargs["value"] for call in context["ti"].xcom_push.call_args_list}


def finished(requests_mock: rm.Mocker, status: str = "success") -> None:
    """An operator whose earlier try started pipeline 7, which has finished."""
    requests_mock.get(f"{PROJECT}/pipelines/7", json=pipeline(7, status))


# -- the hook ---------------------------------------------------------------------------------------


def test_hook_reads_both_endpoints(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(SUMMARY_PATH, json=summary_body())
    requests_mock.get(REPORT_PATH, json=report_body(case("a")))
    assert hook.get_test_report_summary("demo/p", 7)["total"]["count"] == 3
    assert hook.get_test_report("demo/p", "7")["test_suites"][0]["test_cases"][0]["name"] == "a"
    assert [r.path for r in requests_mock.request_history] == [
        "/api/v4/projects/demo%2fp/pipelines/7/test_report_summary",
        "/api/v4/projects/demo%2fp/pipelines/7/test_report",
    ]


@pytest.mark.parametrize("method", ["get_test_report_summary", "get_test_report"])
@pytest.mark.parametrize(
    ("project", "pipeline_id", "named"),
    [("", 7, "project"), ("demo/../p", 7, "project"), ("demo/p", 0, "pipeline_id"), ("demo/p", True, "pipeline_id")],
)
def test_hook_checks_arguments_before_any_request(
    hook, requests_mock: rm.Mocker, method: str, project: Any, pipeline_id: Any, named: str
) -> None:
    with pytest.raises(DataOpsConfigError, match=named):
        getattr(hook, method)(project, pipeline_id)
    assert requests_mock.call_count == 0


# -- summaries and the report's lines ---------------------------------------------------------------


def test_summarize_keeps_the_counts_and_means_none_without_cases() -> None:
    assert summarize(summary_body(5, 2, 1, 1, 1), "/p") == {
        "total": 5,
        "success": 2,
        "failed": 1,
        "skipped": 1,
        "error": 1,
    }
    assert summarize(summary_body(0, 0), "/p") is None


@pytest.mark.parametrize(
    "body", [{}, [], {"total": None}, {"total": {"count": "3"}}, {"total": {**summary_body()["total"], "failed": True}}]
)
def test_summarize_refuses_a_body_without_counts(body: Any) -> None:
    with pytest.raises(DataOpsMalformedResponseError, match="test counts"):
        summarize(body, "/projects/1/pipelines/7/test_report_summary")


def test_failed_cases_are_capped_and_say_what_was_left_out() -> None:
    long_output = "\n".join(f"line {n}" for n in range(15))
    cases = [case(f"case_{n}", "error" if n % 2 else "failed", long_output) for n in range(25)]
    cases.append(case("passing", "success"))
    lines = failed_case_lines(report_body(*cases))
    headers = [line for line in lines if line.startswith("  - ")]
    assert len(headers) == 20
    assert headers[0] == "  - [failed] Test all Models :: case_0 (models.marts)"
    assert headers[1].startswith("  - [error] Test all Models :: case_1")
    first_case = lines[1 : lines.index(headers[1])]
    assert first_case == [*(f"      | line {n}" for n in range(10)), "      | ... 5 more line(s)"]
    assert lines[-1] == "  ... and 5 more failed or errored test case(s), not shown"
    assert not any("passing" in line for line in lines)


def test_failed_case_output_joins_system_output_and_stack_trace_and_clips_long_lines() -> None:
    lines = failed_case_lines(report_body(case("c", output="x" * 1000, stack_trace="at model.sql:3", classname=None)))
    assert lines[0] == "  - [failed] Test all Models :: c (no classname)"
    assert lines[1] == "      | " + "x" * 300 + " ..."
    assert lines[2] == "      | at model.sql:3"


def test_failed_case_lines_ignore_malformed_reports() -> None:
    assert failed_case_lines({"test_suites": [None, {"name": "s", "test_cases": "x"}, {"test_cases": [3]}]}) == []
    assert failed_case_lines([]) == []


def test_failure_report_lists_failed_jobs_then_failed_tests(hook, requests_mock: rm.Mocker) -> None:
    job = {
        "id": 3,
        "name": "Test all Models",
        "stage": "Test",
        "failure_reason": "script_failure",
        "allow_failure": True,
    }
    requests_mock.get(f"{PROJECT}/pipelines/7/jobs", json=[job])
    requests_mock.get(f"{PROJECT}/jobs/3/trace", text="ERROR: Job failed: exit code 1\n")
    requests_mock.get(REPORT_PATH, json=report_body(case("not_null_orders_id")))
    summary = summarize(summary_body(2, 1, 1), "/p")
    report = failure_report(hook, "demo/p", pipeline(7, "success"), test_summary=summary)
    assert report.splitlines()[1:] == [
        "  1 failed job(s):",
        "  - Test all Models (stage Test): script_failure (allowed to fail)",
        "      | ERROR: Job failed: exit code 1",
        "  1 of 2 test case(s) failed or errored:",
        "  - [failed] Test all Models :: not_null_orders_id (models.marts)",
        "      | assert 1 == 2",
    ]


def test_failure_report_reads_no_test_report_when_no_test_failed(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{PROJECT}/pipelines/7/jobs", json=[])
    report = failure_report(hook, "demo/p", pipeline(7, "failed"), test_summary=summarize(summary_body(), "/p"))
    assert report.endswith("No failed jobs.")
    assert not any(r.path.endswith("/test_report") for r in requests_mock.request_history)


def test_failure_report_notes_an_unreadable_test_report(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{PROJECT}/pipelines/7/jobs", json=[])
    requests_mock.get(REPORT_PATH, status_code=404, json={"message": "404 Not found"})
    report = failure_report(hook, "demo/p", pipeline(7, "failed"), test_summary=summarize(summary_body(1, 0, 1), "/p"))
    assert "  (could not read the test report: " in report


# -- the trigger operator ---------------------------------------------------------------------------


def run_finished(op: DataOpsTriggerPipelineOperator, context: dict[str, Any]) -> Any:
    """The tail of every waiting path: resume from the trigger's success event."""
    return op.execute_complete(context, {"status": "success", "pipeline_id": 7})


def test_operator_pushes_the_test_summary_when_there_is_a_report(hook, requests_mock: rm.Mocker) -> None:
    finished(requests_mock)
    requests_mock.get(SUMMARY_PATH, json=summary_body(4, 3, 0, 1))
    context = make_context()
    assert run_finished(operator(), context) == 7
    assert pushed(context)["test_summary"] == {"total": 4, "success": 3, "failed": 0, "skipped": 1, "error": 0}


def test_operator_pushes_no_key_without_a_report(hook, requests_mock: rm.Mocker) -> None:
    finished(requests_mock)  # the default answer: zero test cases
    context = make_context()
    run_finished(operator(), context)
    assert "test_summary" not in pushed(context)
    assert requests_mock.request_history[-1].path.endswith("/test_report_summary")


def test_an_unreadable_report_does_not_fail_a_succeeded_task(hook, requests_mock: rm.Mocker, caplog, capfd) -> None:
    finished(requests_mock)
    requests_mock.get(SUMMARY_PATH, status_code=403, json={"message": "403 Forbidden"})
    context = make_context()
    assert run_finished(operator(), context) == 7
    assert "test_summary" not in pushed(context)
    assert "Could not read the test report of pipeline 7" in task_log(caplog, capfd)


def test_worker_wait_pushes_the_summary_after_the_wait(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    reads(requests_mock, 7, "running", "running", "success")
    requests_mock.get(SUMMARY_PATH, json=summary_body())
    context = make_context()
    operator().execute(context)
    paths = [r.path.rsplit("/", 1)[-1] for r in requests_mock.request_history]
    assert paths.count("test_report_summary") == 1
    assert paths[-1] == "test_report_summary"  # read once, after the wait
    assert pushed(context)["test_summary"]["total"] == 3


def test_failed_pipeline_pushes_the_summary_and_reports_failed_cases(
    hook, requests_mock: rm.Mocker, caplog, capfd
) -> None:
    finished(requests_mock, "failed")
    requests_mock.get(SUMMARY_PATH, json=summary_body(3, 2, 1))
    requests_mock.get(f"{PROJECT}/pipelines/7/jobs", json=[])
    requests_mock.get(REPORT_PATH, json=report_body(case("model.dataops.dim_customers", output="invalid identifier")))
    context = make_context()
    with pytest.raises(DataOpsPipelineFailedError) as failure:
        operator().execute_complete(context, {"status": "failure", "pipeline_id": 7})
    assert not isinstance(failure.value, DataOpsTestsFailedError)
    assert pushed(context)["test_summary"]["failed"] == 1
    log = task_log(caplog, capfd)
    assert "1 of 3 test case(s) failed or errored:" in log
    assert "| invalid identifier" in log


def test_failed_tests_do_not_fail_a_succeeded_pipeline_by_default(hook, requests_mock: rm.Mocker) -> None:
    finished(requests_mock)
    requests_mock.get(SUMMARY_PATH, json=summary_body(3, 2, 1))
    assert run_finished(operator(), make_context()) == 7
    assert not any(r.path.endswith("/test_report") for r in requests_mock.request_history)


@pytest.mark.parametrize(("failed", "error"), [(1, 0), (0, 2)])
def test_fail_on_test_failures_fails_without_retries_and_reports(
    hook, requests_mock: rm.Mocker, caplog, capfd, failed: int, error: int
) -> None:
    finished(requests_mock)
    requests_mock.get(SUMMARY_PATH, json=summary_body(5, 5 - failed - error, failed, 0, error))
    requests_mock.get(f"{PROJECT}/pipelines/7/jobs", json=[])
    requests_mock.get(REPORT_PATH, json=report_body(case("not_null_orders_id")))
    context = make_context()
    with pytest.raises(
        DataOpsTestsFailedError, match=r"Pipeline 7 succeeded, but \d of 5 test case\(s\) failed"
    ) as err:
        run_finished(operator(fail_on_test_failures=True), context)
    assert isinstance(err.value, AirflowFailException)  # the tests of a finished pipeline do not change
    assert isinstance(err.value, DataOpsPipelineFailedError)
    assert pushed(context)["test_summary"]["total"] == 5
    assert "[failed] Test all Models :: not_null_orders_id" in task_log(caplog, capfd)


def test_fail_on_test_failures_passes_clean_or_absent_tests(hook, requests_mock: rm.Mocker) -> None:
    finished(requests_mock)
    assert run_finished(operator(fail_on_test_failures=True), make_context()) == 7
    requests_mock.get(SUMMARY_PATH, json=summary_body(3, 2, 0, 1))
    assert run_finished(operator(fail_on_test_failures=True), make_context()) == 7


def test_fail_on_test_failures_fails_when_the_tests_cannot_be_read(hook, requests_mock: rm.Mocker) -> None:
    finished(requests_mock)
    requests_mock.get(SUMMARY_PATH, status_code=404, json={"message": "404 Not found"})
    with pytest.raises(DataOpsNotFoundError):
        run_finished(operator(fail_on_test_failures=True), make_context())


def test_a_resumed_task_checks_the_tests_of_the_pipeline_it_finds_succeeded(hook, requests_mock: rm.Mocker) -> None:
    # Airflow 3.3's mixin skips the wait for a stored pipeline that already succeeded.
    finished(requests_mock)
    requests_mock.get(SUMMARY_PATH, json=summary_body(3, 2, 1))
    requests_mock.get(f"{PROJECT}/pipelines/7/jobs", json=[])
    requests_mock.get(REPORT_PATH, json=report_body(case("x")))
    context = make_context(try_number=2)
    with pytest.raises(DataOpsTestsFailedError):
        operator(fail_on_test_failures=True).get_job_result({"pipeline_id": 7}, context)
    assert pushed(context)["test_summary"]["failed"] == 1


def test_no_wait_reads_no_tests(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    reads(requests_mock, 7, "created")
    operator(wait_for_completion=False).execute(make_context())
    assert not any("test_report" in r.path for r in requests_mock.request_history)


@pytest.mark.parametrize("make", [operator, sensor])
def test_fail_on_test_failures_must_be_a_bool(make: Any) -> None:
    with pytest.raises(DataOpsConfigError, match="fail_on_test_failures"):
        make(fail_on_test_failures="yes")


# -- the sensor -------------------------------------------------------------------------------------


def test_sensor_pushes_the_summary_once_it_succeeded(hook, requests_mock: rm.Mocker) -> None:
    reads(requests_mock, 7, "running", "success")
    requests_mock.get(SUMMARY_PATH, json=summary_body())
    context = make_context()
    watcher = sensor(poke_interval=0.01)
    watcher.execute(context)
    assert pushed(context)["test_summary"] == {"total": 3, "success": 3, "failed": 0, "skipped": 0, "error": 0}
    assert [r.path for r in requests_mock.request_history].count(
        SUMMARY_PATH.replace("https://dataops.example.com", "").lower()
    ) == 1


def test_sensor_deferred_success_pushes_the_summary(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(SUMMARY_PATH, json=summary_body(2, 1, 0, 1))
    context = make_context()
    sensor(deferrable=True).execute_complete(context, {"status": "success", "pipeline_id": 7})
    assert pushed(context)["test_summary"]["skipped"] == 1


def test_sensor_fail_on_test_failures(hook, requests_mock: rm.Mocker) -> None:
    finished(requests_mock)
    requests_mock.get(SUMMARY_PATH, json=summary_body(3, 2, 1))
    requests_mock.get(f"{PROJECT}/pipelines/7/jobs", json=[])
    requests_mock.get(REPORT_PATH, json=report_body(case("x")))
    with pytest.raises(DataOpsTestsFailedError, match="Pipeline 7 succeeded, but 1 of 3"):
        sensor(fail_on_test_failures=True).execute(make_context())
    with pytest.raises(AirflowSkipException, match="1 of 3"):
        sensor(fail_on_test_failures=True, soft_fail=True).execute(make_context())
    assert sensor().execute(make_context()) is None  # off by default


def test_sensor_failure_pushes_the_summary(hook, requests_mock: rm.Mocker) -> None:
    finished(requests_mock, "failed")
    requests_mock.get(SUMMARY_PATH, json=summary_body(3, 2, 1))
    requests_mock.get(f"{PROJECT}/pipelines/7/jobs", json=[])
    requests_mock.get(REPORT_PATH, json=report_body(case("x")))
    context = make_context()
    with pytest.raises(AirflowFailException):
        sensor().poke(context)
    assert pushed(context)["test_summary"]["failed"] == 1
