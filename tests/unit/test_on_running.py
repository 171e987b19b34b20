"""``on_running`` of the trigger operator against a mocked API: each policy, on the worker and deferred."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import requests_mock as rm
from airflow.providers.common.compat.sdk import AirflowSkipException, TaskDeferred

from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsError
from airflow_provider_dataops.operators.on_running import OnRunning
from airflow_provider_dataops.operators.other_pipelines import CANCEL_PATIENCE
from airflow_provider_dataops.operators.pipeline import MARKER_VARIABLE, DataOpsPipelineTimeoutError

from .test_pipeline_operator import (
    MARKER,
    PROJECT,
    make_context,
    needs_state_store,
    operator,
    pipeline,
    posted,
    reads,
    with_store,
)

OURS = 8  # the pipeline the task starts
OTHER = 5  # the pipeline someone else started on the same ref


def listed(requests_mock: rm.Mocker, *pages: list[dict[str, Any]]) -> None:
    """Successive answers of ``GET /pipelines`` (the last one repeats)."""
    requests_mock.get(f"{PROJECT}/pipelines", [{"json": page} for page in pages])


def variables(requests_mock: rm.Mocker, pid: int, **values: str) -> None:
    requests_mock.get(f"{PROJECT}/pipelines/{pid}/variables", json=[{"key": k, "value": v} for k, v in values.items()])


def starts_ours(requests_mock: rm.Mocker, *statuses: str) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(OURS, "created"), status_code=201)
    reads(requests_mock, OURS, *(statuses or ("success",)))


def cancels(requests_mock: rm.Mocker) -> list[str]:
    return [r.path for r in requests_mock.request_history if r.method == "POST" and r.path.endswith("/cancel")]


def lists(requests_mock: rm.Mocker) -> int:
    return sum(1 for r in requests_mock.request_history if r.method == "GET" and r.path.endswith("/pipelines"))


def another_runs(requests_mock: rm.Mocker, *statuses: str, **their_variables: str) -> None:
    """Pipeline OTHER is listed as running on the ref; reading it gives ``statuses`` in turn."""
    listed(requests_mock, [pipeline(OTHER, "running")], [pipeline(OTHER, statuses[-1] if statuses else "running")])
    variables(requests_mock, OTHER, **their_variables)
    reads(requests_mock, OTHER, *(statuses or ("running",)))


# -- arguments ----------------------------------------------------------------------------------


def test_a_bad_policy_fails_at_parse_time_naming_the_argument() -> None:
    with pytest.raises(DataOpsConfigError, match=r"on_running must be one of 'allow', 'wait'.*got 'queue'"):
        operator(on_running="queue")


def test_a_trigger_token_cannot_apply_a_policy_and_nothing_is_sent(conn_trigger_only, requests_mock) -> None:
    with pytest.raises(DataOpsConfigError, match="on_running='skip' needs to read pipelines"):
        operator(on_running="skip", wait_for_completion=False).execute(make_context())
    assert requests_mock.call_count == 0


def test_allow_is_the_default_and_costs_no_request(hook, requests_mock: rm.Mocker) -> None:
    starts_ours(requests_mock)
    op = operator()
    assert op.on_running is OnRunning.ALLOW
    assert op.execute(make_context()) == OURS
    assert lists(requests_mock) == 0


# -- what counts as another pipeline ------------------------------------------------------------


def test_pipelines_that_are_not_running_or_are_this_tasks_do_not_count(hook, requests_mock: rm.Mocker) -> None:
    earlier_clear = MARKER.replace("clear=0", "clear=3")
    listed(requests_mock, [pipeline(6, "running"), pipeline(4, "success"), pipeline(3, "manual")])
    variables(requests_mock, 6, **{MARKER_VARIABLE: earlier_clear})
    starts_ours(requests_mock)
    assert operator(on_running="skip").execute(make_context()) == OURS
    assert requests_mock.request_history[0].qs == {
        "ref": ["main"],
        "order_by": ["id"],
        "sort": ["desc"],
        "per_page": ["100"],
    }


def test_another_task_of_the_same_dag_run_counts(hook, requests_mock: rm.Mocker) -> None:
    another_runs(requests_mock, **{MARKER_VARIABLE: MARKER.replace("task=t ", "task=t2 ")})
    with pytest.raises(AirflowSkipException):
        operator(on_running="skip").execute(make_context())


@pytest.mark.parametrize(("their_file", "counts"), [("full-ci.yml", True), ("other-ci.yml", False), (None, True)])
def test_a_pipeline_of_another_file_does_not_count_unless_its_file_is_unknown(
    hook, requests_mock: rm.Mocker, their_file: str | None, counts: bool
) -> None:
    another_runs(requests_mock, **({"_PIPELINE_FILE_NAME": their_file} if their_file else {}))
    starts_ours(requests_mock)
    op = operator(on_running="skip", pipeline_file="full-ci.yml")
    if counts:
        with pytest.raises(AirflowSkipException):
            op.execute(make_context())
    else:
        assert op.execute(make_context()) == OURS


def test_manual_pipelines_count_only_when_the_task_would_wait_for_them(hook, requests_mock: rm.Mocker) -> None:
    listed(requests_mock, [pipeline(OTHER, "manual")])
    variables(requests_mock, OTHER)
    with pytest.raises(AirflowSkipException):
        operator(on_running="skip", manual_policy="wait").execute(make_context())


# -- skip -----------------------------------------------------------------------------------------


def test_skip_skips_without_starting_anything(hook, requests_mock: rm.Mocker) -> None:
    another_runs(requests_mock)
    with pytest.raises(AirflowSkipException, match=f"Pipeline {OTHER} \\(running\\) already running on 'main'"):
        operator(on_running="skip").execute(make_context())
    assert posted(requests_mock) == []
    assert cancels(requests_mock) == []


# -- wait -----------------------------------------------------------------------------------------


def test_wait_on_the_worker_starts_ours_once_the_other_finished(hook, requests_mock: rm.Mocker) -> None:
    another_runs(requests_mock, "running", "failed")
    starts_ours(requests_mock)
    context = make_context()
    assert operator(on_running="wait").execute(context) == OURS
    methods = [(r.method, r.path.rsplit("/", 1)[-1]) for r in requests_mock.request_history]
    assert methods.index(("GET", str(OTHER))) < methods.index(("POST", "pipeline"))
    assert len(posted(requests_mock)) == 1
    assert cancels(requests_mock) == []
    context["ti"].xcom_push.assert_any_call(key="pipeline_id", value=OURS)


def test_wait_deferred_waits_in_the_trigger_without_owning_the_other(hook, requests_mock: rm.Mocker) -> None:
    another_runs(requests_mock, "running")
    op = operator(on_running="wait", deferrable=True)
    context = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    assert deferred.value.method_name == "execute_after_waiting"
    kwargs = deferred.value.trigger.serialize()[1]
    assert (kwargs["pipeline_id"], kwargs["cancel_on_kill"]) == (OTHER, False)
    assert posted(requests_mock) == []
    # it finished: the task decides again, finds nothing running, starts ours and defers on it
    listed(requests_mock, [pipeline(OTHER, "success")])
    starts_ours(requests_mock, "running")
    with pytest.raises(TaskDeferred) as again:
        op.execute_after_waiting(context, {"status": "success", "pipeline_id": OTHER})
    assert again.value.method_name == "execute_complete"
    kwargs = again.value.trigger.serialize()[1]
    assert (kwargs["pipeline_id"], kwargs["cancel_on_kill"]) == (OURS, True)
    assert len(posted(requests_mock)) == 1


def test_wait_deferred_timeout_fails_and_leaves_the_other_alone(hook, requests_mock: rm.Mocker) -> None:
    event = {"status": "timeout", "pipeline_id": OTHER, "deadline_name": "timeout", "message": "did not finish"}
    with pytest.raises(DataOpsPipelineTimeoutError, match="did not finish"):
        operator(on_running="wait", deferrable=True, timeout=60).execute_after_waiting(make_context(), event)
    assert requests_mock.call_count == 0


def test_a_kill_while_waiting_for_the_other_does_not_cancel_it(hook, requests_mock: rm.Mocker, monkeypatch) -> None:
    another_runs(requests_mock, "running")
    op = operator(on_running="wait")
    from airflow_provider_dataops.api import retry

    monkeypatch.setattr(retry, "sleep", lambda seconds: op.on_kill())
    with pytest.raises(Exception, match=f"killed while waiting for pipeline {OTHER}; it is still running and keeps"):
        op.execute(make_context())
    assert cancels(requests_mock) == []
    assert posted(requests_mock) == []


# -- reuse ----------------------------------------------------------------------------------------


def test_reuse_reports_the_others_outcome_and_pushes_its_id(hook, requests_mock: rm.Mocker) -> None:
    another_runs(requests_mock, "running", "running", "success")
    context = make_context()
    assert operator(on_running="reuse").execute(context) == OTHER
    assert posted(requests_mock) == []
    context["ti"].xcom_push.assert_any_call(key="pipeline_id", value=OTHER)


def test_reuse_never_cancels_the_reused_pipeline_on_kill_or_timeout(hook, requests_mock: rm.Mocker) -> None:
    another_runs(requests_mock, "running")
    op = operator(on_running="reuse", timeout=1)
    with pytest.raises(DataOpsPipelineTimeoutError):
        op.execute(make_context())
    op.on_kill()
    assert cancels(requests_mock) == []


def test_reuse_deferred_tells_the_trigger_and_the_resume_not_to_cancel(hook, requests_mock: rm.Mocker) -> None:
    another_runs(requests_mock, "running")
    op = operator(on_running="reuse", deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context())
    assert deferred.value.trigger.serialize()[1]["cancel_on_kill"] is False
    assert deferred.value.kwargs == {"borrowed": True}
    event = {"status": "timeout", "pipeline_id": OTHER, "deadline_name": "timeout", "message": "late"}
    with pytest.raises(DataOpsPipelineTimeoutError):
        operator(on_running="reuse").execute_complete(make_context(), event, **deferred.value.kwargs)
    assert cancels(requests_mock) == []


def test_reuse_ignores_a_pipeline_being_canceled(hook, requests_mock: rm.Mocker) -> None:
    listed(requests_mock, [pipeline(OTHER, "canceling")])
    variables(requests_mock, OTHER)
    starts_ours(requests_mock)
    assert operator(on_running="reuse").execute(make_context()) == OURS


@needs_state_store
def test_reuse_is_recorded_so_a_retry_reattaches_without_deciding_again(hook, requests_mock: rm.Mocker) -> None:
    another_runs(requests_mock, "running", "running", "success")
    context = with_store(make_context())
    assert operator(on_running="reuse").execute(context) == OTHER
    stored = context["task_state_store"]["dataops_pipeline_id"]
    assert (stored["pipeline_id"], stored["reused"]) == (OTHER, True)
    # the retry finds the record first: no listing, no new pipeline, the same outcome
    listed_before = lists(requests_mock)
    retry = make_context(try_number=2)
    retry["task_state_store"] = context["task_state_store"]
    reads(requests_mock, OTHER, "running", "success")
    assert operator(on_running="reuse").execute(retry) == OTHER
    assert lists(requests_mock) == listed_before
    assert posted(requests_mock) == []


@needs_state_store
def test_a_clear_forgets_a_reused_pipeline_without_canceling_it(hook, requests_mock: rm.Mocker) -> None:
    listed(requests_mock, [])
    starts_ours(requests_mock)
    earlier = {"pipeline_id": OTHER, "marker": MARKER.replace("clear=0", "clear=1"), "reused": True}
    context = with_store(make_context(), dataops_pipeline_id=earlier)
    context["dag_run"].clear_number = 2
    assert operator(on_running="reuse").execute(context) == OURS
    assert cancels(requests_mock) == []


# -- cancel ---------------------------------------------------------------------------------------


def test_cancel_cancels_waits_until_stopped_then_starts_ours(hook, requests_mock: rm.Mocker) -> None:
    another_runs(requests_mock, "canceling", "canceling", "canceled")
    requests_mock.post(f"{PROJECT}/pipelines/{OTHER}/cancel", json=pipeline(OTHER, "canceling"))
    starts_ours(requests_mock)
    assert operator(on_running="cancel").execute(make_context()) == OURS
    posts = [r.path.rsplit("/", 1)[-1] for r in requests_mock.request_history if r.method == "POST"]
    assert posts == ["cancel", "pipeline"]


def test_cancel_gives_up_after_a_bounded_wait_without_starting(
    hook, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    another_runs(requests_mock, "canceling")
    requests_mock.post(f"{PROJECT}/pipelines/{OTHER}/cancel", json=pipeline(OTHER, "canceling"))
    with pytest.raises(DataOpsError, match=f"Pipeline {OTHER} \\(canceling\\) did not stop within 60s"):
        operator(on_running="cancel").execute(make_context())
    assert posted(requests_mock) == []
    assert sum(sleeps) <= CANCEL_PATIENCE


# -- retries come first ---------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["skip", "cancel", "reuse", "wait"])
def test_a_retry_reattaches_to_its_own_pipeline_before_any_policy(hook, requests_mock: rm.Mocker, policy: str) -> None:
    """Without a task state store (Airflow 2) the marker finds the earlier try's pipeline."""
    listed(requests_mock, [pipeline(OURS, "running")])
    variables(requests_mock, OURS, **{MARKER_VARIABLE: MARKER})
    reads(requests_mock, OURS, "running", "running", "success")
    assert operator(on_running=policy).execute(make_context(try_number=2)) == OURS
    assert posted(requests_mock) == []
    assert cancels(requests_mock) == []


def test_timeout_bounds_the_wait_for_another_pipeline_too(hook, requests_mock: rm.Mocker) -> None:
    another_runs(requests_mock, "running")
    op = operator(on_running="wait", timeout=datetime.timedelta(seconds=1))
    with pytest.raises(DataOpsPipelineTimeoutError, match=f"Pipeline {OTHER} did not finish"):
        op.execute(make_context())
    assert cancels(requests_mock) == []
    assert posted(requests_mock) == []


@pytest.mark.parametrize("event", [None, {"status": "bogus", "pipeline_id": OTHER}])
def test_the_resume_after_waiting_checks_its_event(hook, requests_mock: rm.Mocker, event: Any) -> None:
    with pytest.raises(DataOpsError, match="unexpected event"):
        operator(on_running="wait", deferrable=True).execute_after_waiting(make_context(), event)
    assert requests_mock.call_count == 0


def test_an_error_while_waiting_for_the_other_fails_the_task(hook, requests_mock: rm.Mocker) -> None:
    event = {"status": "error", "pipeline_id": OTHER, "message": "Cannot read pipeline 5: 403"}
    with pytest.raises(DataOpsError, match="Cannot read pipeline 5"):
        operator(on_running="wait", deferrable=True).execute_after_waiting(make_context(), event)
    assert posted(requests_mock) == []
