"""dataops_run_dag's argument checks (before anything runs), its state names, and its result's errors and XComs."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from unittest import mock

import pytest

from airflow_provider_dataops.api import retry
from airflow_provider_dataops.testing.dag_runs import DagRunner, DagRunResult, state_name, task_failures, virtual_time


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dag_id": ""}, "dag_id must be a non-empty string"),
        ({"dag_id": 7}, "dag_id must be a non-empty string"),
        ({"dag_id": "d", "conf": '{"a": 1}'}, "conf must be a dict, not str"),
        ({"dag_id": "d", "logical_date": "2026-01-01"}, "logical_date must be a timezone-aware datetime"),
        ({"dag_id": "d", "logical_date": datetime(2026, 1, 1)}, "logical_date must be a timezone-aware datetime"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(kwargs: dict, message: str) -> None:
    emulator = mock.Mock()
    dag_id = kwargs.pop("dag_id")
    with pytest.raises(ValueError, match=message):
        DagRunner(emulator)(dag_id, **kwargs)
    emulator.pipelines.assert_not_called()


def test_state_names() -> None:
    class State(str, Enum):
        SUCCESS = "success"

    assert [state_name(s) for s in (State.SUCCESS, "failed", None)] == ["success", "failed", "none"]


def test_virtual_time_turns_provider_waits_into_clock_moves_and_restores_them() -> None:
    emulator = mock.Mock()
    emulator.state.clock.mode = "manual"
    original = retry.sleep, retry.async_sleep
    with virtual_time(emulator):
        retry.sleep(3600)  # returns at once
        assert mock.call(3600) in emulator.advance.call_args_list
    assert (retry.sleep, retry.async_sleep) == original


def test_virtual_time_leaves_a_real_clock_alone() -> None:
    emulator = mock.Mock()
    emulator.state.clock.mode = "real"
    with virtual_time(emulator):
        assert retry.sleep.__module__ == "airflow_provider_dataops.api.retry"
    emulator.advance.assert_not_called()


def test_a_timezone_aware_logical_date_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    run = mock.Mock(return_value=mock.Mock(run_id="r", state="success"))
    monkeypatch.setattr("airflow_provider_dataops.testing.dag_runs._dag_test", run)
    monkeypatch.setattr("airflow_provider_dataops.testing.dag_runs._task_states", lambda dag_id, run_id: {})
    monkeypatch.setattr("airflow_provider_dataops.testing.dag_runs._xcoms", lambda dag_id, run_id: {})
    emulator = mock.Mock()
    emulator.state.clock.mode = "real"
    emulator.pipelines.return_value = []
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    result = DagRunner(emulator)("d", conf={"a": 1}, logical_date=when)
    run.assert_called_once_with("d", {"a": 1}, when)
    assert (result.state, result.run_id) == ("success", "r")


def test_errors_keep_the_last_failure_of_tasks_that_ended_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(dag_id: str, conf: object, logical_date: object) -> mock.Mock:
        from airflow_provider_dataops.testing import dag_runs

        hook = dag_runs._listener_manager().hook
        hook.on_task_instance_failed(
            previous_state=None, task_instance=mock.Mock(task_id="a", map_index=-1), error=RuntimeError("first")
        )
        hook.on_task_instance_failed(
            previous_state=None, task_instance=mock.Mock(task_id="a", map_index=-1), error=ValueError("second")
        )
        hook.on_task_instance_failed(
            previous_state=None, task_instance=mock.Mock(task_id="m", map_index=1), error="no exception object"
        )
        hook.on_task_instance_failed(
            previous_state=None, task_instance=mock.Mock(task_id="retried", map_index=-1), error=OSError("gone")
        )
        return mock.Mock(run_id="r", state="failed")

    monkeypatch.setattr("airflow_provider_dataops.testing.dag_runs._dag_test", run)
    monkeypatch.setattr(
        "airflow_provider_dataops.testing.dag_runs._task_states",
        lambda dag_id, run_id: {"a": "failed", "m[1]": "up_for_retry", "retried": "success"},
    )
    monkeypatch.setattr("airflow_provider_dataops.testing.dag_runs._xcoms", lambda dag_id, run_id: {})
    emulator = mock.Mock()
    emulator.state.clock.mode = "real"
    emulator.pipelines.return_value = []

    result = DagRunner(emulator)("d")

    assert result.errors == {"a": "ValueError: second", "m[1]": "no exception object"}


def test_the_failure_listener_is_gone_after_the_run() -> None:
    from airflow_provider_dataops.testing import dag_runs

    manager = dag_runs._listener_manager()
    before = set(manager.pm.get_plugins())
    with task_failures():
        assert len(set(manager.pm.get_plugins()) - before) == 1
    assert set(manager.pm.get_plugins()) == before


def test_xcom_reads_a_pushed_value_and_names_what_was_pushed_when_missing() -> None:
    result = DagRunResult(
        dag_id="d",
        run_id="r",
        state="success",
        task_states={"t": "success"},
        pipelines=[],
        xcoms={("t", "return_value"): 7, ("t", "pipeline_url"): "http://x/p/7"},
    )

    assert result.xcom("t") == 7
    assert result.xcom("t", key="pipeline_url") == "http://x/p/7"
    with pytest.raises(
        KeyError, match=r"task 't' pushed no XCom 'nope' in run 'r'; it pushed \['pipeline_url', 'return_value'\]"
    ):
        result.xcom("t", key="nope")
