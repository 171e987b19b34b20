"""Streaming job logs against the emulator: order, uniqueness, cleaning, bounds and secrets, worker and deferred."""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_dataops.api.redaction import redact
from airflow_provider_dataops.emulator import DataOpsEmulator
from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.operators.jobs import DataOpsPlayJobOperator
from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator
from airflow_provider_dataops.sensors.pipeline import DataOpsPipelineSensor

from .conftest import task_context
from .test_operators_live import trigger_op as base_trigger_op

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sleeps_fast", "task_log")]

PROJECT = "demo/dataops-project"
PASSWORD = "hunter2-masked-value"
#: A two-level pipeline in runner style that echoes a masked variable and the connection's token.
VARIABLES = {
    "DATAOPS_EMULATOR_LOG_STYLE": "runner",
    "DATAOPS_EMULATOR_CHILD_OUTCOME": "success",
    "DATAOPS_EMULATOR_SECONDS": "4",
    "DB_PASSWORD": PASSWORD,
}
_PREFIX = re.compile(r"^\[(?:pipeline (\d+): )?([^\]]+)\] ")


@pytest.fixture
def task_log(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The task's and the trigger's log as standard logging records (Airflow 3 logs through structlog)."""
    from airflow_provider_dataops.triggers.pipeline import DataOpsPipelineTrigger

    logger = logging.getLogger("test.task_log")
    for cls in (DataOpsTriggerPipelineOperator, DataOpsPipelineSensor, DataOpsPipelineTrigger, DataOpsPlayJobOperator):
        monkeypatch.setattr(cls, "log", property(lambda self: logger))
    caplog.set_level(logging.INFO, logger="test.task_log")


def trigger_op(emulator: DataOpsEmulator, **kwargs: Any) -> DataOpsTriggerPipelineOperator:
    variables = {**VARIABLES, "ECHOED_TOKEN": emulator.access_token}  # a server echoing the token
    return base_trigger_op(**{"stream_job_logs": True, "variables": variables, **kwargs})


def streamed(records: list[logging.LogRecord]) -> dict[tuple[str | None, str], list[str]]:
    """The streamed lines by (child pipeline id, job name), in the order they were logged."""
    by_job: dict[tuple[str | None, str], list[str]] = defaultdict(list)
    for record in records:
        message = record.getMessage()
        match = _PREFIX.match(message)
        if match:
            by_job[(match.group(1), match.group(2))].append(message[match.end() :])
    return by_job


def expected(hook: DataOpsHook, pipeline_id: int, secrets: list[str]) -> dict[tuple[str | None, str], list[str]]:
    """Every job's whole log, cleaned and redacted, read after the pipeline ended."""
    lines: dict[tuple[str | None, str], list[str]] = {}
    pipelines: list[tuple[int, str | None]] = [(pipeline_id, None)]
    while pipelines:
        current, label = pipelines.pop()
        for job in hook.list_pipeline_jobs(PROJECT, current):
            log = hook.get_job_log(PROJECT, job["id"], tail_lines=None)
            lines[(label, job["name"])] = [redact(line, secrets) for line in log.splitlines()]
        for bridge in hook.list_pipeline_bridges(PROJECT, current):
            child = bridge["downstream_pipeline"]
            pipelines.append((child["id"], str(child["id"])))
    return lines


def check_stream(by_job: dict[tuple[str | None, str], list[str]], emulator: DataOpsEmulator, pipeline_id: int) -> None:
    hook = DataOpsHook()
    whole = expected(hook, pipeline_id, [PASSWORD, emulator.access_token])
    assert set(by_job) == set(whole)
    assert any(label is not None for label, _ in by_job)  # the child pipeline's jobs, too
    for job, lines in by_job.items():
        assert lines == whole[job], job  # each line once, in order, none missing
    text = "\n".join(line for lines in by_job.values() for line in lines)
    assert "\x1b" not in text
    assert "\r" not in text
    assert "section_" not in text
    assert '== Executing "step_script" stage of the job script ==' in text
    assert "Pulling image 100%" in text
    assert "Pulling image 0%" not in text
    assert PASSWORD not in text
    assert emulator.access_token not in text
    assert "DB_PASSWORD=***" in text
    assert "ECHOED_TOKEN=***" in text


def test_worker_wait_streams_a_two_level_pipeline(dataops_connection_env: DataOpsEmulator, caplog) -> None:
    pipeline_id = trigger_op(dataops_connection_env).execute(task_context())
    check_stream(streamed(caplog.records), dataops_connection_env, pipeline_id)
    traces = [row for row in dataops_connection_env.requests() if row["path"].endswith("/trace")]
    assert traces  # read incrementally: a job is read while it runs and once after it finished


@pytest.mark.parametrize("deferrable", [False, True])
async def test_the_bound_stops_a_job_with_its_url(
    dataops_connection_env: DataOpsEmulator, caplog, deferrable: bool
) -> None:
    op = trigger_op(dataops_connection_env, max_job_log_bytes=300, deferrable=deferrable)
    if deferrable:
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(task_context())
        [event.payload async for event in deferred.value.trigger.run()]
    else:
        op.execute(task_context())
    by_job = streamed(caplog.records)
    assert len(by_job) == 8  # four jobs of the parent (its bridge has no log), four of the child
    for (label, name), lines in by_job.items():
        prefix = f"[pipeline {label}: {name}] " if label else f"[{name}] "
        logged = sum(len((prefix + line).encode()) + 1 for line in lines[:-1])
        assert logged <= 300
        assert re.match(r"Log limit of 300 bytes reached; the rest is at http://\S+/-/jobs/\d+$", lines[-1])


async def test_deferred_wait_streams_from_the_trigger(dataops_connection_env: DataOpsEmulator, caplog) -> None:
    op = trigger_op(dataops_connection_env, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(task_context())
    trigger = deferred.value.trigger
    assert trigger.serialize()[1]["job_logs"]["max_job_log_bytes"] == 1 << 20
    assert dataops_connection_env.access_token not in repr(trigger.serialize())
    events = [event.payload async for event in trigger.run()]
    assert events[0]["status"] == "success"
    assert events[0]["job_logs"]["jobs"]  # the offsets come back to the task
    check_stream(streamed(caplog.records), dataops_connection_env, int(events[0]["pipeline_id"]))


async def test_a_restarted_trigger_repeats_only_what_came_after_the_deferral(
    dataops_connection_env: DataOpsEmulator, caplog
) -> None:
    """A triggerer restart starts again from the deferral's offsets: the documented, counted repeat."""
    op = trigger_op(dataops_connection_env, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(task_context())
    kwargs = deferred.value.trigger.serialize()[1]
    first = [event.payload async for event in deferred.value.trigger.run()]
    once = sum(len(lines) for lines in streamed(caplog.records).values())
    caplog.clear()
    again = type(deferred.value.trigger)(**kwargs)  # what a new triggerer builds from the same row
    [event.payload async for event in again.run()]
    repeated = sum(len(lines) for lines in streamed(caplog.records).values())
    assert first[0]["status"] == "success"
    assert repeated == once  # deferred before any job ran: everything since the deferral, once more


def test_sensor_pokes_continue_from_the_task_state_store(dataops_connection_env: DataOpsEmulator, caplog) -> None:
    hook = DataOpsHook()
    pipeline = hook.trigger_pipeline(PROJECT, "main", variables={**VARIABLES, "DATAOPS_EMULATOR_SECONDS": "3"})

    class Store(dict):
        def set(self, key: str, value: Any) -> None:
            self[key] = value

    store = Store()
    context = {**task_context(), "task_state_store": store}
    done = False
    while not done:
        sensor = DataOpsPipelineSensor(  # a new instance per poke, as a rescheduled poke is
            task_id="s", project=PROJECT, pipeline_id=pipeline["id"], stream_job_logs=True, mode="reschedule"
        )
        done = sensor.poke(context)
        time.sleep(0.2)
    whole = expected(hook, pipeline["id"], [PASSWORD])
    assert streamed(caplog.records) == whole  # every line once, in order, across separate pokes
    assert store["dataops_job_logs"]["pipeline_id"] == pipeline["id"]


def test_reschedule_without_a_task_state_store_is_refused(dataops_connection_env: DataOpsEmulator) -> None:
    hook = DataOpsHook()
    pipeline = hook.trigger_pipeline(PROJECT, "main", variables={"DATAOPS_EMULATOR_SECONDS": "3"})
    sensor = DataOpsPipelineSensor(
        task_id="s", project=PROJECT, pipeline_id=pipeline["id"], stream_job_logs=True, mode="reschedule"
    )
    with pytest.raises(Exception, match="task state store"):
        sensor.poke(task_context())


def test_a_failed_child_is_in_the_failure_report_and_the_links(dataops_connection_env: DataOpsEmulator, caplog) -> None:
    from airflow_provider_dataops.errors import DataOpsPipelineFailedError

    context = task_context()
    op = trigger_op(
        dataops_connection_env,
        stream_job_logs=False,
        variables={"DATAOPS_EMULATOR_CHILD_OUTCOME": "success,failed", "DATAOPS_EMULATOR_SECONDS": "4"},
    )
    with pytest.raises(DataOpsPipelineFailedError):
        op.execute(context)
    report = "\n".join(record.getMessage() for record in caplog.records)
    child, grandchild = re.findall(r"Downstream pipeline (\d+) ended as failed: (\S+)", report)
    assert child[1].endswith(f"/-/pipelines/{child[0]}")
    assert "ERROR: Job failed: exit code 1" in report  # the grandchild's failed job, with its log tail
    pushed = {call.kwargs["key"]: call.kwargs["value"] for call in context["ti"].xcom_push.call_args_list}
    assert pushed["downstream_pipeline_1_url"] == child[1]
    assert pushed["downstream_pipeline_2_url"] == grandchild[1]


def test_the_play_job_operator_streams_the_played_job_only(dataops_connection_env: DataOpsEmulator, caplog) -> None:
    """The jobs that finished before the task began following are on their pages, not in this log."""
    from .test_play_job_live import gated_pipeline, play_op

    pipeline_id = gated_pipeline(dataops_connection_env)
    play_op(pipeline_id, stream_job_logs=True).execute(task_context())
    by_job = streamed(caplog.records)
    assert list(by_job) == [(None, "Deploy to Production")]
    whole = expected(DataOpsHook(), pipeline_id, [])
    assert by_job[(None, "Deploy to Production")] == whole[(None, "Deploy to Production")]
