"""DataOpsPlayJobOperator against the emulator: a gate played once, across retries and deferral."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_dataops.emulator import DataOpsEmulator
from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.operators.jobs import DataOpsPlayJobOperator
from airflow_provider_dataops.operators.pipeline import DataOpsPipelineFailedError

from .conftest import task_context

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sleeps_fast")]

PROJECT = "demo/dataops-project"
GATE = "Deploy to Production"


def gated_pipeline(emulator: DataOpsEmulator) -> int:
    hook = DataOpsHook()
    pipeline = hook.trigger_pipeline(PROJECT, "main", variables={"DATAOPS_EMULATOR_OUTCOME": "manual_deploy"})
    emulator.advance(5)
    assert hook.get_pipeline(PROJECT, pipeline["id"])["status"] == "manual"
    return int(pipeline["id"])


def play_op(pipeline_id: int, **kwargs: Any) -> DataOpsPlayJobOperator:
    return DataOpsPlayJobOperator(
        task_id="deploy", project=PROJECT, pipeline_id=pipeline_id, job_name=GATE, poll_interval=0.2, **kwargs
    )


def plays(emulator: DataOpsEmulator) -> int:
    return sum(1 for r in emulator.requests() if r["method"] == "POST" and r["path"].endswith("/play"))


def test_plays_the_gate_once_and_a_retry_attaches(dataops_connection_env: DataOpsEmulator) -> None:
    pipeline_id = gated_pipeline(dataops_connection_env)
    job_id = play_op(pipeline_id).execute(task_context())
    assert dataops_connection_env.pipelines()[0]["status"] == "success"
    assert play_op(pipeline_id).execute(task_context(try_number=2)) == job_id
    assert plays(dataops_connection_env) == 1


def test_a_failed_deployment_fails_the_task(dataops_connection_env: DataOpsEmulator) -> None:
    pipeline_id = gated_pipeline(dataops_connection_env)
    with pytest.raises(DataOpsPipelineFailedError, match="ended as failed"):
        play_op(pipeline_id, variables={"DATAOPS_EMULATOR_OUTCOME": "failed"}).execute(task_context())


async def test_deferred_play_waits_in_the_trigger(dataops_connection_env: DataOpsEmulator) -> None:
    pipeline_id = gated_pipeline(dataops_connection_env)
    op = play_op(pipeline_id, deferrable=True)
    context = task_context()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    events = [event.payload async for event in deferred.value.trigger.run()]
    assert events[0]["status"] == "success"
    job_id = op.execute_complete(context, events[0], **deferred.value.kwargs)
    context["ti"].xcom_push.assert_any_call(key="job_id", value=job_id)
    assert plays(dataops_connection_env) == 1
