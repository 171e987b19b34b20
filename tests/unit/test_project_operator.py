"""DataOpsCreateProjectOperator after a slow create: reconciling, and knowing its own project on a retry."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import requests
import requests_mock as rm

from airflow_provider_dataops.errors import DataOpsRequestMaybeAppliedError
from airflow_provider_dataops.operators.project import (
    CREATE_SENT_KEY,
    CREATED_PROJECT_KEY,
    DataOpsCreateProjectOperator,
    DataOpsProjectExistsError,
)

from .conftest import API
from .test_pipeline_operator import FakeStateStore, make_context
from .test_sensor_and_project import CREATED, NS, USER

PROJECT_URL = f"{API}/projects/demo%2Fsales-mart"
NOT_FOUND = {"status_code": 404, "json": {"message": "404 Project Not Found"}}
RUN_START = datetime.datetime(2026, 11, 28, 8, 0, tzinfo=datetime.timezone.utc)  # make_context()'s


def create(**kwargs: Any) -> DataOpsCreateProjectOperator:
    return DataOpsCreateProjectOperator(
        **{"task_id": "c", "name": "Sales Mart", "namespace": "demo", "if_exists": "fail", **kwargs}
    )


def posts(requests_mock: rm.Mocker) -> int:
    return len([r for r in requests_mock.request_history if r.method == "POST"])


def lookups(requests_mock: rm.Mocker) -> int:
    return len([r for r in requests_mock.request_history if r.method == "GET" and r.url == PROJECT_URL])


@pytest.fixture
def api(hook: Any, requests_mock: rm.Mocker) -> rm.Mocker:
    requests_mock.get(f"{API}/user", json=USER)
    requests_mock.get(f"{API}/namespaces/demo", json=NS)
    return requests_mock


def at(minutes_after_run_start: float) -> str:
    moment = RUN_START + datetime.timedelta(minutes=minutes_after_run_start)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- try 1: a create whose answer was lost --------------------------------------------------------


def test_a_slow_create_is_looked_for_until_it_appears(api: rm.Mocker, sleeps: list[float]) -> None:
    # The project shows up on the third look after the lost answer.
    api.get(PROJECT_URL, [NOT_FOUND, NOT_FOUND, NOT_FOUND, {"json": CREATED}])
    api.post(f"{API}/projects", exc=requests.ReadTimeout("read timed out"))
    context = make_context()
    assert create().execute(context) == 44
    assert posts(api) == 1
    assert sleeps == [5.0, 5.0]
    context["ti"].xcom_push.assert_any_call(key="project_id", value=44)


def test_a_create_that_never_appears_raises_after_the_read_timeout_plus_a_margin(
    api: rm.Mocker, sleeps: list[float]
) -> None:
    api.get(PROJECT_URL, **NOT_FOUND)
    api.post(f"{API}/projects", exc=requests.ReadTimeout("read timed out"))
    with pytest.raises(DataOpsRequestMaybeAppliedError):
        create().execute(make_context())
    assert posts(api) == 1
    # Read timeout 30 s + 10 s margin: looks at 0, 5, ..., 40 s.
    assert sum(sleeps) == 40.0
    assert lookups(api) == 1 + 9


def test_the_create_is_recorded_in_the_state_store_before_it_is_sent(api: rm.Mocker, sleeps: list[float]) -> None:
    api.get(PROJECT_URL, **NOT_FOUND)
    store = FakeStateStore()

    def lost(request: Any, context: Any) -> None:
        assert store[CREATE_SENT_KEY]["path"] == "demo/sales-mart"  # already on record when sending
        raise requests.ReadTimeout("read timed out")

    api.post(f"{API}/projects", json=lost)
    with pytest.raises(DataOpsRequestMaybeAppliedError):
        create().execute({**make_context(), "task_state_store": store})
    assert CREATED_PROJECT_KEY not in store


# -- try 2: the project an earlier try created ------------------------------------------------------


def test_retry_without_a_state_store_knows_its_project_by_creator_and_time(api: rm.Mocker) -> None:
    # Airflow before 3.3: try 1 lost the answer and gave up; the project appeared later.
    api.get(PROJECT_URL, json={**CREATED, "created_at": at(1)})
    assert create().execute(make_context(try_number=2)) == 44
    assert posts(api) == 0


@pytest.mark.parametrize(
    ("project", "why"),
    [
        ({**CREATED, "creator_id": 2}, "another user made it"),
        ({**CREATED, "created_at": at(-3)}, "it predates the DAG run (beyond the 2-minute margin)"),
        ({k: v for k, v in CREATED.items() if k != "creator_id"}, "its creator is not known"),
        ({**CREATED, "created_at": None}, "its creation time is not known"),
    ],
)
def test_retry_without_a_state_store_fails_on_a_project_that_is_not_its_own(
    api: rm.Mocker, project: dict[str, Any], why: str
) -> None:
    api.get(PROJECT_URL, json=project)
    with pytest.raises(DataOpsProjectExistsError, match="already exists"):
        create().execute(make_context(try_number=2))


def test_a_project_created_just_before_the_run_started_is_within_the_margin(api: rm.Mocker) -> None:
    api.get(PROJECT_URL, json={**CREATED, "created_at": at(-1.5)})
    assert create().execute(make_context(try_number=2)) == 44


def test_retry_after_a_clear_knows_its_project_from_the_state_store(api: rm.Mocker) -> None:
    # Try 1 sent the create at 08:01 and lost the answer; the task was cleared, and the DAG run
    # "started" again at 09:00, after the project was made. Only the store can tell.
    api.get(PROJECT_URL, json={**CREATED, "created_at": at(1.5)})
    context = make_context(try_number=3)
    context["dag_run"].start_date = RUN_START + datetime.timedelta(hours=1)
    store = FakeStateStore({CREATE_SENT_KEY: {"path": "demo/sales-mart", "sent_at": at(1)}})
    assert create().execute({**context, "task_state_store": store}) == 44
    assert store[CREATED_PROJECT_KEY] == 44
    assert posts(api) == 0


@pytest.mark.parametrize(
    "record",
    [
        None,  # this task instance never sent a create (a mapped sibling with the same path did)
        {"path": "demo/other-mart", "sent_at": at(1)},
        {"path": "demo/sales-mart", "sent_at": at(10)},  # the project predates this task's create
    ],
)
def test_with_a_state_store_only_its_own_create_counts(api: rm.Mocker, record: dict[str, Any] | None) -> None:
    api.get(PROJECT_URL, json={**CREATED, "created_at": at(1.5)})
    store = FakeStateStore({CREATE_SENT_KEY: record} if record else {})
    with pytest.raises(DataOpsProjectExistsError):
        create().execute({**make_context(try_number=2), "task_state_store": store})


def test_an_earlier_record_for_the_same_path_is_kept(api: rm.Mocker) -> None:
    # Try 1's create may be the one that lands; try 2 sending again must not move the record later.
    api.get(PROJECT_URL, [NOT_FOUND, {"json": {**CREATED, "created_at": at(1.5)}}])
    api.post(f"{API}/projects", status_code=400, json={"message": {"path": ["has already been taken"]}})
    store = FakeStateStore({CREATE_SENT_KEY: {"path": "demo/sales-mart", "sent_at": at(1)}})
    assert create().execute({**make_context(try_number=2), "task_state_store": store}) == 44
    assert store[CREATE_SENT_KEY]["sent_at"] == at(1)


def test_first_try_create_stores_the_id(api: rm.Mocker) -> None:
    api.get(PROJECT_URL, **NOT_FOUND)
    api.post(f"{API}/projects", json=CREATED, status_code=201)
    store = FakeStateStore()
    assert create().execute({**make_context(), "task_state_store": store}) == 44
    assert store[CREATED_PROJECT_KEY] == 44
