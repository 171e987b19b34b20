"""DataOpsTriggerPipelineOperator against a mocked API: waiting, failing, deferring, reconciling."""

from __future__ import annotations

import datetime
import logging
from typing import Any
from unittest import mock
from urllib.parse import parse_qs

import pytest
import requests
import requests_mock as rm
from airflow.providers.common.compat.sdk import AirflowFailException, AirflowTaskTimeout, TaskDeferred

from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsError
from airflow_provider_dataops.operators.pipeline import (
    MARKER_VARIABLE,
    DataOpsPipelineFailedError,
    DataOpsPipelineTimeoutError,
    DataOpsTriggerPipelineOperator,
)
from airflow_provider_dataops.triggers.pipeline import DataOpsPipelineTrigger

from .conftest import API

PROJECT = f"{API}/projects/demo%2Fp"
MARKER = "dag=d run=r1 task=t map=-1 clear=0"


def pipeline(pid: int = 7, status: str = "running") -> dict[str, Any]:
    return {"id": pid, "status": status, "ref": "main", "web_url": f"https://x/demo/p/-/pipelines/{pid}"}


def make_context(try_number: int = 1) -> dict[str, Any]:
    ti = mock.MagicMock()
    ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number = "d", "r1", "t", -1, try_number
    ti.start_date = datetime.datetime.now(datetime.timezone.utc)
    ti.stats_tags = {}
    dag_run = mock.MagicMock(start_date=datetime.datetime(2026, 11, 28, 8, 0, tzinfo=datetime.timezone.utc))
    return {"ti": ti, "dag_run": dag_run}


def task_log(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> str:
    """What the task logged: stdlib logging on Airflow 2, structlog's console output on Airflow 3."""
    out, err = capfd.readouterr()
    return caplog.text + out + err


def operator(**kwargs: Any) -> DataOpsTriggerPipelineOperator:
    defaults: dict[str, Any] = {"task_id": "t", "project": "demo/p", "ref": "main", "poll_interval": 5}
    return DataOpsTriggerPipelineOperator(**{**defaults, **kwargs})


def reads(requests_mock: rm.Mocker, pid: int, *statuses: str) -> None:
    requests_mock.get(f"{PROJECT}/pipelines/{pid}", [{"json": pipeline(pid, s)} for s in statuses])


def posted(requests_mock: rm.Mocker) -> list[Any]:
    return [r for r in requests_mock.request_history if r.method == "POST" and r.path.endswith("/pipeline")]


# -- arguments ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"project": "../admin"}, "project"),
        ({"ref": ""}, "ref"),
        ({"pipeline_file": "full.yml"}, "pipeline_file"),
        ({"variables": {"A": [1]}}, r"variables\['A'\]"),
        ({"variables": {MARKER_VARIABLE: "x"}}, MARKER_VARIABLE),
        ({"poll_interval": 0}, "poll_interval"),
        ({"timeout": "soon"}, "timeout"),
        ({"manual_policy": "ignore"}, "manual_policy"),
        ({"wait_for_completion": "yes"}, "wait_for_completion"),
        ({"failure_log_lines": -1}, "failure_log_lines"),
    ],
)
def test_bad_arguments_fail_at_parse_time(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(DataOpsConfigError, match=fragment):
        operator(**kwargs)


def test_templated_arguments_are_checked_once_rendered(hook, requests_mock: rm.Mocker) -> None:
    op = operator(pipeline_file="{{ params.file }}", variables={"A": "{{ ds }}"})
    op.pipeline_file = "wrong.yml"  # what rendering produced
    with pytest.raises(DataOpsConfigError, match="pipeline_file"):
        op.execute(make_context())
    assert requests_mock.call_count == 0


# -- waiting on the worker ----------------------------------------------------------------------


def test_triggers_publishes_then_waits_to_success(hook, requests_mock: rm.Mocker, sleeps: list[float]) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    reads(requests_mock, 7, "created", "running", "success")
    context = make_context()
    op = operator(variables={"LOAD": 1}, pipeline_file="full-ci.yml")
    assert op.execute(context) == 7
    body = requests_mock.request_history[0].json()
    assert {"key": MARKER_VARIABLE, "value": MARKER, "variable_type": "env_var"} in body["variables"]
    assert {"key": "_PIPELINE_FILE_NAME", "value": "full-ci.yml", "variable_type": "env_var"} in body["variables"]
    context["ti"].xcom_push.assert_any_call(key="pipeline_id", value=7)
    context["ti"].xcom_push.assert_any_call(key="pipeline_url", value="https://x/demo/p/-/pipelines/7")
    assert sleeps == [5, 5]
    assert len(posted(requests_mock)) == 1


def test_xcom_is_pushed_before_waiting(hook, requests_mock: rm.Mocker, sleeps: list[float]) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    reads(requests_mock, 7, "running", "success")
    context = make_context()
    pushed_before_second_read: list[bool] = []

    def watch(seconds: float) -> None:
        pushed_before_second_read.append(context["ti"].xcom_push.called)

    with mock.patch("airflow_provider_dataops.api.retry.sleep", watch):
        operator().execute(context)
    assert pushed_before_second_read == [True]


def test_failure_fails_with_url_and_logs_each_failed_job(
    hook, requests_mock: rm.Mocker, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    reads(requests_mock, 7, "failed")
    requests_mock.get(
        f"{PROJECT}/pipelines/7/jobs",
        json=[
            {
                "id": 70,
                "name": "transform",
                "stage": "Data Transformation",
                "status": "failed",
                "failure_reason": "script_failure",
                "web_url": "https://x/-/jobs/70",
            }
        ],
    )
    requests_mock.get(f"{PROJECT}/jobs/70/trace", text="step 1\nstep 2\nERROR: model orders failed\n")
    caplog.set_level(logging.INFO)
    with pytest.raises(DataOpsPipelineFailedError, match=r"Pipeline 7 ended as failed: https://x/demo/p/-/pipelines/7"):
        operator().execute(make_context())
    logged = task_log(caplog, capfd)
    assert "transform (stage Data Transformation): script_failure https://x/-/jobs/70" in logged
    assert "| ERROR: model orders failed" in logged
    job_lists = [r for r in requests_mock.request_history if r.path.endswith("/jobs")]
    assert [parse_qs(r.query)["scope[]"] for r in job_lists] == [["failed"]]


@pytest.mark.parametrize(("policy", "succeeds"), [("fail", False), ("succeed", True)])
def test_manual_policy(hook, requests_mock: rm.Mocker, policy: str, succeeds: bool) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    reads(requests_mock, 7, "manual")
    requests_mock.get(f"{PROJECT}/pipelines/7/jobs", json=[])
    op = operator(manual_policy=policy)
    if succeeds:
        assert op.execute(make_context()) == 7
    else:
        with pytest.raises(DataOpsPipelineFailedError, match="ended as manual"):
            op.execute(make_context())


def test_timeout_cancels_the_pipeline(hook, requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    reads(requests_mock, 7, "running")
    requests_mock.post(f"{PROJECT}/pipelines/7/cancel", json=pipeline(7, "canceling"))
    clock = {"now": 1000.0}
    monkeypatch.setattr("airflow_provider_dataops.follow.worker_wait.time.time", lambda: clock["now"])
    monkeypatch.setattr("airflow_provider_dataops.api.retry.sleep", lambda s: clock.update(now=clock["now"] + s))
    with pytest.raises(DataOpsPipelineTimeoutError, match="did not finish before the timeout"):
        operator(timeout=12).execute(make_context())
    assert clock["now"] == 1012.0
    assert requests_mock.request_history[-2].path.endswith("/pipelines/7/cancel")


def test_transient_errors_while_waiting_do_not_fail(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    requests_mock.get(
        f"{PROJECT}/pipelines/7",
        [{"json": pipeline(7, "running")}]
        + [{"status_code": 503, "text": "down"}] * 8
        + [{"json": pipeline(7, "success")}],
    )
    assert operator().execute(make_context()) == 7


def test_on_kill_cancels(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/pipelines/7/cancel", json=pipeline(7, "canceling"))
    reads(requests_mock, 7, "canceled")
    op = operator()
    op.on_kill()  # nothing started yet: nothing to cancel
    assert requests_mock.call_count == 0
    op._pipeline_id = 7
    op.on_kill()
    assert [r.method for r in requests_mock.request_history] == ["POST", "GET"]
    requests_mock.reset_mock()
    op = operator(cancel_on_kill=False)
    op._pipeline_id = 7
    op.on_kill()
    assert requests_mock.call_count == 0


# -- deferrable ---------------------------------------------------------------------------------


def test_deferrable_checks_once_then_defers_to_a_read_only_trigger(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    reads(requests_mock, 7, "pending")
    op = operator(deferrable=True, timeout=600, execution_timeout=datetime.timedelta(hours=1))
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, DataOpsPipelineTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout is None
    kwargs = trigger.serialize()[1]
    assert (kwargs["pipeline_id"], kwargs["deadline_name"], kwargs["poll_interval"]) == (7, "timeout", 5)


def test_the_state_read_before_deferring_is_handed_to_the_trigger(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    requests_mock.get(
        f"{PROJECT}/pipelines/7", json={**pipeline(7, "running"), "updated_at": "2026-12-01T10:00:00.000Z"}
    )
    with pytest.raises(TaskDeferred) as deferred:
        operator(deferrable=True).execute(make_context())
    known = deferred.value.trigger.serialize()[1]["known_state"]
    assert known == {"status": "running", "updated_at": "2026-12-01T10:00:00.000Z"}  # the trigger reads nothing


def test_deferrable_already_finished_does_not_defer(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    reads(requests_mock, 7, "success")
    op = operator(deferrable=True)
    with mock.patch.object(op, "defer") as defer:
        assert op.execute(make_context()) == 7
    defer.assert_not_called()


def test_execution_timeout_becomes_the_trigger_deadline(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    reads(requests_mock, 7, "running")
    with pytest.raises(TaskDeferred) as deferred:
        operator(deferrable=True, execution_timeout=datetime.timedelta(minutes=5)).execute(make_context())
    kwargs = deferred.value.trigger.serialize()[1]
    assert kwargs["deadline_name"] == "execution_timeout"


@pytest.mark.parametrize("event", [None, {}, {"status": "bogus", "pipeline_id": 7}, "success"])
def test_execute_complete_rejects_bad_events(hook, event: Any) -> None:
    with pytest.raises(DataOpsError, match="unexpected event"):
        operator().execute_complete(make_context(), event)


def test_execute_complete_outcomes(hook, requests_mock: rm.Mocker) -> None:
    reads(requests_mock, 7, "success")
    assert operator().execute_complete(make_context(), {"status": "success", "pipeline_id": 7}) == 7

    requests_mock.get(f"{PROJECT}/pipelines/7", json=pipeline(7, "canceled"))
    requests_mock.get(f"{PROJECT}/pipelines/7/jobs", json=[])
    with pytest.raises(DataOpsPipelineFailedError, match="ended as canceled"):
        operator().execute_complete(make_context(), {"status": "failure", "pipeline_id": 7})

    with pytest.raises(DataOpsError, match="401"):
        operator().execute_complete(make_context(), {"status": "error", "pipeline_id": 7, "message": "HTTP 401"})


@pytest.mark.parametrize(
    ("deadline_name", "error"), [("timeout", DataOpsPipelineTimeoutError), ("execution_timeout", AirflowTaskTimeout)]
)
def test_timeout_event_cancels_then_fails(hook, requests_mock: rm.Mocker, deadline_name: str, error: type) -> None:
    requests_mock.post(f"{PROJECT}/pipelines/7/cancel", json=pipeline(7, "canceling"))
    reads(requests_mock, 7, "canceled")
    event = {"status": "timeout", "pipeline_id": 7, "deadline_name": deadline_name, "message": "too slow"}
    with pytest.raises(error, match="too slow"):
        operator(deferrable=True).execute_complete(make_context(), event)
    assert requests_mock.request_history[0].path.endswith("/pipelines/7/cancel")


# -- never a duplicate --------------------------------------------------------------------------


def marked(requests_mock: rm.Mocker, pid: int, status: str) -> None:
    requests_mock.get(f"{PROJECT}/pipelines", json=[pipeline(pid, status)])
    requests_mock.get(f"{PROJECT}/pipelines/{pid}/variables", json=[{"key": MARKER_VARIABLE, "value": MARKER}])
    requests_mock.get(f"{PROJECT}/pipelines/{pid}", json=pipeline(pid, status))


@pytest.mark.parametrize("status", ["running", "success"])
def test_retry_reattaches_to_the_earlier_pipeline(hook, requests_mock: rm.Mocker, status: str) -> None:
    marked(requests_mock, 5, status)
    requests_mock.get(f"{PROJECT}/pipelines/5", [{"json": pipeline(5, status)}, {"json": pipeline(5, "success")}])
    assert operator().execute(make_context(try_number=2)) == 5
    assert posted(requests_mock) == []
    listing = next(r for r in requests_mock.request_history if r.path.endswith("/pipelines"))
    assert parse_qs(listing.query)["updated_after"] == ["2026-11-28t07:50:00+00:00"]


def test_retry_after_failure_starts_a_new_pipeline(hook, requests_mock: rm.Mocker) -> None:
    marked(requests_mock, 5, "failed")
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(8, "created"), status_code=201)
    reads(requests_mock, 8, "success")
    assert operator().execute(make_context(try_number=2)) == 8
    assert len(posted(requests_mock)) == 1


def test_retry_failed_pipeline_retries_it_through_the_api(hook, requests_mock: rm.Mocker) -> None:
    marked(requests_mock, 5, "failed")
    requests_mock.post(f"{PROJECT}/pipelines/5/retry", json=pipeline(5, "pending"), status_code=201)
    requests_mock.get(
        f"{PROJECT}/pipelines/5",
        [{"json": pipeline(5, "failed")}, {"json": pipeline(5, "running")}, {"json": pipeline(5, "success")}],
    )
    assert operator(retry_failed_pipeline=True).execute(make_context(try_number=2)) == 5
    assert posted(requests_mock) == []


def test_first_try_does_not_look_for_earlier_pipelines(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    reads(requests_mock, 7, "success")
    operator().execute(make_context())
    # The trigger, one read, its downstream pipelines (for the links) and the test summary:
    # no search for earlier pipelines.
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in requests_mock.request_history] == [
        ("POST", "pipeline"),
        ("GET", "7"),
        ("GET", "bridges"),
        ("GET", "test_report_summary"),
    ]


def test_ambiguous_post_that_took_effect_is_not_repeated(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", exc=requests.ReadTimeout("read timed out"))
    marked(requests_mock, 9, "running")
    requests_mock.get(f"{PROJECT}/pipelines/9", [{"json": pipeline(9, "running")}, {"json": pipeline(9, "success")}])
    assert operator().execute(make_context()) == 9
    assert len(posted(requests_mock)) == 1


def test_ambiguous_post_that_did_not_take_effect_is_sent_again(
    hook, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.post(
        f"{PROJECT}/pipeline", [{"status_code": 502, "text": "bad gateway"}, {"json": pipeline(8), "status_code": 201}]
    )
    requests_mock.get(f"{PROJECT}/pipelines", json=[])
    reads(requests_mock, 8, "success")
    assert operator().execute(make_context()) == 8
    assert len(posted(requests_mock)) == 2
    lookups = [r for r in requests_mock.request_history if r.path.endswith("/pipelines")]
    # Looked every 5 s for the read timeout (30 s) plus 10 s before sending again.
    assert len(lookups) == 9
    assert sleeps.count(5.0) == 8


# -- trigger-token-only connections -------------------------------------------------------------


def test_trigger_only_cannot_wait_and_says_so(conn_trigger_only: None, requests_mock: rm.Mocker) -> None:
    with pytest.raises(DataOpsConfigError, match=r"only a trigger token.*wait_for_completion=False"):
        operator().execute(make_context())
    assert requests_mock.call_count == 0


def test_trigger_only_triggers_without_waiting(conn_trigger_only: None, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/trigger/pipeline", json=pipeline(7, "created"), status_code=201)
    context = make_context()
    assert operator(wait_for_completion=False).execute(context) == 7
    assert parse_qs(requests_mock.last_request.text)[f"variables[{MARKER_VARIABLE}]"] == [MARKER]
    context["ti"].xcom_push.assert_any_call(key="pipeline_id", value=7)


def test_trigger_only_ambiguous_post_fails_without_retry(conn_trigger_only: None, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/trigger/pipeline", exc=requests.ReadTimeout("read timed out"))
    with pytest.raises(AirflowFailException, match="not retried"):
        operator(wait_for_completion=False).execute(make_context())
    assert requests_mock.call_count == 1


def test_retry_reattaches_to_a_manual_pipeline_when_the_policy_waits(hook, requests_mock: rm.Mocker) -> None:
    marked(requests_mock, 5, "manual")
    requests_mock.get(
        f"{PROJECT}/pipelines/5",
        [{"json": pipeline(5, "manual")}, {"json": pipeline(5, "manual")}, {"json": pipeline(5, "success")}],
    )
    assert operator(manual_policy="wait").execute(make_context(try_number=2)) == 5
    assert posted(requests_mock) == []


def test_retry_does_not_reattach_to_a_canceling_pipeline(hook, requests_mock: rm.Mocker) -> None:
    marked(requests_mock, 5, "canceling")
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(8, "created"), status_code=201)
    reads(requests_mock, 8, "success")
    assert operator(retry_failed_pipeline=True).execute(make_context(try_number=2)) == 8
    assert len(posted(requests_mock)) == 1


def test_result_of_an_already_finished_pipeline_is_published(hook, requests_mock: rm.Mocker) -> None:
    # Airflow 3.3's ResumableJobMixin returns get_job_result() without polling when the stored
    # pipeline already succeeded; a new try starts with no XComs, so they are pushed again.
    reads(requests_mock, 5, "success")
    context = make_context(try_number=2)
    assert operator().get_job_result(5, context) == 5
    context["ti"].xcom_push.assert_any_call(key="pipeline_id", value=5)
    context["ti"].xcom_push.assert_any_call(key="pipeline_url", value="https://x/demo/p/-/pipelines/5")


def test_failure_log_lines_zero_leaves_logs_out(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    reads(requests_mock, 7, "failed")
    requests_mock.get(f"{PROJECT}/pipelines/7/jobs", json=[{"id": 70, "name": "n", "stage": "s", "status": "failed"}])
    with pytest.raises(DataOpsPipelineFailedError):
        operator(failure_log_lines=0).execute(make_context())
    assert not [r for r in requests_mock.request_history if r.path.endswith("/trace")]


# -- Airflow 3.3's task state store (ResumableJobMixin) -----------------------------------------

from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_3_PLUS  # noqa: E402

needs_state_store = pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="task_state_store arrived in Airflow 3.3")


class FakeStateStore(dict):  # type: ignore[type-arg]
    """The task_state_store accessor's get/set, backed by a dict."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


def with_store(context: dict[str, Any], **stored: Any) -> dict[str, Any]:
    context["task_state_store"] = FakeStateStore(stored)
    return context


@needs_state_store
def test_first_try_stores_the_pipeline_id(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    reads(requests_mock, 7, "success")
    context = with_store(make_context())
    assert operator().execute(context) == 7
    assert context["task_state_store"]["dataops_pipeline_id"] == {
        "pipeline_id": 7,
        "marker": MARKER,
        "web_url": "https://x/demo/p/-/pipelines/7",
    }


@needs_state_store
def test_stored_running_pipeline_is_reconnected_and_its_id_returned(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(
        f"{PROJECT}/pipelines/5",
        [{"json": pipeline(5, "running")}, {"json": pipeline(5, "running")}, {"json": pipeline(5, "success")}],
    )
    context = with_store(make_context(try_number=2), dataops_pipeline_id={"pipeline_id": 5, "marker": MARKER})
    assert operator().execute(context) == 5
    assert posted(requests_mock) == []
    context["ti"].xcom_push.assert_any_call(key="pipeline_id", value=5)


@needs_state_store
def test_stored_finished_pipeline_returns_at_once_and_publishes(hook, requests_mock: rm.Mocker) -> None:
    reads(requests_mock, 5, "success")
    context = with_store(make_context(try_number=2), dataops_pipeline_id=5)  # as provider 0.1 stored it
    assert operator().execute(context) == 5
    assert posted(requests_mock) == []
    context["ti"].xcom_push.assert_any_call(key="pipeline_url", value="https://x/demo/p/-/pipelines/5")


@needs_state_store
def test_stored_failed_pipeline_leads_to_a_new_one(hook, requests_mock: rm.Mocker) -> None:
    marked(requests_mock, 5, "failed")
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(8, "created"), status_code=201)
    reads(requests_mock, 8, "success")
    context = with_store(make_context(try_number=2), dataops_pipeline_id={"pipeline_id": 5, "marker": MARKER})
    assert operator().execute(context) == 8
    assert context["task_state_store"]["dataops_pipeline_id"]["pipeline_id"] == 8


@needs_state_store
def test_trigger_only_retry_does_not_post_twice(conn_trigger_only: None, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/trigger/pipeline", json=pipeline(7, "created"), status_code=201)
    context = with_store(make_context())
    assert operator(wait_for_completion=False).execute(context) == 7
    retry_context = with_store(make_context(try_number=2), **context["task_state_store"])
    assert operator(wait_for_completion=False).execute(retry_context) == 7
    assert requests_mock.call_count == 1
    retry_context["ti"].xcom_push.assert_any_call(key="pipeline_url", value="https://x/demo/p/-/pipelines/7")


# -- more arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hook_params", "fragment"),
    [
        ({"retry_policy": {"max_attempt": 3}}, "hook_params: retry_policy accepts .*unknown: max_attempt"),
        ({"retries": 3}, "hook_params accepts timeout, retry_policy; unknown: retries"),
        ({"timeout": 0}, "hook_params: timeout"),
    ],
)
def test_hook_params_are_checked_at_parse_time(hook_params: dict[str, Any], fragment: str) -> None:
    with pytest.raises(DataOpsConfigError, match=fragment):
        operator(hook_params=hook_params)


def test_marker_changes_when_the_run_is_cleared() -> None:
    from airflow_provider_dataops.operators.pipeline import task_marker

    context = make_context()
    context["dag_run"].clear_number = 2
    assert task_marker(context) == "dag=d run=r1 task=t map=-1 clear=2"


def test_hook_timeout_reaches_the_trigger(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    reads(requests_mock, 7, "running")
    with pytest.raises(TaskDeferred) as deferred:
        operator(deferrable=True, hook_params={"timeout": 12}).execute(make_context())
    assert deferred.value.trigger.serialize()[1]["timeout"] == 12


def test_a_kill_right_after_the_trigger_cancels(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    requests_mock.post(f"{PROJECT}/pipelines/7/cancel", json=pipeline(7, "canceling"))
    reads(requests_mock, 7, "canceled")
    op = operator()
    op._post(make_context())
    op.on_kill()
    assert requests_mock.request_history[1].path.endswith("/pipelines/7/cancel")


@pytest.mark.parametrize("event", [{"status": "success"}, {"status": "timeout", "pipeline": 7}])
def test_execute_complete_rejects_events_without_pipeline_id(hook, event: Any) -> None:
    with pytest.raises(DataOpsError, match="unexpected event"):
        operator().execute_complete(make_context(), event)
