"""DataOpsPlayJobOperator and DataOpsPipelineScheduleOperator against a mocked API."""

from __future__ import annotations

import datetime
from typing import Any
from unittest import mock

import pytest
import requests_mock as rm
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

from airflow_provider_dataops.errors import DataOpsBadRequestError, DataOpsConfigError, DataOpsError
from airflow_provider_dataops.operators.jobs import DataOpsPlayJobOperator
from airflow_provider_dataops.operators.pipeline import DataOpsPipelineFailedError, DataOpsPipelineTimeoutError
from airflow_provider_dataops.operators.schedules import DataOpsPipelineScheduleOperator
from airflow_provider_dataops.triggers.pipeline import DataOpsPipelineTrigger

from .conftest import API

PROJECT = f"{API}/projects/demo%2Fp"
URL = "https://x/demo/p/-/pipelines/7"
BROKEN = {"status_code": 502, "text": "bad gateway"}


def context() -> dict[str, Any]:
    ti = mock.MagicMock()
    ti.start_date = datetime.datetime.now(datetime.timezone.utc)
    return {"ti": ti, "dag_run": mock.MagicMock()}


def pipeline(status: str) -> dict[str, Any]:
    return {"id": 7, "status": status, "web_url": URL}


def job(status: str, job_id: int = 71, name: str = "Deploy") -> dict[str, Any]:
    return {"id": job_id, "name": name, "status": status, "web_url": f"https://x/-/jobs/{job_id}"}


def play_operator(**kwargs: Any) -> DataOpsPlayJobOperator:
    defaults: dict[str, Any] = {"task_id": "deploy", "project": "demo/p", "pipeline_id": 7, "job_name": "Deploy"}
    return DataOpsPlayJobOperator(**{**defaults, "poll_interval": 5, **kwargs})


def jobs_are(requests_mock: rm.Mocker, *answers: list[dict[str, Any]]) -> None:
    requests_mock.get(f"{PROJECT}/pipelines/7/jobs", [{"json": answer} for answer in answers])


def pipeline_reads(requests_mock: rm.Mocker, *statuses: str) -> None:
    requests_mock.get(f"{PROJECT}/pipelines/7", [{"json": pipeline(s)} for s in statuses])


def plays(requests_mock: rm.Mocker) -> int:
    return sum(1 for r in requests_mock.request_history if r.method == "POST" and r.path.endswith("/play"))


# -- DataOpsPlayJobOperator ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"pipeline_id": 0}, "pipeline_id"),
        ({"pipeline_id": "seven"}, "pipeline_id"),
        ({"job_name": ""}, "job_name"),
        ({"job_name": None}, "job_name"),
        ({"project": "a/../b"}, "project"),
        ({"variables": {"A": [1]}}, r"variables\['A'\]"),
        ({"manual_policy": "approve"}, "manual_policy"),
        ({"poll_interval": -1}, "poll_interval"),
        ({"deferrable": "true"}, "deferrable"),
        ({"hook_params": {"verify": False}}, "hook_params"),
    ],
)
def test_play_operator_refuses_bad_arguments_at_parse_time(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(DataOpsConfigError, match=fragment):
        play_operator(**kwargs)


def test_templated_pipeline_id_is_checked_once_rendered_before_any_request(hook, requests_mock: rm.Mocker) -> None:
    op = play_operator(pipeline_id="{{ ti.xcom_pull('trigger', key='pipeline_id') }}")
    op.pipeline_id = "None"  # what rendering produced: the upstream task pushed nothing
    with pytest.raises(DataOpsConfigError, match="pipeline_id"):
        op.execute(context())
    assert requests_mock.call_count == 0


def test_plays_the_manual_job_and_waits_for_the_pipeline(hook, requests_mock: rm.Mocker, sleeps: list[float]) -> None:
    jobs_are(requests_mock, [job("manual"), job("success", 70, "Build")])
    requests_mock.post(f"{PROJECT}/jobs/71/play", json=job("pending"))
    pipeline_reads(requests_mock, "running", "running", "success")
    ctx = context()
    assert play_operator(variables={"TARGET": "prod"}).execute(ctx) == 71
    assert requests_mock.request_history[1].json() == {"job_variables_attributes": [{"key": "TARGET", "value": "prod"}]}
    ctx["ti"].xcom_push.assert_any_call(key="job_id", value=71)
    ctx["ti"].xcom_push.assert_any_call(key="pipeline_id", value=7)
    ctx["ti"].xcom_push.assert_any_call(key="pipeline_url", value=URL)
    assert sleeps == [5, 5]
    assert plays(requests_mock) == 1


@pytest.mark.parametrize("status", ["pending", "running", "success", "failed", "canceled"])
def test_a_job_already_played_is_never_played_again(
    hook, requests_mock: rm.Mocker, sleeps: list[float], status: str
) -> None:
    """A retry, a clear, or a person who played it first: the task attaches instead."""
    jobs_are(requests_mock, [job(status)])
    final = "failed" if status in ("failed", "canceled") else "success"
    pipeline_reads(requests_mock, final)
    requests_mock.get(f"{PROJECT}/jobs/71/trace", text="ERROR: Job failed: exit code 1\n")
    op = play_operator()
    if final == "success":
        assert op.execute(context()) == 71
    else:
        with pytest.raises(DataOpsPipelineFailedError, match="Pipeline 7 ended as failed"):
            op.execute(context())
    assert plays(requests_mock) == 0


def test_a_retried_try_after_a_crash_attaches_without_a_second_play(
    hook, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    jobs_are(requests_mock, [job("manual")], [job("running")])
    requests_mock.post(f"{PROJECT}/jobs/71/play", json=job("pending"))
    pipeline_reads(requests_mock, "running", "success")
    first = play_operator()
    crash = mock.patch.object(first, "_wait_until_done", side_effect=SystemExit("worker crashed"))
    with crash, pytest.raises(SystemExit):
        first.execute(context())
    assert play_operator().execute(context()) == 71  # the next try
    assert plays(requests_mock) == 1


def test_the_newest_job_of_that_name_counts(hook, requests_mock: rm.Mocker) -> None:
    jobs_are(requests_mock, [job("success", 75), job("manual", 71)])
    pipeline_reads(requests_mock, "success")
    assert play_operator().execute(context()) == 75
    assert plays(requests_mock) == 0


def test_a_lost_play_answer_is_checked_by_reading_the_job(hook, requests_mock: rm.Mocker, sleeps: list[float]) -> None:
    jobs_are(requests_mock, [job("manual")], [job("pending")])
    requests_mock.post(f"{PROJECT}/jobs/71/play", [BROKEN])
    pipeline_reads(requests_mock, "success")
    assert play_operator().execute(context()) == 71
    assert plays(requests_mock) == 1


def test_unplayable_means_someone_else_played_it(hook, requests_mock: rm.Mocker, sleeps: list[float]) -> None:
    jobs_are(requests_mock, [job("manual")], [job("running")])
    requests_mock.post(f"{PROJECT}/jobs/71/play", status_code=400, json={"message": "400 Bad request - Unplayable Job"})
    pipeline_reads(requests_mock, "success")
    assert play_operator().execute(context()) == 71
    assert plays(requests_mock) == 1


def test_another_bad_request_is_raised_at_once(hook, requests_mock: rm.Mocker, sleeps: list[float]) -> None:
    jobs_are(requests_mock, [job("manual")])
    requests_mock.post(
        f"{PROJECT}/jobs/71/play", status_code=400, json={"error": "job_variables_attributes is invalid"}
    )
    with pytest.raises(DataOpsBadRequestError, match="job_variables_attributes"):
        play_operator().execute(context())
    assert sleeps == []


def test_a_missing_job_fails_without_retries_naming_the_jobs(hook, requests_mock: rm.Mocker) -> None:
    jobs_are(requests_mock, [job("success", 70, "Build"), job("manual", 71, "Deploy")])
    with pytest.raises(AirflowFailException, match=r"no job named 'Deploy prod'; its jobs are: Build, Deploy"):
        play_operator(job_name="Deploy prod").execute(context())


def test_a_job_the_pipeline_has_not_reached_is_not_played(hook, requests_mock: rm.Mocker) -> None:
    jobs_are(requests_mock, [job("created")])
    with pytest.raises(DataOpsError, match="has not reached it yet"):
        play_operator().execute(context())
    assert plays(requests_mock) == 0


def test_a_pipeline_still_reading_manual_after_the_play_is_read_again(
    hook, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    """GitLab updates the pipeline status in the background: a stale 'manual' is not the outcome."""
    jobs_are(requests_mock, [job("manual")], [job("pending")])
    requests_mock.post(f"{PROJECT}/jobs/71/play", json=job("pending"))
    pipeline_reads(requests_mock, "manual", "manual", "running", "success")
    assert play_operator().execute(context()) == 71


def test_a_later_manual_gate_is_judged_by_manual_policy(hook, requests_mock: rm.Mocker, sleeps: list[float]) -> None:
    jobs_are(requests_mock, [job("success")])
    pipeline_reads(requests_mock, "manual")
    requests_mock.get(f"{PROJECT}/jobs/71/trace", text="Job succeeded\n")
    with pytest.raises(DataOpsPipelineFailedError, match="ended as manual"):
        play_operator().execute(context())
    requests_mock.get(f"{PROJECT}/pipelines/7", json=pipeline("manual"))
    assert play_operator(manual_policy="succeed").execute(context()) == 71


def test_without_waiting_it_returns_after_the_play(hook, requests_mock: rm.Mocker, sleeps: list[float]) -> None:
    jobs_are(requests_mock, [job("manual")])
    requests_mock.post(f"{PROJECT}/jobs/71/play", json=job("pending"))
    pipeline_reads(requests_mock, "running")
    assert play_operator(wait_for_completion=False).execute(context()) == 71
    assert sleeps == []


def test_timeout_cancels_the_pipeline(hook, requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = {"now": 1000.0}
    monkeypatch.setattr("airflow_provider_dataops.follow.worker_wait.time.time", lambda: clock["now"])
    monkeypatch.setattr("airflow_provider_dataops.api.retry.sleep", lambda s: clock.update(now=clock["now"] + s))
    jobs_are(requests_mock, [job("manual")])
    requests_mock.post(f"{PROJECT}/jobs/71/play", json=job("pending"))
    requests_mock.get(f"{PROJECT}/pipelines/7", json=pipeline("running"))
    requests_mock.post(f"{PROJECT}/pipelines/7/cancel", json=pipeline("canceling"))
    with pytest.raises(DataOpsPipelineTimeoutError):
        play_operator(timeout=12).execute(context())
    assert sum(1 for r in requests_mock.request_history if r.path.endswith("/cancel")) == 1


def test_deferrable_defers_to_the_pipeline_trigger_and_resumes_with_the_job_id(hook, requests_mock: rm.Mocker) -> None:
    jobs_are(requests_mock, [job("manual")])
    requests_mock.post(f"{PROJECT}/jobs/71/play", json=job("pending"))
    pipeline_reads(requests_mock, "running")
    op = play_operator(deferrable=True, manual_policy="succeed")
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context())
    assert isinstance(deferred.value.trigger, DataOpsPipelineTrigger)
    kwargs = deferred.value.trigger.serialize()[1]
    assert (kwargs["pipeline_id"], kwargs["manual_policy"]) == (7, "succeed")
    assert deferred.value.kwargs == {"job_id": 71}
    requests_mock.get(f"{PROJECT}/pipelines/7", json=pipeline("success"))
    event = {"status": "success", "pipeline_id": 7, "web_url": URL, "pipeline_status": "success"}
    assert op.execute_complete(context(), event, **deferred.value.kwargs) == 71


def test_on_kill_cancels_the_pipeline_once_it_is_known(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/pipelines/7/cancel", json=pipeline("canceling"))
    requests_mock.get(f"{PROJECT}/pipelines/7", json=pipeline("canceling"))
    op = play_operator()
    op.on_kill()
    assert requests_mock.call_count == 0  # nothing played yet, nothing to cancel
    op._pipeline_id = 7
    op.on_kill()
    assert requests_mock.request_history[0].path.endswith("/pipelines/7/cancel")


# -- DataOpsPipelineScheduleOperator ------------------------------------------------------------

SCHEDULE = f"{PROJECT}/pipeline_schedules/4"


def schedule_operator(**kwargs: Any) -> DataOpsPipelineScheduleOperator:
    defaults: dict[str, Any] = {"task_id": "schedule", "project": "demo/p", "schedule_id": 4}
    return DataOpsPipelineScheduleOperator(**{**defaults, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"action": "stop"}, "action must be one of play, pause, resume"), ({"schedule_id": -1}, "schedule_id")],
)
def test_schedule_operator_refuses_bad_arguments(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(DataOpsConfigError, match=fragment):
        schedule_operator(**kwargs)


def test_play_runs_the_schedule_now(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{SCHEDULE}/play", json={"message": "201 Created"}, status_code=201)
    assert schedule_operator().execute(context()) == 4
    assert requests_mock.call_count == 1


def test_a_lost_play_answer_fails_without_retries(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{SCHEDULE}/play", [BROKEN])
    with pytest.raises(AirflowFailException, match="not retried"):
        schedule_operator().execute(context())
    assert requests_mock.call_count == 1


@pytest.mark.parametrize(("action", "active"), [("pause", False), ("resume", True)])
def test_pause_and_resume_set_active(hook, requests_mock: rm.Mocker, action: str, active: bool) -> None:
    requests_mock.get(SCHEDULE, json={"id": 4, "description": "Nightly", "active": not active})
    requests_mock.put(SCHEDULE, json={"id": 4, "active": active})
    schedule_operator(action=action).execute(context())
    assert requests_mock.last_request.json() == {"active": active}


@pytest.mark.parametrize(("action", "active"), [("pause", False), ("resume", True)])
def test_pause_and_resume_are_idempotent(hook, requests_mock: rm.Mocker, action: str, active: bool) -> None:
    requests_mock.get(SCHEDULE, json={"id": 4, "description": "Nightly", "active": active})
    schedule_operator(action=action).execute(context())
    assert [r.method for r in requests_mock.request_history] == ["GET"]
