"""DataOpsPipelineSensor and DataOpsCreateProjectOperator against a mocked API."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import requests_mock as rm
from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSensorTimeout, TaskDeferred

from airflow_provider_dataops.errors import DataOpsAuthenticationError, DataOpsConfigError, DataOpsError
from airflow_provider_dataops.operators.project import (
    DataOpsCreateProjectOperator,
    DataOpsProjectExistsError,
    derive_path,
)
from airflow_provider_dataops.sensors.pipeline import DataOpsPipelineSensor
from airflow_provider_dataops.triggers.pipeline import DataOpsPipelineTrigger

from .conftest import API
from .test_pipeline_operator import PROJECT, make_context, pipeline

# -- sensor -------------------------------------------------------------------------------------


def sensor(**kwargs: Any) -> DataOpsPipelineSensor:
    return DataOpsPipelineSensor(
        **{"task_id": "s", "project": "demo/p", "pipeline_id": 7, "poke_interval": 5, **kwargs}
    )


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"ref": "main"}, "exactly one of"),
        ({"pipeline_id": None}, "exactly one of"),
        ({"pipeline_id": "abc"}, "pipeline_id"),
        ({"project": ""}, "project"),
        ({"manual_policy": "x"}, "manual_policy"),
    ],
)
def test_sensor_arguments(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(DataOpsConfigError, match=fragment):
        sensor(**kwargs)


def test_sensor_accepts_a_templated_pipeline_id() -> None:
    assert sensor(pipeline_id="{{ ti.xcom_pull(task_ids='trigger', key='pipeline_id') }}").pipeline_id


@pytest.mark.parametrize(("status", "expected"), [("running", False), ("canceling", False), ("success", True)])
def test_poke(hook, requests_mock: rm.Mocker, status: str, expected: bool) -> None:
    requests_mock.get(f"{PROJECT}/pipelines/7", json=pipeline(7, status))
    context = make_context()
    assert sensor().poke(context) is expected
    context["ti"].xcom_push.assert_any_call(key="pipeline_url", value="https://x/demo/p/-/pipelines/7")


@pytest.mark.parametrize("status", ["failed", "canceled", "skipped", "manual"])
def test_poke_fails_at_once_on_failure_statuses(hook, requests_mock: rm.Mocker, status: str) -> None:
    requests_mock.get(f"{PROJECT}/pipelines/7", json=pipeline(7, status))
    requests_mock.get(f"{PROJECT}/pipelines/7/jobs", json=[])
    with pytest.raises(AirflowFailException, match=f"ended as {status}"):
        sensor().poke(make_context())


def test_manual_wait_keeps_poking(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{PROJECT}/pipelines/7", json=pipeline(7, "manual"))
    assert sensor(manual_policy="wait").poke(make_context()) is False


@pytest.mark.parametrize("failure", [{"status_code": 503, "text": "down"}, {"exc": requests.ConnectionError("reset")}])
def test_transient_errors_make_the_poke_return_false(
    hook, requests_mock: rm.Mocker, sleeps: list[float], failure: dict
) -> None:
    requests_mock.get(f"{PROJECT}/pipelines/7", **failure)
    assert sensor().poke(make_context()) is False
    assert requests_mock.call_count == 8  # the hook retried first


def test_permanent_errors_raise(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{PROJECT}/pipelines/7", status_code=401, json={"message": "401 Unauthorized"})
    with pytest.raises(DataOpsAuthenticationError):
        sensor().poke(make_context())


def test_soft_fail_turns_a_failed_pipeline_into_a_skip(hook, requests_mock: rm.Mocker) -> None:
    from airflow.providers.common.compat.sdk import AirflowSkipException

    requests_mock.get(f"{PROJECT}/pipelines/7", json=pipeline(7, "failed"))
    requests_mock.get(f"{PROJECT}/pipelines/7/jobs", json=[])
    with pytest.raises(AirflowSkipException):
        sensor(soft_fail=True).execute(make_context())


def test_ref_watches_the_newest_pipeline(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{PROJECT}/pipelines", [{"json": []}, {"json": [pipeline(12, "running")]}])
    requests_mock.get(f"{PROJECT}/pipelines/12", json=pipeline(12, "success"))
    probe = sensor(pipeline_id=None, ref="main")
    assert probe.poke(make_context()) is False  # no pipeline on the ref yet
    assert probe.poke(make_context()) is True
    listing = requests_mock.request_history[0]
    assert listing.qs == {"ref": ["main"], "order_by": ["id"], "sort": ["desc"], "per_page": ["1"]}


def test_deferrable_sensor_defers_without_cancel_on_kill(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{PROJECT}/pipelines/7", json=pipeline(7, "running"))
    with pytest.raises(TaskDeferred) as deferred:
        sensor(deferrable=True, timeout=60).execute(make_context())
    assert isinstance(deferred.value.trigger, DataOpsPipelineTrigger)
    kwargs = deferred.value.trigger.serialize()[1]
    assert kwargs["cancel_on_kill"] is False
    assert kwargs["poll_interval"] == 5


def test_sensor_execute_complete(hook, requests_mock: rm.Mocker) -> None:
    probe = sensor(deferrable=True)
    probe.execute_complete(make_context(), {"status": "success", "pipeline_id": 7})
    with pytest.raises(AirflowSensorTimeout):
        probe.execute_complete(make_context(), {"status": "timeout", "pipeline_id": 7, "message": "late"})
    with pytest.raises(DataOpsError, match="unexpected event"):
        probe.execute_complete(make_context(), None)
    requests_mock.get(f"{PROJECT}/pipelines/7", json=pipeline(7, "failed"))
    requests_mock.get(f"{PROJECT}/pipelines/7/jobs", json=[])
    with pytest.raises(AirflowFailException):
        probe.execute_complete(make_context(), {"status": "failure", "pipeline_id": 7})


# -- create project -----------------------------------------------------------------------------

NS = {"id": 3, "full_path": "demo", "kind": "group"}
USER = {"id": 1, "username": "dataops-user"}
# Created by the token's user after make_context()'s DAG run started (08:00).
CREATED = {
    "id": 44,
    "path_with_namespace": "demo/sales-mart",
    "web_url": "https://x/demo/sales-mart",
    "creator_id": 1,
    "created_at": "2026-11-28T08:05:00.000Z",
}
# There before the DAG run started, or made by someone else.
FOREIGN = {**CREATED, "creator_id": 2}


@pytest.fixture
def api(hook, requests_mock: rm.Mocker) -> rm.Mocker:
    """The token's user and the demo namespace, as every create reads them first."""
    requests_mock.get(f"{API}/user", json=USER)
    requests_mock.get(f"{API}/namespaces/demo", json=NS)
    return requests_mock


def create(**kwargs: Any) -> DataOpsCreateProjectOperator:
    return DataOpsCreateProjectOperator(**{"task_id": "c", "name": "Sales Mart", "namespace": "demo", **kwargs})


def test_derive_path() -> None:
    assert derive_path("Sales Mart") == "sales-mart"
    assert derive_path("  Data -- Ops!! 2026 ") == "data-ops-2026"
    with pytest.raises(DataOpsConfigError, match="path"):
        derive_path("!!!")


def test_project_arguments() -> None:
    with pytest.raises(DataOpsConfigError, match="if_exists"):
        create(if_exists="replace")
    with pytest.raises(DataOpsConfigError, match="name"):
        create(name="")


def test_creates_when_absent_and_publishes(api: rm.Mocker) -> None:
    api.get(f"{API}/projects/demo%2Fsales-mart", status_code=404, json={"message": "404 Project Not Found"})
    api.post(f"{API}/projects", json=CREATED, status_code=201)
    context = make_context()
    assert create(default_branch="main", visibility="private").execute(context) == 44
    assert api.last_request.json() == {
        "name": "Sales Mart",
        "path": "sales-mart",
        "namespace_id": 3,
        "default_branch": "main",
        "visibility": "private",
    }
    context["ti"].xcom_push.assert_any_call(key="project_id", value=44)
    context["ti"].xcom_push.assert_any_call(key="project_path", value="demo/sales-mart")
    context["ti"].xcom_push.assert_any_call(key="project_url", value="https://x/demo/sales-mart")


@pytest.mark.parametrize(("if_exists", "outcome"), [("skip", 44), ("fail", DataOpsProjectExistsError)])
def test_existing_project(api: rm.Mocker, if_exists: str, outcome: Any) -> None:
    api.get(f"{API}/projects/demo%2Fsales-mart", json=FOREIGN)
    if outcome == 44:
        assert create(if_exists=if_exists).execute(make_context()) == 44
    else:
        with pytest.raises(outcome, match="already exists"):
            create(if_exists=if_exists).execute(make_context())
    assert not [r for r in api.request_history if r.method == "POST"]


@pytest.mark.parametrize(
    "refusal",
    [
        {
            "status_code": 400,
            "json": {"message": {"name": ["has already been taken"], "path": ["has already been taken"]}},
        },
        {"status_code": 409, "json": {"message": "409 Conflict"}},
    ],
)
def test_created_by_someone_else_in_between_counts_as_existing(api: rm.Mocker, refusal: dict) -> None:
    api.get(
        f"{API}/projects/demo%2Fsales-mart",
        [{"status_code": 404, "json": {"message": "404 Project Not Found"}}, {"json": FOREIGN}],
    )
    api.post(f"{API}/projects", **refusal)
    assert create(if_exists="skip").execute(make_context()) == 44


def test_lost_answer_to_create_is_reconciled_by_path(api: rm.Mocker) -> None:
    api.get(
        f"{API}/projects/dataops-user%2Fsales-mart",
        [
            {"status_code": 404, "json": {"message": "404 Project Not Found"}},
            {"json": {**CREATED, "path_with_namespace": "dataops-user/sales-mart"}},
        ],
    )
    api.post(f"{API}/projects", exc=requests.ReadTimeout("read timed out"))
    assert create(namespace=None).execute(make_context()) == 44
    assert len([r for r in api.request_history if r.method == "POST"]) == 1


def test_deferrable_sensor_soft_fail_applies_to_its_first_poke(hook, requests_mock: rm.Mocker) -> None:
    from airflow.providers.common.compat.sdk import AirflowSkipException

    requests_mock.get(f"{PROJECT}/pipelines/7", json=pipeline(7, "failed"))
    requests_mock.get(f"{PROJECT}/pipelines/7/jobs", json=[])
    with pytest.raises(AirflowSkipException):
        sensor(deferrable=True, soft_fail=True).execute(make_context())
    with pytest.raises(AirflowFailException):
        sensor(deferrable=True).execute(make_context())


def test_deferrable_sensor_defers_by_ref_when_no_pipeline_exists_yet(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{PROJECT}/pipelines", json=[])
    with pytest.raises(TaskDeferred) as deferred:
        sensor(pipeline_id=None, ref="main", deferrable=True).execute(make_context())
    kwargs = deferred.value.trigger.serialize()[1]
    assert (kwargs["pipeline_id"], kwargs["ref"]) == (None, "main")


def test_deferrable_sensor_defers_through_a_transient_first_poke(
    hook, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.get(f"{PROJECT}/pipelines/7", status_code=503, text="down")
    with pytest.raises(TaskDeferred) as deferred:
        sensor(deferrable=True).execute(make_context())
    assert deferred.value.trigger.serialize()[1]["pipeline_id"] == 7


def test_deferred_sensor_publishes_the_pipeline_the_trigger_found(hook) -> None:
    context = make_context()
    sensor(pipeline_id=None, ref="main", deferrable=True).execute_complete(
        context, {"status": "success", "pipeline_id": 12, "web_url": "https://x/-/pipelines/12"}
    )
    context["ti"].xcom_push.assert_any_call(key="pipeline_id", value=12)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"visibility": "secret"}, "visibility"),
        ({"default_branch": "refs/heads/main"}, "default_branch"),
        ({"description": 5}, "description"),
        ({"path": "bad path"}, "path"),
        ({"namespace": "../x"}, "namespace"),
        ({"initialize_with_readme": "yes"}, "initialize_with_readme"),
        ({"hook_params": {"retry_policy": {"tries": 1}}}, "hook_params"),
    ],
)
def test_project_arguments_fail_at_parse_time(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(DataOpsConfigError, match=fragment):
        create(**kwargs)


def test_templated_project_arguments_are_checked_before_any_request(hook, requests_mock: rm.Mocker) -> None:
    op = create(name="{{ params.name }}", visibility="private")
    op.name, op.visibility = "Sales", "secret"  # as rendered / changed after parsing
    with pytest.raises(DataOpsConfigError, match="visibility"):
        op.execute(make_context())
    assert requests_mock.call_count == 0


def test_a_moved_projects_old_path_counts_as_free(api: rm.Mocker) -> None:
    api.get(f"{API}/projects/demo%2Fsales-mart", json={**CREATED, "path_with_namespace": "other/sales-mart"})
    api.post(f"{API}/projects", json=CREATED, status_code=201)
    assert create().execute(make_context()) == 44
    assert api.last_request.method == "POST"


def test_retry_accepts_the_project_its_earlier_try_created(api: rm.Mocker) -> None:
    from .test_pipeline_operator import FakeStateStore

    api.get(f"{API}/projects/demo%2Fsales-mart", json=CREATED)
    context = make_context(try_number=2)
    context["task_state_store"] = FakeStateStore(dataops_created_project_id=44)
    assert create(if_exists="fail").execute(context) == 44
