"""Operators, sensor and trigger against the emulator: outcomes, cancel, timeouts, faults, no duplicates."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
from email.utils import formatdate
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, AirflowTaskTimeout, TaskDeferred

from airflow_provider_dataops.emulator import DataOpsEmulator
from airflow_provider_dataops.errors import DataOpsError
from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.operators.pipeline import (
    MARKER_VARIABLE,
    DataOpsPipelineFailedError,
    DataOpsPipelineTimeoutError,
    DataOpsTestsFailedError,
    DataOpsTriggerPipelineOperator,
)
from airflow_provider_dataops.sensors.pipeline import DataOpsPipelineSensor

from .conftest import task_context

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sleeps_fast")]

PROJECT = "demo/dataops-project"
TRIGGER_PATH = r"^/api/v4/projects/[^/]+/pipeline$"


def trigger_op(**kwargs: Any) -> DataOpsTriggerPipelineOperator:
    defaults: dict[str, Any] = {
        "task_id": "it_task",
        "project": PROJECT,
        "ref": "main",
        "pipeline_file": "full-ci.yml",
        "poll_interval": 0.2,
    }
    return DataOpsTriggerPipelineOperator(**{**defaults, **kwargs})


def statuses(emulator: DataOpsEmulator) -> list[str]:
    return [pipeline["status"] for pipeline in emulator.pipelines()]


# -- outcomes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "policy", "succeeds"),
    [
        ("success", "fail", True),
        ("failed", "fail", False),
        ("canceled", "fail", False),
        ("skipped", "fail", False),
        ("manual", "fail", False),
        ("manual", "succeed", True),
    ],
)
def test_pipeline_outcomes(dataops_connection_env: DataOpsEmulator, outcome: str, policy: str, succeeds: bool) -> None:
    op = trigger_op(variables={"DATAOPS_EMULATOR_OUTCOME": outcome}, manual_policy=policy)
    if succeeds:
        assert op.execute(task_context()) == dataops_connection_env.pipelines()[0]["id"]
    else:
        with pytest.raises(DataOpsPipelineFailedError, match=f"ended as {outcome}"):
            op.execute(task_context())
    assert statuses(dataops_connection_env) == [outcome]


def test_failure_report_names_the_failed_job_and_its_log(
    dataops_connection_env: DataOpsEmulator, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(DataOpsPipelineFailedError) as raised:
        trigger_op(variables={"DATAOPS_EMULATOR_OUTCOME": "failed"}).execute(task_context())
    (pipeline,) = dataops_connection_env.pipelines()
    assert pipeline["web_url"] in str(raised.value)
    out, err = capfd.readouterr()
    log = caplog.text + out + err
    assert "1 failed job(s)" in log
    assert "script_failure" in log
    assert "      | " in log  # the job's last log lines


# -- test reports -------------------------------------------------------------------------------


def pushed(context: dict[str, Any]) -> dict[str, Any]:
    return {call.kwargs["key"]: call.kwargs["value"] for call in context["ti"].xcom_push.call_args_list}


def test_a_finished_run_pushes_its_test_summary(dataops_connection_env: DataOpsEmulator) -> None:
    context = task_context()
    trigger_op().execute(context)
    assert pushed(context)["test_summary"] == {"total": 3, "success": 3, "failed": 0, "skipped": 0, "error": 0}


def test_a_run_without_a_test_report_pushes_no_summary(dataops_connection_env: DataOpsEmulator) -> None:
    context = task_context()
    trigger_op(variables={"DATAOPS_EMULATOR_OUTCOME": "manual"}, manual_policy="succeed").execute(context)
    assert "test_summary" not in pushed(context)
    assert "pipeline_id" in pushed(context)


def test_failure_report_lists_the_failing_test_cases(
    dataops_connection_env: DataOpsEmulator, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    context = task_context()
    with pytest.raises(DataOpsPipelineFailedError):
        trigger_op(variables={"DATAOPS_EMULATOR_OUTCOME": "failed"}).execute(context)
    out, err = capfd.readouterr()
    log = caplog.text + out + err
    assert "1 of 3 test case(s) failed or errored:" in log
    assert "  - [failed] Generate Docs :: model.dataops.dim_customers (models.marts)" in log
    assert "invalid identifier 'ORDER_TOTAL'" in log
    assert pushed(context)["test_summary"]["failed"] == 1


def test_tests_that_fail_in_a_succeeded_pipeline(dataops_connection_env: DataOpsEmulator) -> None:
    variables = {"DATAOPS_EMULATOR_OUTCOME": "tests_failed"}
    context = task_context()
    assert trigger_op(variables=variables).execute(context) > 0  # off by default: the pipeline succeeded
    assert pushed(context)["test_summary"]["failed"] == 1
    with pytest.raises(DataOpsTestsFailedError, match="succeeded, but 1 of 3 test case"):
        trigger_op(variables=variables, fail_on_test_failures=True).execute(task_context(run_id="manual__it2"))
    assert statuses(dataops_connection_env) == ["success", "success"]
    sensor = DataOpsPipelineSensor(
        task_id="watch", project=PROJECT, ref="main", poke_interval=0.2, timeout=30, fail_on_test_failures=True
    )
    with pytest.raises(DataOpsTestsFailedError):
        sensor.execute(task_context())


# -- cancel and timeouts ------------------------------------------------------------------------


def test_user_kill_cancels_the_pipeline(dataops_connection_env: DataOpsEmulator) -> None:
    op = trigger_op(variables={"DATAOPS_EMULATOR_SECONDS": 60})
    seen: list[list[str]] = []

    def kill_once_started() -> None:
        # The kill comes from another thread, as in Airflow; execute() stays on the main thread
        # (Airflow 2's guard around execute() keeps its state in a thread-local set up there).
        deadline = time.time() + 10
        while op._pipeline_id is None and time.time() < deadline:
            time.sleep(0.05)
        op.on_kill()
        seen.append(statuses(dataops_connection_env))
        dataops_connection_env.advance(5)
        seen.append(statuses(dataops_connection_env))

    killer = threading.Thread(target=kill_once_started, daemon=True)
    killer.start()
    # the wait stops at its next poll instead of watching the cancel, and says what it left behind
    with pytest.raises(Exception, match="killed while waiting for pipeline") as raised:
        op.execute(task_context())
    killer.join(timeout=10)
    assert seen[0][0] in ("canceling", "canceled")
    assert seen[1] == ["canceled"]
    assert re.search(r"it is (now canceled|still canceling; DataOps.live finishes canceling it)", str(raised.value))


def test_timeout_cancels_the_pipeline(dataops_connection_env: DataOpsEmulator) -> None:
    op = trigger_op(variables={"DATAOPS_EMULATOR_SECONDS": 60}, timeout=1)
    with pytest.raises(DataOpsPipelineTimeoutError):
        op.execute(task_context())
    dataops_connection_env.advance(5)
    assert statuses(dataops_connection_env) == ["canceled"]


def test_cancel_on_kill_false_leaves_the_pipeline_running(dataops_connection_env: DataOpsEmulator) -> None:
    with pytest.raises(DataOpsPipelineTimeoutError):
        trigger_op(variables={"DATAOPS_EMULATOR_SECONDS": 60}, timeout=1, cancel_on_kill=False).execute(task_context())
    assert statuses(dataops_connection_env)[0] in ("created", "pending", "running")


async def test_deferred_execution_timeout_cancels_through_the_operator(dataops_connection_env: DataOpsEmulator) -> None:
    op = trigger_op(variables={"DATAOPS_EMULATOR_SECONDS": 60}, deferrable=True, execution_timeout=timedelta(seconds=1))
    context = task_context()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    events = [event.payload async for event in deferred.value.trigger.run()]
    assert [e["status"] for e in events] == ["timeout"]
    with pytest.raises(AirflowTaskTimeout):
        op.execute_complete(context, events[0])
    dataops_connection_env.advance(5)
    assert statuses(dataops_connection_env) == ["canceled"]


async def test_deferred_success_and_user_kill(dataops_connection_env: DataOpsEmulator) -> None:
    op = trigger_op(deferrable=True)
    context = task_context()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    events = [event.payload async for event in deferred.value.trigger.run()]
    assert events[0]["status"] == "success"
    assert op.execute_complete(context, events[0]) == events[0]["pipeline_id"]

    dataops_connection_env.reset()
    with pytest.raises(TaskDeferred) as deferred:
        trigger_op(deferrable=True, variables={"DATAOPS_EMULATOR_SECONDS": 60}).execute(task_context())
    await deferred.value.trigger.cleanup()  # a triggerer restart: must not cancel
    assert statuses(dataops_connection_env)[0] in ("created", "pending", "running")
    await deferred.value.trigger.on_kill()  # a user kill (Airflow 3.3): cancels
    dataops_connection_env.advance(5)
    assert statuses(dataops_connection_env) == ["canceled"]


# -- never a duplicate --------------------------------------------------------------------------


def test_retry_after_a_worker_crash_reattaches_to_the_same_pipeline(dataops_connection_env: DataOpsEmulator) -> None:
    first_try = trigger_op(variables={"DATAOPS_EMULATOR_SECONDS": 3})
    # The worker dies right after the trigger: the first read never happens.
    dataops_connection_env.inject_fault("drop_before", method="GET", path=r"/pipelines/\d+$", times=100)
    with pytest.raises(DataOpsError):
        first_try.execute(task_context(try_number=1))
    dataops_connection_env.clear_faults()
    assert len(dataops_connection_env.pipelines()) == 1

    second_try = trigger_op(variables={"DATAOPS_EMULATOR_SECONDS": 3})
    pipeline_id = second_try.execute(task_context(try_number=2))
    assert [p["id"] for p in dataops_connection_env.pipelines()] == [pipeline_id]
    assert statuses(dataops_connection_env) == ["success"]


def test_retry_after_failed_pipeline_with_retry_failed_pipeline(dataops_connection_env: DataOpsEmulator) -> None:
    with pytest.raises(DataOpsPipelineFailedError):
        trigger_op(variables={"DATAOPS_EMULATOR_OUTCOME": "failed"}).execute(task_context(try_number=1))
    pipeline_id = trigger_op(variables={"DATAOPS_EMULATOR_OUTCOME": "failed"}, retry_failed_pipeline=True).execute(
        task_context(try_number=2)
    )
    assert [p["id"] for p in dataops_connection_env.pipelines()] == [pipeline_id]
    assert statuses(dataops_connection_env) == ["success"]


def test_retry_after_failed_pipeline_starts_a_new_one(dataops_connection_env: DataOpsEmulator) -> None:
    with pytest.raises(DataOpsPipelineFailedError):
        trigger_op(variables={"DATAOPS_EMULATOR_OUTCOME": "failed"}).execute(task_context(try_number=1))
    trigger_op().execute(task_context(try_number=2))
    assert statuses(dataops_connection_env) == ["failed", "success"]


def test_ambiguous_post_that_was_applied_gives_exactly_one_pipeline(dataops_connection_env: DataOpsEmulator) -> None:
    dataops_connection_env.inject_fault("drop_after", method="POST", path=TRIGGER_PATH, times=1)
    pipeline_id = trigger_op().execute(task_context())
    assert [p["id"] for p in dataops_connection_env.pipelines()] == [pipeline_id]
    posts = [r for r in dataops_connection_env.requests() if r["method"] == "POST"]
    assert len(posts) == 1


def test_ambiguous_post_that_was_not_applied_gives_exactly_one_pipeline(
    dataops_connection_env: DataOpsEmulator,
) -> None:
    dataops_connection_env.inject_fault("drop_before", method="POST", path=TRIGGER_PATH, times=1)
    pipeline_id = trigger_op().execute(task_context())
    assert [p["id"] for p in dataops_connection_env.pipelines()] == [pipeline_id]
    posts = [r for r in dataops_connection_env.requests() if r["method"] == "POST"]
    assert len(posts) == 2  # the lost one, then one more after the marker lookup found nothing


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_post_server_errors_are_reconciled_not_blindly_repeated(
    dataops_connection_env: DataOpsEmulator, status: int
) -> None:
    dataops_connection_env.inject_fault("status", method="POST", path=TRIGGER_PATH, status=status, times=1)
    trigger_op().execute(task_context())
    assert len(dataops_connection_env.pipelines()) == 1


def test_trigger_token_only_connection(dataops_emulator: DataOpsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DATAOPS_DEFAULT", dataops_emulator.airflow_connection_json(trigger_only=True))
    pipeline_id = trigger_op(wait_for_completion=False, variables={"N": 1}).execute(task_context())
    (pipeline,) = dataops_emulator.pipelines()
    assert (pipeline["id"], pipeline["source"]) == (pipeline_id, "trigger")
    assert {
        "key": MARKER_VARIABLE,
        "value": "dag=it_dag run=manual__it task=it_task map=-1 clear=0",
        "variable_type": "env_var",
    } in pipeline["variables"]

    dataops_emulator.inject_fault("drop_before", method="POST", path=r"/trigger/pipeline$", times=1)
    with pytest.raises(AirflowFailException, match="not retried"):
        trigger_op(wait_for_completion=False).execute(task_context())
    assert len(dataops_emulator.pipelines()) == 1


# -- sensor -------------------------------------------------------------------------------------


def test_sensor_rides_through_transient_faults(dataops_connection_env: DataOpsEmulator, sleeps_fast: None) -> None:
    pipeline = DataOpsHook().trigger_pipeline(PROJECT, "main")
    dataops_connection_env.inject_fault("status", method="GET", path=r"/pipelines/\d+$", status=502, times=10)
    dataops_connection_env.inject_fault(
        "status",
        method="GET",
        path=r"/pipelines/\d+$",
        status=429,
        body="Retry later",
        content_type="text/plain",
        headers={"Retry-After": formatdate(time.time() + 0.2, usegmt=True)},
        times=2,
    )
    sensor = DataOpsPipelineSensor(
        task_id="watch", project=PROJECT, pipeline_id=pipeline["id"], poke_interval=0.2, timeout=30
    )
    sensor.execute(task_context())
    assert statuses(dataops_connection_env) == ["success"]
    faulted = [r for r in dataops_connection_env.requests() if r["status"] in (429, 502)]
    assert len(faulted) == 12


def test_sensor_fails_fast_on_failure_and_soft_fail_skips(dataops_connection_env: DataOpsEmulator) -> None:
    from airflow.providers.common.compat.sdk import AirflowSkipException

    pipeline = DataOpsHook().trigger_pipeline(PROJECT, "main", variables={"DATAOPS_EMULATOR_OUTCOME": "failed"})
    sensor = DataOpsPipelineSensor(
        task_id="watch", project=PROJECT, pipeline_id=pipeline["id"], poke_interval=0.2, timeout=30
    )
    with pytest.raises(AirflowFailException, match="ended as failed"):
        sensor.execute(task_context())
    soft = DataOpsPipelineSensor(
        task_id="watch", project=PROJECT, pipeline_id=pipeline["id"], poke_interval=0.2, soft_fail=True
    )
    with pytest.raises(AirflowSkipException):
        soft.execute(task_context())


async def test_deferrable_sensor_by_ref(dataops_connection_env: DataOpsEmulator) -> None:
    DataOpsHook().trigger_pipeline(PROJECT, "main")
    sensor = DataOpsPipelineSensor(task_id="watch", project=PROJECT, ref="main", deferrable=True, poke_interval=0.2)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(task_context())
    events = [event.payload async for event in deferred.value.trigger.run()]
    assert events[0]["status"] == "success"
    sensor.execute_complete(task_context(), events[0])


def test_slow_server_that_commits_after_the_client_timed_out_gives_one_pipeline(
    dataops_connection_env: DataOpsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server takes 1.5 s; the client gives up after 0.5 s; the pipeline appears at 1.5 s.
    monkeypatch.setattr("airflow_provider_dataops.api.retry.sleep", time.sleep)
    monkeypatch.setattr("airflow_provider_dataops.operators.reconcile.RECONCILE_DELAY", 0.25)
    monkeypatch.setattr("airflow_provider_dataops.operators.reconcile.RECONCILE_MARGIN", 3.0)
    dataops_connection_env.inject_fault("latency", method="POST", path=TRIGGER_PATH, seconds=1.5, times=1)
    pipeline_id = trigger_op(hook_params={"timeout": 0.5}).execute(task_context())
    assert [p["id"] for p in dataops_connection_env.pipelines()] == [pipeline_id]
