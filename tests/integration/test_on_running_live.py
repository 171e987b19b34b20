"""Each ``on_running`` policy against the emulator: another pipeline runs on the ref as the task starts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowSkipException, TaskDeferred

from airflow_provider_dataops.emulator import DataOpsEmulator
from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator

from .conftest import task_context

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sleeps_fast")]

PROJECT = "demo/dataops-project"
#: How long the other pipeline runs, in seconds.
OTHER_SECONDS = 1.5


def trigger_op(**kwargs: Any) -> DataOpsTriggerPipelineOperator:
    defaults: dict[str, Any] = {"task_id": "it_task", "project": PROJECT, "ref": "main", "poll_interval": 0.2}
    return DataOpsTriggerPipelineOperator(**{**defaults, **kwargs})


def start_other(seconds: float = OTHER_SECONDS) -> int:
    """Someone else's pipeline on the same ref (as a push or a schedule would start it)."""
    pipeline = DataOpsHook().trigger_pipeline(PROJECT, "main", variables={"DATAOPS_EMULATOR_SECONDS": str(seconds)})
    return int(pipeline["id"])


def record(emulator: DataOpsEmulator, pipeline_id: int) -> dict[str, Any]:
    return next(p for p in emulator.pipelines() if p["id"] == pipeline_id)


def created(emulator: DataOpsEmulator, pipeline_id: int) -> float:
    return datetime.fromisoformat(record(emulator, pipeline_id)["created_at"].replace("Z", "+00:00")).timestamp()


def posts(emulator: DataOpsEmulator) -> list[str]:
    return [r["path"].rsplit("/", 1)[-1] for r in emulator.requests() if r["method"] == "POST"]


async def run_deferred(op: DataOpsTriggerPipelineOperator, context: dict[str, Any]) -> Any:
    """Execute, running each deferral's trigger inline and resuming where the operator asked."""
    call: Any = lambda: op.execute(context)  # noqa: E731
    while True:
        try:
            return call()
        except TaskDeferred as deferred:
            events = [event.payload async for event in deferred.trigger.run()]
            resume = getattr(op, deferred.method_name)
            kwargs = deferred.kwargs or {}
            call = lambda resume=resume, event=events[0], kwargs=kwargs: resume(context, event, **kwargs)  # noqa: E731


def test_allow_starts_ours_alongside(dataops_connection_env: DataOpsEmulator) -> None:
    other = start_other(seconds=30)
    ours = trigger_op(wait_for_completion=False).execute(task_context())
    assert ours != other
    assert record(dataops_connection_env, other)["status"] in ("created", "pending", "running")


@pytest.mark.parametrize("deferrable", [False, True])
async def test_wait_starts_ours_once_the_other_finished(
    dataops_connection_env: DataOpsEmulator, deferrable: bool
) -> None:
    other = start_other()
    ours = await run_deferred(trigger_op(on_running="wait", deferrable=deferrable), task_context())
    assert record(dataops_connection_env, other)["status"] == "success"
    assert record(dataops_connection_env, ours)["status"] == "success"
    assert created(dataops_connection_env, ours) >= created(dataops_connection_env, other) + OTHER_SECONDS
    assert posts(dataops_connection_env) == ["pipeline", "pipeline"]


@pytest.mark.parametrize("deferrable", [False, True])
async def test_reuse_reports_the_other_pipeline(dataops_connection_env: DataOpsEmulator, deferrable: bool) -> None:
    other = start_other()
    context = task_context()
    assert await run_deferred(trigger_op(on_running="reuse", deferrable=deferrable), context) == other
    context["ti"].xcom_push.assert_any_call(key="pipeline_id", value=other)
    assert [p["id"] for p in dataops_connection_env.pipelines()] == [other]
    assert record(dataops_connection_env, other)["status"] == "success"


@pytest.mark.parametrize("deferrable", [False, True])
async def test_cancel_stops_the_other_then_starts_ours(
    dataops_connection_env: DataOpsEmulator, deferrable: bool
) -> None:
    other = start_other(seconds=30)
    ours = await run_deferred(trigger_op(on_running="cancel", deferrable=deferrable), task_context())
    assert record(dataops_connection_env, other)["status"] == "canceled"
    assert record(dataops_connection_env, ours)["status"] == "success"
    assert posts(dataops_connection_env) == ["pipeline", "cancel", "pipeline"]


def test_skip_skips_and_starts_nothing(dataops_connection_env: DataOpsEmulator) -> None:
    other = start_other(seconds=30)
    with pytest.raises(AirflowSkipException, match=f"Pipeline {other}"):
        trigger_op(on_running="skip").execute(task_context())
    assert [p["id"] for p in dataops_connection_env.pipelines()] == [other]


@pytest.mark.parametrize("policy", ["wait", "reuse", "cancel", "skip"])
def test_a_retry_reattaches_to_its_own_pipeline_whatever_the_policy(
    dataops_connection_env: DataOpsEmulator, policy: str
) -> None:
    """The first try started a pipeline and died; the retry finds it by its marker, not as "another"."""
    ours = trigger_op(wait_for_completion=False, on_running=policy).execute(task_context())
    assert trigger_op(on_running=policy).execute(task_context(try_number=2)) == ours
    assert [p["id"] for p in dataops_connection_env.pipelines()] == [ours]
    assert record(dataops_connection_env, ours)["status"] == "success"
