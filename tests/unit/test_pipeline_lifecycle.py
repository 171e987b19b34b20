"""The trigger operator's lifecycle rows that a mocked API can prove: clear, kill, timeouts, links.

The same rows are proven end to end, on a real Airflow, in tests/deployment/.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from unittest import mock

import pytest
import requests_mock as rm
from airflow.providers.common.compat.sdk import AirflowException, AirflowTaskTimeout

from airflow_provider_dataops.links import DataOpsPipelineLink, DataOpsProjectLink
from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator
from airflow_provider_dataops.operators.pipeline_job import DataOpsPipelineJobOperator

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

EARLIER_CLEAR = MARKER.replace("clear=0", "clear=1")


def cleared_context(try_number: int = 3) -> dict[str, Any]:
    """A try after the run was cleared twice: the store still holds the first clear's pipeline."""
    context = make_context(try_number=try_number)
    context["dag_run"].clear_number = 2
    return context


def no_marked_pipelines(requests_mock: rm.Mocker) -> None:
    """The new clear's marker is on no pipeline yet."""
    requests_mock.get(f"{PROJECT}/pipelines", json=[])


def cancels(requests_mock: rm.Mocker) -> list[Any]:
    return [r for r in requests_mock.request_history if r.method == "POST" and r.path.endswith("/cancel")]


# -- clear always runs again --------------------------------------------------------------------


@needs_state_store
def test_clear_after_success_starts_a_new_pipeline(hook, requests_mock: rm.Mocker) -> None:
    no_marked_pipelines(requests_mock)
    reads(requests_mock, 5, "success")
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(8, "created"), status_code=201)
    reads(requests_mock, 8, "success")
    context = with_store(cleared_context(), dataops_pipeline_id={"pipeline_id": 5, "marker": EARLIER_CLEAR})
    assert operator().execute(context) == 8
    assert len(posted(requests_mock)) == 1
    assert cancels(requests_mock) == []
    stored = context["task_state_store"]["dataops_pipeline_id"]
    assert stored["pipeline_id"] == 8
    assert stored["marker"].endswith("clear=2")


@needs_state_store
@pytest.mark.parametrize(("cancel_on_kill", "cancelled"), [(True, 1), (False, 0)])
def test_clear_while_the_earlier_pipeline_runs_cancels_it_and_starts_anew(
    hook, requests_mock: rm.Mocker, cancel_on_kill: bool, cancelled: int
) -> None:
    no_marked_pipelines(requests_mock)
    requests_mock.get(f"{PROJECT}/pipelines/5", json=pipeline(5, "running"))
    requests_mock.post(f"{PROJECT}/pipelines/5/cancel", json=pipeline(5, "canceling"))
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(8, "created"), status_code=201)
    reads(requests_mock, 8, "success")
    context = with_store(cleared_context(), dataops_pipeline_id={"pipeline_id": 5, "marker": EARLIER_CLEAR})
    assert operator(cancel_on_kill=cancel_on_kill).execute(context) == 8
    assert len(cancels(requests_mock)) == cancelled
    assert len(posted(requests_mock)) == 1
    # the earlier clear's pipeline is canceled before the new one starts
    paths = [r.path for r in requests_mock.request_history if r.method == "POST"]
    assert paths[-1].endswith("/pipeline")


@needs_state_store
def test_retry_within_the_same_clear_still_reattaches(hook, requests_mock: rm.Mocker) -> None:
    context = cleared_context()
    marker = MARKER.replace("clear=0", "clear=2")
    requests_mock.get(f"{PROJECT}/pipelines/5", [{"json": pipeline(5, "running")}, {"json": pipeline(5, "success")}])
    context = with_store(context, dataops_pipeline_id={"pipeline_id": 5, "marker": marker})
    assert operator().execute(context) == 5
    assert posted(requests_mock) == []
    assert cancels(requests_mock) == []


@needs_state_store
def test_trigger_only_clear_triggers_again(conn_trigger_only: None, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/trigger/pipeline", json=pipeline(8, "created"), status_code=201)
    context = with_store(cleared_context(), dataops_pipeline_id={"pipeline_id": 5, "marker": EARLIER_CLEAR})
    assert operator(wait_for_completion=False).execute(context) == 8
    assert requests_mock.call_count == 1  # a trigger token cannot read or cancel: only the new trigger


# -- kill and timeouts --------------------------------------------------------------------------


def test_a_kill_while_waiting_ends_the_wait_within_one_poll(hook, requests_mock: rm.Mocker, monkeypatch) -> None:
    """Airflow 3's SIGTERM handler calls on_kill and returns: the wait must not go on watching the cancel."""
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    requests_mock.get(f"{PROJECT}/pipelines/7", json=pipeline(7, "canceling"))
    requests_mock.post(f"{PROJECT}/pipelines/7/cancel", json=pipeline(7, "canceling"))
    op = operator()
    slept: list[float] = []

    def sleep_then_sigterm(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 1:
            op.on_kill()

    monkeypatch.setattr("airflow_provider_dataops.api.retry.sleep", sleep_then_sigterm)
    with pytest.raises(AirflowException, match="killed while waiting for pipeline 7; it is still canceling"):
        op.execute(make_context())
    assert slept == [5]
    assert len(cancels(requests_mock)) == 1
    reads_of_7 = [r for r in requests_mock.request_history if r.method == "GET" and r.path.endswith("/pipelines/7")]
    assert len(reads_of_7) <= 3  # publish, the cancel's report, the last words: bounded, not a poll loop


def test_timeout_then_airflows_on_kill_cancels_once(hook, requests_mock: rm.Mocker, monkeypatch) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    reads(requests_mock, 7, "running")
    requests_mock.post(f"{PROJECT}/pipelines/7/cancel", json=pipeline(7, "canceling"))
    clock = {"now": 1000.0}
    monkeypatch.setattr("airflow_provider_dataops.follow.worker_wait.time.time", lambda: clock["now"])
    monkeypatch.setattr("airflow_provider_dataops.api.retry.sleep", lambda s: clock.update(now=clock["now"] + s))
    op = operator(execution_timeout=__import__("datetime").timedelta(seconds=12))
    context = make_context()
    context["ti"].start_date = None
    with pytest.raises(AirflowTaskTimeout):
        op.execute(context)
    op.on_kill()  # what Airflow's timeout handling does next
    assert len(cancels(requests_mock)) == 1


def test_deferred_timeout_event_then_on_kill_cancels_once(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/pipelines/7/cancel", json=pipeline(7, "canceling"))
    reads(requests_mock, 7, "canceled")
    op = operator(deferrable=True)
    event = {"status": "timeout", "pipeline_id": 7, "deadline_name": "execution_timeout", "message": "late"}
    with pytest.raises(AirflowTaskTimeout):
        op.execute_complete(make_context(), event)
    op.on_kill()
    assert len(cancels(requests_mock)) == 1


def test_cancel_reports_what_it_left_behind(hook, requests_mock: rm.Mocker, caplog, capfd) -> None:
    requests_mock.post(f"{PROJECT}/pipelines/7/cancel", json=pipeline(7, "canceling"))
    reads(requests_mock, 7, "canceling")
    op = operator()
    op._pipeline_id = 7
    op.on_kill()
    out, err = capfd.readouterr()
    assert "it is still canceling; DataOps.live finishes canceling it on its own" in caplog.text + out + err
    assert requests_mock.call_count == 2  # one cancel, one read: no waiting


class NotReentrantLog(logging.Handler):
    """A task log that, like structlog's writer, holds a lock that is not re-entrant while it writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = threading.Lock()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with self.writing:
            self.lines.append(record.getMessage())


def _job_operator() -> DataOpsPipelineJobOperator:
    op = DataOpsPipelineJobOperator(task_id="job", project="demo/p", pipeline_id=7, job_name="build")
    op._job_id = 71
    return op


def _pipeline_operator() -> DataOpsTriggerPipelineOperator:
    op = operator()
    op._pipeline_id = 7
    return op


@pytest.mark.parametrize(
    ("make_operator", "cancel_path", "canceled"),
    [
        (_pipeline_operator, "pipelines/7/cancel", "Canceled pipeline 7 because the task was killed"),
        (_job_operator, "jobs/71/cancel", "Canceled job 71 because the task was killed"),
    ],
)
def test_a_kill_that_interrupts_a_log_write_still_cancels_and_logs(
    hook, requests_mock: rm.Mocker, monkeypatch, make_operator: Any, cancel_path: str, canceled: str
) -> None:
    """Airflow runs on_kill in the interrupted main thread: if that held the log's lock, on_kill's own
    log line would wait for ever (until the supervisor's SIGKILL). The work runs beside the handler."""
    requests_mock.post(f"{PROJECT}/{cancel_path}", json={"id": int(cancel_path.split("/")[1]), "status": "canceling"})
    reads(requests_mock, 7, "canceling")
    monkeypatch.setattr("airflow_provider_dataops.operators.beside_handler.KILL_PATIENCE", 0.2)
    task_log = NotReentrantLog()
    logger = logging.getLogger(f"test.not_reentrant.{cancel_path}")
    logger.propagate, logger.level = False, logging.INFO
    logger.addHandler(task_log)
    op = make_operator()
    monkeypatch.setattr(type(op), "log", property(lambda self: logger))
    handler_returned = threading.Event()

    def sigterm_during_a_write() -> None:
        with task_log.writing:  # the main thread was writing a log line when the signal came
            op.on_kill()
        handler_returned.set()

    threading.Thread(target=sigterm_during_a_write, daemon=True).start()
    assert handler_returned.wait(10), "on_kill waited on a lock its own thread holds"
    for _ in range(100):  # the kill's thread logs once the interrupted write lets go
        if task_log.lines:
            break
        time.sleep(0.05)
    assert [line for line in task_log.lines if line.startswith(canceled)], task_log.lines
    assert [r.url for r in requests_mock.request_history if r.method == "POST"] == [f"{PROJECT}/{cancel_path}"]


# -- extra links --------------------------------------------------------------------------------


@pytest.fixture
def xcom_read() -> Any:
    with mock.patch("airflow_provider_dataops.links.XCom.get_value", return_value="https://x/from-xcom") as read:
        yield read


def test_link_of_a_task_that_started_nothing_is_empty_without_an_xcom_read(
    hook, requests_mock: rm.Mocker, xcom_read: Any
) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", status_code=400, json={"message": "Reference not found"})
    op = operator()
    with pytest.raises(Exception, match="Reference not found"):
        op.execute(make_context())
    assert DataOpsPipelineLink().get_link(op, ti_key=mock.MagicMock()) == ""
    xcom_read.assert_not_called()


def test_link_of_a_task_that_ran_here_is_what_it_published(hook, requests_mock: rm.Mocker, xcom_read: Any) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    reads(requests_mock, 7, "success")
    op = operator()
    context = make_context()
    context["ti"].task = op
    op.execute(context)
    assert DataOpsPipelineLink().get_link(op, ti_key=mock.MagicMock()) == "https://x/demo/p/-/pipelines/7"
    xcom_read.assert_not_called()


def test_link_after_a_deferred_resume_is_the_events_url(hook, requests_mock: rm.Mocker, xcom_read: Any) -> None:
    reads(requests_mock, 7, "success")
    op = operator(deferrable=True)
    event = {"status": "success", "pipeline_id": 7, "web_url": "https://x/demo/p/-/pipelines/7", "message": "ok"}
    op.execute_complete(make_context(), event)
    assert DataOpsPipelineLink().get_link(op, ti_key=mock.MagicMock()) == "https://x/demo/p/-/pipelines/7"
    xcom_read.assert_not_called()


@pytest.mark.parametrize("link", [DataOpsPipelineLink(), DataOpsProjectLink()])
def test_link_elsewhere_reads_xcom(link: Any, xcom_read: Any) -> None:
    """Airflow 2's webserver hands the link a serialized operator, which never ran: XCom decides."""
    never_ran = DataOpsTriggerPipelineOperator(task_id="t", project="demo/p", ref="main")
    assert link.get_link(never_ran, ti_key=mock.MagicMock()) == "https://x/from-xcom"


def test_project_link_of_a_task_that_failed_early_is_empty_without_an_xcom_read(
    hook, requests_mock: rm.Mocker, xcom_read: Any
) -> None:
    from airflow_provider_dataops.operators.project import DataOpsCreateProjectOperator

    requests_mock.get(f"{PROJECT.rsplit('/projects', 1)[0]}/user", status_code=401, json={"message": "401"})
    op = DataOpsCreateProjectOperator(task_id="p", name="Sales")
    with pytest.raises(Exception, match="401"):
        op.execute(make_context())
    assert DataOpsProjectLink().get_link(op, ti_key=mock.MagicMock()) == ""
    xcom_read.assert_not_called()
