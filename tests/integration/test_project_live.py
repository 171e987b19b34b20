"""DataOpsCreateProjectOperator against the emulator when the create takes effect after the client gave up."""

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest

from airflow_provider_dataops.emulator import DataOpsEmulator
from airflow_provider_dataops.errors import DataOpsNotFoundError, DataOpsRequestMaybeAppliedError
from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.operators.project import (
    CREATE_SENT_KEY,
    DataOpsCreateProjectOperator,
    DataOpsProjectExistsError,
)

from .conftest import task_context

pytestmark = [pytest.mark.integration]

CREATE_PATH = r"^/api/v4/projects$"
FULL_PATH = "demo/slow-mart"


class StateStore(dict):  # type: ignore[type-arg]
    """Airflow 3.3's task_state_store accessor (get/set), kept across tries like the real one."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value


@pytest.fixture(autouse=True)
def real_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wait for real, briefly: the emulator commits the slow create while the operator looks."""
    monkeypatch.setattr("airflow_provider_dataops.api.retry.sleep", time.sleep)
    monkeypatch.setattr("airflow_provider_dataops.operators.reconcile.RECONCILE_DELAY", 0.25)


def create_op(**kwargs: Any) -> DataOpsCreateProjectOperator:
    defaults: dict[str, Any] = {
        "task_id": "it_task",
        "name": "Slow Mart",
        "namespace": "demo",
        "if_exists": "fail",
        "hook_params": {"timeout": 0.5},
    }
    return DataOpsCreateProjectOperator(**{**defaults, **kwargs})


def projects_at(path: str) -> list[int]:
    try:
        return [int(DataOpsHook().get_project(path)["id"])]
    except DataOpsNotFoundError:
        return []


def wait_for_project(path: str, seconds: float = 10.0) -> int:
    deadline = time.monotonic() + seconds
    while not (found := projects_at(path)):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)
    return found[0]


def test_a_slow_create_is_found_by_the_same_try(
    dataops_connection_env: DataOpsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server takes 1.5 s; the client gives up after 0.5 s and looks for 0.5 + 3 s.
    monkeypatch.setattr("airflow_provider_dataops.operators.reconcile.RECONCILE_MARGIN", 3.0)
    dataops_connection_env.inject_fault("latency", method="POST", path=CREATE_PATH, seconds=1.5, times=1)
    project_id = create_op().execute(task_context())
    assert projects_at(FULL_PATH) == [project_id]
    posts = [r for r in dataops_connection_env.requests() if r["method"] == "POST"]
    assert len(posts) == 1


@pytest.mark.parametrize("with_store", [False, True], ids=["airflow<3.3", "task_state_store"])
def test_a_create_that_lands_after_try_1_gave_up_counts_as_created_on_try_2(
    dataops_connection_env: DataOpsEmulator, monkeypatch: pytest.MonkeyPatch, with_store: bool
) -> None:
    # Try 1 looks for 0.5 s only; the server commits at 2 s, after try 1 has failed.
    monkeypatch.setattr("airflow_provider_dataops.operators.reconcile.RECONCILE_MARGIN", 0.0)
    dataops_connection_env.inject_fault("latency", method="POST", path=CREATE_PATH, seconds=2.0, times=1)
    store = StateStore()
    first = task_context(try_number=1)
    with pytest.raises(DataOpsRequestMaybeAppliedError):
        create_op().execute({**first, "task_state_store": store} if with_store else first)
    project_id = wait_for_project(FULL_PATH)
    second = task_context(try_number=2)
    second["dag_run"] = first["dag_run"]  # a retry: the same DAG run
    assert create_op().execute({**second, "task_state_store": store} if with_store else second) == project_id
    assert projects_at(FULL_PATH) == [project_id]
    assert len([r for r in dataops_connection_env.requests() if r["method"] == "POST"]) == 1


def test_after_a_clear_the_state_store_still_knows_the_project(
    dataops_connection_env: DataOpsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("airflow_provider_dataops.operators.reconcile.RECONCILE_MARGIN", 0.0)
    dataops_connection_env.inject_fault("latency", method="POST", path=CREATE_PATH, seconds=2.0, times=1)
    store = StateStore()
    with pytest.raises(DataOpsRequestMaybeAppliedError):
        create_op().execute({**task_context(), "task_state_store": store})
    project_id = wait_for_project(FULL_PATH)
    assert store[CREATE_SENT_KEY]["path"] == FULL_PATH
    # The clear restarts the DAG run after the project was made; the store outlives the clear.
    # (Measured on the emulator's clock, which earlier tests may have moved forward.)
    created_at = datetime.datetime.fromisoformat(
        DataOpsHook().get_project(FULL_PATH)["created_at"].replace("Z", "+00:00")
    )
    cleared = task_context(try_number=2)
    cleared["dag_run"].start_date = created_at + datetime.timedelta(minutes=5)
    assert create_op().execute({**cleared, "task_state_store": store}) == project_id
    # Without the store, the same clear sees a project that predates the run: not this task's.
    with pytest.raises(DataOpsProjectExistsError):
        create_op().execute(cleared)
