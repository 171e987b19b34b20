"""Every example DAG, triggered through the REST API with ``logical_date: null`` and with a date.

A null logical date is Airflow 3's default for runs triggered through the API or by an asset:
templates such as ``{{ ds }}`` are undefined then (issue 7, item 3).
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest

from tests.deployment._api import AirflowAPI
from tests.deployment._deployment import Deployment
from tests.deployment._scenario import run_concurrently, settled_pipelines

pytestmark = pytest.mark.deployment

#: Each example's final DAG run state, and the final status of its one pipeline.
EXPECTED = {
    "dataops_trigger_and_wait": "success",
    "dataops_deferrable": "success",
    "dataops_trigger_then_sensor": "success",
    "dataops_create_project_then_run": "success",
    "dataops_failure_report": "failed",
    "dataops_artifacts": "success",
    "dataops_pipeline_task_group": "success",
}
DATES = {"null": None, "dated": "2026-03-01T00:00:00+00:00"}


def _check_run(d: Deployment, dag_id: str, logical_date: str | None) -> None:
    api: AirflowAPI = d.api
    run_id = api.trigger(dag_id, logical_date=logical_date, prefix="example")
    run = api.wait_run(dag_id, run_id, 240)
    expected = EXPECTED[dag_id]
    tis = api.task_instances(dag_id, run_id)
    logs = "\n".join(api.all_logs(dag_id, run_id, ti["task_id"]) for ti in tis)
    assert run["state"] == expected, f"{dag_id} ({logical_date=}) ended {run['state']}:\n{logs}"
    # No try failed on the way (a retry would hide a failing first try).
    assert {ti["task_id"]: ti["try_number"] for ti in tis} == {ti["task_id"]: 1 for ti in tis}, logs
    pipelines = settled_pipelines(d.emulator, dag_id, run_id)
    assert [p["status"] for p in pipelines] == [expected], (pipelines, logs)


def _create_project_twice(d: Deployment) -> None:
    """Sequential: the second run finds the project the first one created (``if_exists="skip"``)."""
    for logical_date in DATES.values():
        _check_run(d, "dataops_create_project_then_run", logical_date)


@pytest.fixture(scope="module")
def example_runs(deployment: Deployment) -> dict[str, Future[Any]]:
    scenarios = {
        f"{dag_id}-{label}": (lambda dag=dag_id, date=date: _check_run(deployment, dag, date))
        for dag_id in EXPECTED
        if dag_id != "dataops_create_project_then_run"
        for label, date in DATES.items()
    }
    scenarios["dataops_create_project_then_run-null-then-dated"] = lambda: _create_project_twice(deployment)
    return run_concurrently(scenarios)


def test_examples_are_loaded(deployment: Deployment) -> None:
    assert deployment.api.import_errors() == []
    assert set(EXPECTED) <= deployment.api.dag_ids()


@pytest.mark.parametrize(
    "name",
    [f"{dag}-{label}" for dag in EXPECTED if dag != "dataops_create_project_then_run" for label in DATES]
    + ["dataops_create_project_then_run-null-then-dated"],
)
def test_example(example_runs: dict[str, Future[Any]], name: str) -> None:
    example_runs[name].result(timeout=420)
