"""OpenLineage events and asset events of real DAG runs (``dag.test()``) against the emulator.

The OpenLineage provider's own listener runs, configured like a user would (a file transport in
``[openlineage] transport``); the tests read the events it wrote.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_dataops.emulator import DataOpsEmulator
from airflow_provider_dataops.lineage import PARENT_ID_VARIABLE, ROOT_PARENT_ID_VARIABLE, RUN_FACET_NAME

from .conftest import EXAMPLE_DAGS, CapturedEvents

pytestmark = pytest.mark.integration

#: OpenLineage's default namespace. (The provider reads some namespace settings once per process,
#: so a test cannot change it reliably.)
NAMESPACE = "default"


@pytest.fixture(autouse=True)
def manual_clock(dataops_emulator: DataOpsEmulator) -> None:
    dataops_emulator.set_clock_mode("manual")


def _variables(pipeline: dict[str, Any]) -> dict[str, str]:
    return {variable["key"]: variable["value"] for variable in pipeline["variables"]}


def _facet(event: dict[str, Any]) -> dict[str, Any]:
    facet = dict(event["run"]["facets"][RUN_FACET_NAME])
    assert facet.pop("_schemaURL").endswith("#the-dataops-pipeline-run-facet")
    facet.pop("_producer")
    return facet


def test_trigger_reports_the_pipeline_and_links_it_to_the_task(
    dataops_run_dag: Any, openlineage_events: CapturedEvents, dataops_emulator: DataOpsEmulator
) -> None:
    result = dataops_run_dag("dataops_trigger_and_wait")
    assert result.state == "success"
    [pipeline] = result.pipelines

    events = openlineage_events.for_task("dataops_trigger_and_wait", "run_pipeline")
    assert [event["eventType"] for event in events] == ["START", "COMPLETE"]
    start, complete = events
    assert _facet(start) == {"project": "demo/dataops-project", "ref": "main", "pipelineFile": "full-ci.yml"}
    assert _facet(complete) == {
        "pipelineId": pipeline["id"],
        "webUrl": pipeline["web_url"],
        "project": "demo/dataops-project",
        "ref": "main",
        "sha": pipeline["sha"],
        "pipelineFile": "full-ci.yml",
        "status": "success",
    }

    # The pipeline got the task's run and the DAG run's, as dbt-ol reads them.
    variables = _variables(pipeline)
    run_id, job = complete["run"]["runId"], complete["job"]
    assert variables[PARENT_ID_VARIABLE] == f"{NAMESPACE}/{job['name']}/{run_id}"
    parent = complete["run"]["facets"]["parent"]
    assert variables[ROOT_PARENT_ID_VARIABLE] == (
        f"{parent['job']['namespace']}/{parent['job']['name']}/{parent['run']['runId']}"
    )
    assert parent["job"]["name"] == "dataops_trigger_and_wait"

    # No secret anywhere in what was emitted.
    emitted = openlineage_events.path.read_text()
    assert dataops_emulator.access_token not in emitted
    assert dataops_emulator.trigger_token not in emitted


def test_a_deferred_task_reports_the_final_status_from_the_worker_that_resumed(
    dataops_run_dag: Any, openlineage_events: CapturedEvents
) -> None:
    result = dataops_run_dag("dataops_deferrable")
    assert result.state == "success"
    [pipeline] = result.pipelines
    events = openlineage_events.for_task("dataops_deferrable", "run_pipeline_deferred")
    assert events[-1]["eventType"] == "COMPLETE"
    assert _facet(events[-1])["pipelineId"] == pipeline["id"]
    assert _facet(events[-1])["status"] == "success"
    assert PARENT_ID_VARIABLE in _variables(pipeline)


def test_a_failed_pipeline_is_reported_in_the_fail_event(
    dataops_run_dag: Any, openlineage_events: CapturedEvents
) -> None:
    result = dataops_run_dag("dataops_failure_report")
    assert result.state == "failed"
    [pipeline] = result.pipelines
    [*_, fail] = openlineage_events.for_task("dataops_failure_report", "run_failing_pipeline")
    assert fail["eventType"] == "FAIL"
    assert (_facet(fail)["pipelineId"], _facet(fail)["status"]) == (pipeline["id"], "failed")


def test_without_openlineage_the_pipeline_gets_no_lineage_variables(dataops_run_dag: Any) -> None:
    result = dataops_run_dag("dataops_trigger_and_wait")
    assert result.state == "success"
    assert not {PARENT_ID_VARIABLE, ROOT_PARENT_ID_VARIABLE} & set(_variables(result.pipelines[0]))


def _xcom_return(dag_id: str, run_id: str, task_id: str) -> Any:
    return _xcom(dag_id, run_id, task_id, "return_value")


def _xcom(dag_id: str, run_id: str, task_id: str, key: str) -> Any:
    from airflow.utils.session import create_session

    try:
        from airflow.models.xcom import XComModel as XCom
    except ImportError:  # Airflow 2
        from airflow.models.xcom import BaseXCom as XCom

    with create_session() as session:
        row = (
            session.query(XCom)
            .filter(XCom.dag_id == dag_id, XCom.run_id == run_id, XCom.task_id == task_id, XCom.key == key)
            .one()
        )
        value = row.value
    if not isinstance(value, str | bytes):
        return value
    try:  # stored as JSON text by some Airflow versions
        return json.loads(value)
    except ValueError:
        return value


def _asset_events(uri: str) -> list[dict[str, Any]]:
    """The extras of the asset events recorded for ``uri``, oldest first."""
    from airflow.utils.session import create_session

    try:
        from airflow.models.asset import AssetEvent, AssetModel
    except ImportError:  # Airflow 2
        from airflow.models.dataset import DatasetEvent as AssetEvent  # type: ignore[no-redef]
        from airflow.models.dataset import DatasetModel as AssetModel  # type: ignore[no-redef]

    key = AssetEvent.asset_id if hasattr(AssetEvent, "asset_id") else AssetEvent.dataset_id
    with create_session() as session:
        rows = session.query(AssetEvent).join(AssetModel, AssetModel.id == key).filter(AssetModel.uri == uri).all()
        return [dict(row.extra) for row in sorted(rows, key=lambda row: row.id)]


def _write_assets_like_the_dag_processor() -> None:
    """Airflow 2's ``dag.test()`` writes no datasets to the DB (Airflow 3's does), and drops events of unknown ones."""
    from airflow import __version__ as airflow_version

    if int(airflow_version.split(".")[0]) >= 3:
        return
    from airflow.models.dagbag import DagBag

    DagBag(str(EXAMPLE_DAGS / "example_dataops_assets.py"), include_examples=False).sync_to_db()


def test_the_consumer_dag_gets_the_asset_event_with_the_pipeline(dataops_run_dag: Any) -> None:
    _write_assets_like_the_dag_processor()
    produced = dataops_run_dag("dataops_assets_producer")
    assert produced.state == "success"
    [pipeline] = produced.pipelines

    expected_extra = {
        "pipeline_id": pipeline["id"],
        "web_url": pipeline["web_url"],
        "ref": "main",
        "sha": pipeline["sha"],
        "status": "success",
    }
    # The newest event of the asset (other tests of the session may have run the producer too).
    assert _asset_events("dataops://app.dataops.live/demo/dataops-project?ref=main")[-1] == expected_extra

    consumed = dataops_run_dag("dataops_assets_consumer")
    assert consumed.state == "success"
    assert _xcom_return("dataops_assets_consumer", consumed.run_id, "report_pipeline") == expected_extra


def test_a_server_echoing_the_token_gets_it_into_no_event(
    dataops_run_dag: Any, openlineage_events: CapturedEvents, dataops_emulator: DataOpsEmulator
) -> None:
    """A hostile or broken server puts the token in the pipeline it returns: no event carries it."""
    _write_assets_like_the_dag_processor()  # each test process has a DB of its own
    token = dataops_emulator.access_token
    hostile = {
        "id": 1,
        "status": "success",
        "ref": "main",
        "sha": token,
        "web_url": f"https://evil.example/?token={token}",
    }
    dataops_emulator.inject_fault(
        "status", method="GET", path=r"/pipelines/1$", times=None, status=200, body=json.dumps(hostile)
    )
    result = dataops_run_dag("dataops_assets_producer")
    assert result.state == "success"
    assert token not in openlineage_events.path.read_text()
    assert openlineage_events.for_task("dataops_assets_producer", "run_pipeline")
    [extra] = [
        e for e in _asset_events("dataops://app.dataops.live/demo/dataops-project?ref=main") if e["sha"] == "***"
    ]
    assert extra["web_url"] == "https://evil.example/?token=***"
    assert _xcom("dataops_assets_producer", result.run_id, "run_pipeline", "pipeline_url") == extra["web_url"]
