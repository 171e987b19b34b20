"""A killed try leaves the pipeline to a newer try that took it over, and only then (Airflow 3.3).

The heartbeat-timeout row of the lifecycle contract: a worker paused past the heartbeat timeout
wakes up to a SIGTERM after the retry re-attached to the pipeline. Every other kill still cancels.
The deployment suite proves the row on a real Airflow (``paused_worker_wakes_after_heartbeat_timeout``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests_mock as rm
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_dataops.operators import _takeover
from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator

from .test_pipeline_lifecycle import cancels
from .test_pipeline_operator import (
    PROJECT,
    FakeStateStore,
    make_context,
    needs_state_store,
    operator,
    pipeline,
    reads,
    task_log,
)

pytestmark = needs_state_store


class TryStore(FakeStateStore):
    """Airflow's task state store as one try sees it: once Airflow gives the task instance a new id
    for the next try, every read of the old try answers "not found" (the route looks the id up first)."""

    replaced = False

    def get(self, key: str, default: Any = None) -> Any:
        return default if self.replaced else super().get(key, default)


def running_try(requests_mock: rm.Mocker, map_index: int = -1) -> dict[str, Any]:
    """The first try: it starts pipeline 7 and waits for it on the worker."""
    requests_mock.post(f"{PROJECT}/pipeline", json=pipeline(7, "created"), status_code=201)
    reads(requests_mock, 7, "running")
    requests_mock.post(f"{PROJECT}/pipelines/7/cancel", json=pipeline(7, "canceling"))
    context = make_context()
    context["ti"].map_index = map_index
    context["task_state_store"] = TryStore()
    return context


def kill_while_waiting(
    op: DataOpsTriggerPipelineOperator,
    context: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    meanwhile: Callable[[], None],
) -> str:
    """Run the try; at its first poll, ``meanwhile`` changes Airflow's answers, then the SIGTERM
    handler calls ``on_kill``. Returns the error the killed wait ends with."""
    polls: list[float] = []

    def sleep_then_sigterm(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 1:
            meanwhile()
            op.on_kill()

    monkeypatch.setattr("airflow_provider_dataops.api.retry.sleep", sleep_then_sigterm)
    with pytest.raises(AirflowException, match="killed while waiting for pipeline 7") as raised:
        op.execute(context)
    return str(raised.value)


def airflow_says(context: dict[str, Any], state: str | None, *, replaced: bool) -> Callable[[], None]:
    def change() -> None:
        context["task_state_store"].replaced = replaced
        ti = context["ti"]
        name = ti.task_id if ti.map_index < 0 else f"{ti.task_id}_{ti.map_index}"
        ti.get_task_states.return_value = {ti.run_id: {name: state}}

    return change


@pytest.mark.parametrize("state", ["running", "queued", "scheduled", "up_for_retry", "deferred", None])
def test_a_replaced_try_leaves_the_pipeline_to_the_newer_try(
    hook, requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch, state: str | None, caplog, capfd
) -> None:
    context = running_try(requests_mock)
    op = operator()
    error = kill_while_waiting(op, context, monkeypatch, airflow_says(context, state, replaced=True))
    assert cancels(requests_mock) == []
    assert error.endswith("it is still running and keeps running.")
    assert "Leaving pipeline 7 running for the newer try." in task_log(caplog, capfd)
    context["ti"].get_task_states.assert_called_once_with(dag_id="d", task_ids=["t"], run_ids=["r1"], map_index=-1)


def test_a_replaced_mapped_try_reads_its_own_map_index(
    hook, requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = running_try(requests_mock, map_index=3)
    kill_while_waiting(operator(), context, monkeypatch, airflow_says(context, "running", replaced=True))
    assert cancels(requests_mock) == []
    context["ti"].get_task_states.assert_called_once_with(dag_id="d", task_ids=["t"], run_ids=["r1"], map_index=3)


@pytest.mark.parametrize(
    ("state", "replaced", "action"),
    [
        ("success", False, "mark success"),
        ("failed", False, "mark failed"),
        ("success", True, "mark success with [state_store] clear_on_success"),
        ("restarting", True, "clear of the running task"),
        ("running", False, "worker shutdown or failed heartbeats: still this try"),
        ("removed", True, "task removed from the DAG"),
    ],
)
def test_every_other_kill_still_cancels_once(
    hook, requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch, state: str, replaced: bool, action: str
) -> None:
    context = running_try(requests_mock)
    kill_while_waiting(operator(), context, monkeypatch, airflow_says(context, state, replaced=replaced))
    assert len(cancels(requests_mock)) == 1, action


def test_the_store_answering_for_this_try_settles_it_without_asking_more(
    hook, requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = running_try(requests_mock)
    kill_while_waiting(operator(), context, monkeypatch, lambda: None)
    assert len(cancels(requests_mock)) == 1
    context["ti"].get_task_states.assert_not_called()


def test_a_kill_before_the_record_is_stored_cancels(hook, requests_mock: rm.Mocker) -> None:
    """Between the trigger and the store write, a missing record does not mean a newer try."""
    context = running_try(requests_mock)
    airflow_says(context, "running", replaced=False)()
    op = operator()

    class SigtermBeforeTheWrite(TryStore):
        def set(self, key: str, value: Any) -> None:
            assert op._pipeline_id == 7
            assert key not in self
            op.on_kill()
            super().set(key, value)

    context["task_state_store"] = SigtermBeforeTheWrite()
    with pytest.raises(AirflowException, match="killed while waiting"):
        op.execute(context)
    assert len(cancels(requests_mock)) == 1


def test_no_answer_from_airflow_cancels_and_says_why(
    hook, requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch, caplog, capfd
) -> None:
    """An expired token (a long pause) makes every request of the old try fail: cancel, as before."""
    context = running_try(requests_mock)

    def store_fails() -> None:
        context["task_state_store"].get = _raise(RuntimeError("403 Invalid auth token: Signature has expired"))

    kill_while_waiting(operator(), context, monkeypatch, store_fails)
    assert len(cancels(requests_mock)) == 1
    assert "Could not tell whether a newer try took the pipeline over (403 Invalid auth token" in task_log(
        caplog, capfd
    )


def test_no_state_listed_cancels(hook, requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch) -> None:
    context = running_try(requests_mock)

    def gone() -> None:
        context["task_state_store"].replaced = True
        context["ti"].get_task_states.return_value = {}

    kill_while_waiting(operator(), context, monkeypatch, gone)
    assert len(cancels(requests_mock)) == 1


def test_a_silent_supervisor_cancels(hook, requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM while the task held the channel to its supervisor: the question never gets through."""
    context = running_try(requests_mock)
    monkeypatch.setattr(_takeover, "PATIENCE", 0.05)
    release = threading.Event()

    def store_blocks() -> None:
        context["task_state_store"].get = lambda key, default=None: release.wait()

    try:
        kill_while_waiting(operator(), context, monkeypatch, store_blocks)
    finally:
        release.set()
    assert len(cancels(requests_mock)) == 1


def test_on_kill_after_a_timeouts_cancel_asks_nothing(hook, requests_mock: rm.Mocker) -> None:
    """After a timeout's cancel, Airflow's on_kill neither cancels again nor asks Airflow anything."""
    context = running_try(requests_mock)
    op = operator()
    op._pipeline_id, op._cancelled = 7, True
    op._takeover = _takeover.Takeover(context["task_state_store"], context["ti"], op.external_id_key)
    op.on_kill()
    assert cancels(requests_mock) == []
    context["ti"].get_task_states.assert_not_called()


def _raise(error: Exception) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    return fail
