"""dataops_run_dag's argument checks (before anything runs) and its state names."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from unittest import mock

import pytest

from airflow_provider_dataops.api import retry
from airflow_provider_dataops.testing.dag_runs import DagRunner, state_name, virtual_time


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
    emulator = mock.Mock()
    emulator.state.clock.mode = "real"
    emulator.pipelines.return_value = []
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    result = DagRunner(emulator)("d", conf={"a": 1}, logical_date=when)
    run.assert_called_once_with("d", {"a": 1}, when)
    assert (result.state, result.run_id) == ("success", "r")
