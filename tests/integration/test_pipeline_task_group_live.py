"""The pipeline task group against the emulator: job tasks on the worker and deferred, and a repair by clearing."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowSkipException, TaskDeferred

from airflow_provider_dataops.emulator import DataOpsEmulator
from airflow_provider_dataops.errors import DataOpsJobNotFoundError
from airflow_provider_dataops.follow.job_watch import SharedJobReads
from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator
from airflow_provider_dataops.operators.pipeline_job import (
    DataOpsJobFailedError,
    DataOpsJobTimeoutError,
    DataOpsPipelineJobOperator,
)

from .conftest import task_context

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sleeps_fast")]

PROJECT = "demo/dataops-project"
JOBS = ["Initialise Pipeline", "Ingest Source Data", "Build all Models", "Generate Docs"]
BUILD = "Build all Models"


def context(*, clear: int, try_number: int = 1) -> dict[str, Any]:
    made = task_context(try_number=try_number)
    made["dag_run"].clear_number = clear
    return made


def start(fail_job: str | None = None, seconds: float | None = None) -> int:
    """The group's start task: a marked pipeline, started in clear 0."""
    variables: dict[str, Any] = {"DATAOPS_EMULATOR_FAIL_JOB": fail_job} if fail_job else {}
    if seconds is not None:
        variables["DATAOPS_EMULATOR_SECONDS"] = seconds
    op = DataOpsTriggerPipelineOperator(
        task_id="start", project=PROJECT, ref="main", variables=variables, wait_for_completion=False
    )
    return op.execute(context(clear=0))


def job_op(pipeline_id: int, name: str, **kwargs: Any) -> DataOpsPipelineJobOperator:
    return DataOpsPipelineJobOperator(
        task_id=name.lower().replace(" ", "_"),
        project=PROJECT,
        pipeline_id=pipeline_id,
        job_name=name,
        poll_interval=0.2,
        **kwargs,
    )


def requests_to(emulator: DataOpsEmulator, method: str, suffix: str) -> int:
    return sum(1 for r in emulator.requests() if r["method"] == method and r["path"].endswith(suffix))


def test_job_tasks_on_the_worker_end_as_their_jobs(dataops_connection_env: DataOpsEmulator) -> None:
    pipeline_id = start()
    ids = [job_op(pipeline_id, name).execute(context(clear=0)) for name in JOBS]
    jobs = {job["name"]: job for job in DataOpsHook().list_pipeline_jobs(PROJECT, pipeline_id)}
    assert ids == [jobs[name]["id"] for name in JOBS]
    assert [p["status"] for p in dataops_connection_env.pipelines()] == ["success"]


def test_a_failed_job_fails_its_task_with_reason_and_log_and_the_later_job_is_skipped(
    dataops_connection_env: DataOpsEmulator, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    pipeline_id = start(fail_job=BUILD)
    with pytest.raises(DataOpsJobFailedError, match=r"Build all Models.*failed \(script_failure\).*Clear this task"):
        job_op(pipeline_id, BUILD).execute(context(clear=0))
    out, err = capfd.readouterr()
    log = caplog.text + out + err  # Airflow 3 logs through structlog to stdout
    assert "ERROR: Job failed: exit code 1" in log
    assert "SQL compilation error" in log
    with pytest.raises(AirflowSkipException, match="is skipped"):
        job_op(pipeline_id, "Generate Docs").execute(context(clear=0))
    assert requests_to(dataops_connection_env, "POST", "/retry") == 0


def test_clearing_the_failed_job_task_retries_the_job_in_the_same_pipeline(
    dataops_connection_env: DataOpsEmulator,
) -> None:
    pipeline_id = start(fail_job=BUILD)
    with pytest.raises(DataOpsJobFailedError):
        job_op(pipeline_id, BUILD).execute(context(clear=0))
    failed_id = next(j["id"] for j in DataOpsHook().list_pipeline_jobs(PROJECT, pipeline_id) if j["name"] == BUILD)
    # The user clears the failed task with its downstream: the DAG run's clear number goes up.
    new_id = job_op(pipeline_id, BUILD).execute(context(clear=1, try_number=2))
    assert new_id != failed_id
    docs = job_op(pipeline_id, "Generate Docs").execute(context(clear=1, try_number=2))
    assert docs > 0
    assert [p["status"] for p in dataops_connection_env.pipelines()] == ["success"]
    assert requests_to(dataops_connection_env, "POST", f"/jobs/{failed_id}/retry") == 1
    # A job that succeeded is followed, not retried, however often the task is cleared.
    assert job_op(pipeline_id, BUILD).execute(context(clear=2, try_number=3)) == new_id
    assert requests_to(dataops_connection_env, "POST", "/retry") == 1


def test_a_timeout_cancels_the_job_and_a_clear_retries_it(dataops_connection_env: DataOpsEmulator) -> None:
    pipeline_id = start(seconds=60)
    with pytest.raises(DataOpsJobTimeoutError, match=r"did not finish before the timeout\. Clear the task"):
        job_op(pipeline_id, "Initialise Pipeline", timeout=0.5).execute(context(clear=0))
    [canceled] = [
        j for j in DataOpsHook().list_pipeline_jobs(PROJECT, pipeline_id) if j["name"] == "Initialise Pipeline"
    ]
    assert canceled["status"] in ("canceling", "canceled")
    assert requests_to(dataops_connection_env, "POST", f"/jobs/{canceled['id']}/cancel") == 1
    # Cleared at once: the new try waits for the cancel to land, then retries the job.
    rerun = job_op(pipeline_id, "Initialise Pipeline", timeout=0.5)
    with pytest.raises(DataOpsJobTimeoutError):
        rerun.execute(context(clear=1, try_number=2))
    assert requests_to(dataops_connection_env, "POST", f"/jobs/{canceled['id']}/retry") == 1
    assert len(dataops_connection_env.pipelines()) == 1


def test_a_missing_job_names_the_jobs_the_pipeline_has(dataops_connection_env: DataOpsEmulator) -> None:
    pipeline_id = start()
    with pytest.raises(DataOpsJobNotFoundError, match=r"no job named 'Deploy'; its jobs are: Build all Models, "):
        job_op(pipeline_id, "Deploy").execute(context(clear=0))


async def test_deferred_job_tasks_end_as_their_jobs(
    dataops_connection_env: DataOpsEmulator,
) -> None:
    pipeline_id = start(fail_job=BUILD)
    ops = {name: job_op(pipeline_id, name, deferrable=True) for name in JOBS}
    deferred = {}
    for name, op in ops.items():
        with pytest.raises(TaskDeferred) as raised:
            op.execute(context(clear=0))
        deferred[name] = raised.value
    import asyncio

    async def first_event(trigger: Any) -> dict[str, Any]:
        events = [event.payload async for event in trigger.run()]
        assert len(events) == 1
        return events[0]

    events = await asyncio.gather(*(first_event(d.trigger) for d in deferred.values()))
    by_name = dict(zip(deferred, events, strict=True))
    assert {name: event["status"] for name, event in by_name.items()} == {
        "Initialise Pipeline": "success",
        "Ingest Source Data": "success",
        BUILD: "failed",
        "Generate Docs": "skipped",
    }
    with pytest.raises(DataOpsJobFailedError, match="script_failure"):
        ops[BUILD].execute_complete(context(clear=0), by_name[BUILD])
    assert ops["Initialise Pipeline"].execute_complete(context(clear=0), by_name["Initialise Pipeline"]) > 0
    assert SharedJobReads.requests_for(deferred[BUILD].trigger.reads_key()) == 0  # dropped with its readers


def test_a_manual_job_is_played_when_asked(dataops_connection_env: DataOpsEmulator) -> None:
    op = DataOpsTriggerPipelineOperator(
        task_id="start",
        project=PROJECT,
        ref="main",
        variables={"DATAOPS_EMULATOR_OUTCOME": "manual"},
        wait_for_completion=False,
    )
    pipeline_id = op.execute(context(clear=0))
    job_id = job_op(pipeline_id, "Generate Docs", manual_job="play").execute(context(clear=0))
    assert requests_to(dataops_connection_env, "POST", f"/jobs/{job_id}/play") == 1
    assert [p["status"] for p in dataops_connection_env.pipelines()] == ["success"]


@pytest.mark.parametrize("source", ["lint", "newest_pipeline"])
def test_without_jobs_the_group_reads_the_graph_from_the_emulator(
    dataops_connection_env: DataOpsEmulator, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    from datetime import datetime

    from airflow.providers.common.compat.sdk import DAG

    from airflow_provider_dataops.operators.task_group import DataOpsPipelineTaskGroup

    monkeypatch.setenv("AIRFLOW__DATAOPS__JOB_GRAPH_CACHE_DIR", str(tmp_path))
    if source == "newest_pipeline":
        start()
    with DAG("graph", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        DataOpsPipelineTaskGroup(
            group_id="g", project=PROJECT, ref="main", pipeline_file="full-ci.yml", job_graph_source=source
        )
    assert [dag.get_task(f"g.{task}").upstream_task_ids for task in ("build_all_models", "initialise_pipeline")] == [
        {"g.ingest_source_data"},
        {"g.start"},
    ]
    assert sorted(dag.task_ids) == sorted(
        ["g.start", "g.initialise_pipeline", "g.ingest_source_data", "g.build_all_models", "g.generate_docs"]
    )
    lints = requests_to(dataops_connection_env, "POST", "/ci/lint")
    assert lints == (1 if source == "lint" else 0)


def test_clearing_the_start_task_starts_a_new_pipeline_that_the_job_tasks_follow(
    dataops_connection_env: DataOpsEmulator,
) -> None:
    first = start(fail_job=BUILD)
    with pytest.raises(DataOpsJobFailedError):
        job_op(first, BUILD).execute(context(clear=0))
    # The start task cleared (with downstream): clear 1 starts a pipeline marked clear=1 ...
    op = DataOpsTriggerPipelineOperator(
        task_id="start",
        project=PROJECT,
        ref="main",
        variables={"DATAOPS_EMULATOR_FAIL_JOB": BUILD},
        wait_for_completion=False,
    )
    second = op.execute(context(clear=1, try_number=2))
    assert second != first
    # ... so a job failing in it fails its task, as on a first run: nothing is retried.
    with pytest.raises(DataOpsJobFailedError):
        job_op(second, BUILD).execute(context(clear=1, try_number=2))
    assert requests_to(dataops_connection_env, "POST", "/retry") == 0
    assert [p["status"] for p in dataops_connection_env.pipelines()] == ["failed", "failed"]
