"""Every example DAG runs with dag.test() against the emulator and ends in the state it is meant to."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_dataops.emulator import DataOpsEmulator

pytestmark = pytest.mark.integration

EXPECTED = {
    "dataops_trigger_and_wait": ("success", 1),
    "dataops_deferrable": ("success", 1),
    "dataops_trigger_then_sensor": ("success", 1),
    "dataops_create_project_then_run": ("success", 1),
    "dataops_failure_report": ("failed", 1),
    "dataops_manual_gate": ("success", 1),
}


def test_examples_import_cleanly(example_dag_bag: Any) -> None:
    assert example_dag_bag.import_errors == {}
    assert set(EXPECTED) <= set(example_dag_bag.dag_ids)


@pytest.mark.parametrize("dag_id", list(EXPECTED))
def test_example_reaches_its_state(
    example_dag_bag: Any, dataops_connection_env: DataOpsEmulator, capfd: pytest.CaptureFixture[str], dag_id: str
) -> None:
    state, pipelines = EXPECTED[dag_id]
    dag_run = example_dag_bag.get_dag(dag_id).test()
    assert dag_run.state == state
    created = dataops_connection_env.pipelines()
    assert len(created) == pipelines
    final = "failed" if state == "failed" else "success"
    assert [p["status"] for p in created] == [final]
    if dag_id == "dataops_manual_gate":
        [deploy] = [job for job in _jobs(dataops_connection_env, created[0]["id"]) if job["stage"] == "Deploy"]
        assert (deploy["name"], deploy["status"]) == ("Deploy to Production", "success")
    if dag_id == "dataops_failure_report":
        out, err = capfd.readouterr()
        log = out + err
        assert "failed job(s)" in log
        assert "script_failure" in log
        assert created[0]["web_url"] in log


def _jobs(emulator: DataOpsEmulator, pipeline_id: int) -> list[dict[str, Any]]:
    import requests

    url = f"{emulator.api_url}/projects/1/pipelines/{pipeline_id}/jobs"
    return requests.get(url, headers={"PRIVATE-TOKEN": emulator.access_token}, timeout=10).json()


def test_create_project_example_is_idempotent(example_dag_bag: Any, dataops_connection_env: DataOpsEmulator) -> None:
    dag = example_dag_bag.get_dag("dataops_create_project_then_run")
    assert dag.test().state == "success"
    assert dag.test().state == "success"  # the second run finds the project (if_exists="skip")
    assert [p["project"] for p in dataops_connection_env.pipelines()] == ["demo/sales-mart"] * 2


def test_no_token_in_xcom_or_rendered_fields(example_dag_bag: Any, dataops_connection_env: DataOpsEmulator) -> None:
    """After a real run, neither token appears in any XCom value or rendered template field."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    dag_run = example_dag_bag.get_dag("dataops_trigger_then_sensor").test()
    assert dag_run.state == "success"
    with create_session() as session:
        xcoms = session.query(XComModel).filter(XComModel.run_id == dag_run.run_id).all()
        rendered = (
            session.query(RenderedTaskInstanceFields).filter(RenderedTaskInstanceFields.run_id == dag_run.run_id).all()
        )
        stored = [str(x.value) for x in xcoms] + [str(r.rendered_fields) for r in rendered]
    assert {x.key for x in xcoms} >= {"pipeline_id", "pipeline_url", "return_value"}
    assert len(rendered) == 2
    for token in (dataops_connection_env.access_token, dataops_connection_env.trigger_token):
        assert not [value for value in stored if token in value]


def test_airflow_providers_list_shows_the_provider(airflow_db: None) -> None:
    import subprocess
    import sys
    from pathlib import Path

    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(airflow), "providers", "list", "--output", "json"], capture_output=True, text=True, check=True
    )
    assert '"package_name": "airflow-provider-dataops"' in result.stdout.replace("'", '"')
