"""Every example DAG runs with the test kit's ``dataops_run_dag`` and ends in the state it is meant to."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_dataops.emulator import DataOpsEmulator
from airflow_provider_dataops.lineage import PARENT_ID_VARIABLE, RUN_FACET_NAME

from .conftest import CapturedEvents

pytestmark = pytest.mark.integration

EXPECTED = {
    "dataops_trigger_and_wait": ("success", {"run_pipeline": "success"}),
    "dataops_quickstart": ("success", {"run_pipeline": "success"}),
    "dataops_deferrable": ("success", {"run_pipeline_deferred": "success"}),
    "dataops_trigger_then_sensor": ("success", {"start_pipeline": "success", "wait_for_pipeline": "success"}),
    "dataops_create_project_then_run": ("success", {"create_project": "success", "run_pipeline": "success"}),
    "dataops_failure_report": ("failed", {"run_failing_pipeline": "failed"}),
    "dataops_manual_gate": ("success", {"build": "success", "deploy": "success"}),
    "dataops_assets_producer": ("success", {"run_pipeline": "success"}),
    "dataops_pipeline_task_group": (
        "success",
        {
            "nightly.start": "success",
            "nightly.initialise_pipeline": "success",
            "nightly.ingest_source_data": "success",
            "nightly.build_all_models": "success",
            "nightly.generate_docs": "success",
        },
    ),
    "dataops_artifacts": (
        "success",
        {"run_pipeline": "success", "download_run_results": "success", "summarize_run_results": "success"},
    ),
}


@pytest.fixture(autouse=True)
def manual_clock(dataops_emulator: DataOpsEmulator) -> None:
    """As users are advised: the kit moves a manual clock itself, so no test waits for pipelines."""
    dataops_emulator.set_clock_mode("manual")


def test_examples_import_cleanly(example_dag_bag: Any) -> None:
    assert example_dag_bag.import_errors == {}
    assert set(EXPECTED) <= set(example_dag_bag.dag_ids)


@pytest.mark.parametrize("dag_id", list(EXPECTED))
def test_example_reaches_its_state(
    dataops_run_dag: Any, dataops_emulator: DataOpsEmulator, capfd: pytest.CaptureFixture[str], dag_id: str
) -> None:
    state, task_states = EXPECTED[dag_id]
    result = dataops_run_dag(dag_id)
    assert (result.state, result.task_states) == (state, task_states)
    final = "failed" if state == "failed" else "success"
    assert [p["status"] for p in result.pipelines] == [final]
    assert result.pipelines == dataops_emulator.pipelines()
    if dag_id == "dataops_manual_gate":
        [deploy] = [job for job in _jobs(dataops_emulator, result.pipelines[0]["id"]) if job["stage"] == "Deploy"]
        assert (deploy["name"], deploy["status"]) == ("Deploy to Production", "success")
    if dag_id == "dataops_failure_report":
        out, err = capfd.readouterr()
        log = out + err
        assert "failed job(s)" in log
        assert "script_failure" in log
        assert result.pipelines[0]["web_url"] in log
        assert "[failed] Generate Docs :: model.dataops.dim_customers" in log


def test_task_group_example_fails_the_chosen_job_task_and_skips_no_work(dataops_run_dag: Any) -> None:
    result = dataops_run_dag("dataops_pipeline_task_group", conf={"fail_job": "Build all Models"})
    assert result.state == "failed"
    assert result.task_states == {
        "nightly.start": "success",
        "nightly.initialise_pipeline": "success",
        "nightly.ingest_source_data": "success",
        "nightly.build_all_models": "failed",
        "nightly.generate_docs": "upstream_failed",
    }
    assert [p["status"] for p in result.pipelines] == ["failed"]


def test_trigger_and_wait_example_pushes_the_test_summary(dataops_run_dag: Any) -> None:
    from airflow.utils.session import create_session

    try:
        from airflow.models.xcom import XComModel as XCom
    except ImportError:  # Airflow 2
        from airflow.models.xcom import BaseXCom as XCom

    result = dataops_run_dag("dataops_trigger_and_wait")
    assert result.state == "success"
    with create_session() as session:
        (summary,) = session.query(XCom).filter(XCom.run_id == result.run_id, XCom.key == "test_summary").all()
        value = summary.value if isinstance(summary.value, dict) else json.loads(summary.value)
    assert value == {"total": 3, "success": 3, "failed": 0, "skipped": 0, "error": 0}


def test_artifacts_example_reads_the_downloaded_run_results(
    dataops_run_dag: Any, dataops_emulator: DataOpsEmulator, openlineage_events: CapturedEvents
) -> None:
    """Trigger, artifact download, a task reading run_results.json: test summary in XCom, lineage events."""
    from airflow.utils.session import create_session

    try:
        from airflow.models.xcom import XComModel as XCom
    except ImportError:  # Airflow 2
        from airflow.models.xcom import BaseXCom as XCom

    result = dataops_run_dag("dataops_artifacts")
    assert result.state == "success"
    [pipeline] = result.pipelines
    with create_session() as session:
        rows = session.query(XCom).filter(XCom.run_id == result.run_id).all()
        values = {(x.task_id, x.key): x.value for x in rows if x.key in ("test_summary", "return_value")}
    values = {key: json.loads(value) if isinstance(value, str) else value for key, value in values.items()}
    assert values[("run_pipeline", "test_summary")] == {"total": 3, "success": 3, "failed": 0, "skipped": 0, "error": 0}
    downloaded = values[("download_run_results", "return_value")]
    [docs_job] = [job for job in _jobs(dataops_emulator, pipeline["id"]) if job["name"] == "Generate Docs"]
    assert (downloaded["pipeline_id"], downloaded["job_id"]) == (pipeline["id"], docs_job["id"])
    path = Path(downloaded["path"])
    assert path.name == "run_results.json"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == downloaded["sha256"]
    assert downloaded["size"] == path.stat().st_size
    assert values[("summarize_run_results", "return_value")] == {
        "pipeline_id": pipeline["id"],
        "sha256": downloaded["sha256"],
        "statuses": {"success": 3},
        "not_successful": [],
    }
    shutil.rmtree(path.parent)

    # Every task reported its run to OpenLineage; the pipeline task's events describe the pipeline,
    # and the pipeline got that task's run as its parent.
    tasks = ("run_pipeline", "download_run_results", "summarize_run_results")
    events = {task: openlineage_events.for_task("dataops_artifacts", task) for task in tasks}
    assert {task: [e["eventType"] for e in found] for task, found in events.items()} == {
        task: ["START", "COMPLETE"] for task in tasks
    }
    complete = events["run_pipeline"][-1]
    facet = complete["run"]["facets"][RUN_FACET_NAME]
    assert (facet["pipelineId"], facet["status"], facet["sha"]) == (pipeline["id"], "success", pipeline["sha"])
    variables = {v["key"]: v["value"] for v in pipeline["variables"]}
    assert (
        variables[PARENT_ID_VARIABLE]
        == f"{complete['job']['namespace']}/{complete['job']['name']}/{complete['run']['runId']}"
    )
    roots = {e["run"]["facets"]["parent"]["root"]["run"]["runId"] for found in events.values() for e in found}
    assert len(roots) == 1  # one DAG run


def _jobs(emulator: DataOpsEmulator, pipeline_id: int) -> list[dict[str, Any]]:
    import requests

    url = f"{emulator.api_url}/projects/1/pipelines/{pipeline_id}/jobs"
    return requests.get(url, headers={"PRIVATE-TOKEN": emulator.access_token}, timeout=10).json()


def test_create_project_example_is_idempotent(dataops_run_dag: Any) -> None:
    first = dataops_run_dag("dataops_create_project_then_run")
    second = dataops_run_dag("dataops_create_project_then_run")  # finds the project (if_exists="skip")
    assert (first.state, second.state) == ("success", "success")
    assert [p["project"] for p in first.pipelines + second.pipelines] == ["demo/sales-mart"] * 2
    assert first.pipelines[0]["id"] != second.pipelines[0]["id"]


def test_no_token_in_xcom_or_rendered_fields(dataops_run_dag: Any, dataops_emulator: DataOpsEmulator) -> None:
    """After a real run, neither token appears in any XCom value or rendered template field."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    try:
        from airflow.models.xcom import XComModel as XCom
    except ImportError:  # Airflow 2
        from airflow.models.xcom import BaseXCom as XCom

    result = dataops_run_dag("dataops_trigger_then_sensor")
    assert result.state == "success"
    with create_session() as session:
        xcoms = session.query(XCom).filter(XCom.run_id == result.run_id).all()
        rendered = (
            session.query(RenderedTaskInstanceFields).filter(RenderedTaskInstanceFields.run_id == result.run_id).all()
        )
        stored = [str(x.value) for x in xcoms] + [str(r.rendered_fields) for r in rendered]
    assert {x.key for x in xcoms} >= {"pipeline_id", "pipeline_url", "return_value"}
    assert len(rendered) == 2
    for token in (dataops_emulator.access_token, dataops_emulator.trigger_token):
        assert not [value for value in stored if token in value]


def test_airflow_providers_list_shows_the_provider(dataops_airflow: Any) -> None:
    import subprocess
    import sys
    from pathlib import Path

    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(airflow), "providers", "list", "--output", "json"], capture_output=True, text=True, check=True
    )
    assert '"package_name": "airflow-provider-dataops"' in result.stdout.replace("'", '"')


def test_job_logs_example_streams_a_two_level_pipeline(
    dataops_run_dag: Any, dataops_emulator: DataOpsEmulator, capfd: pytest.CaptureFixture[str]
) -> None:
    result = dataops_run_dag("dataops_job_logs")
    assert (result.state, result.task_states) == ("success", {"run_pipeline_with_logs": "success"})
    parent, child = result.pipelines
    assert child["status"] == parent["status"] == "success"
    out, err = capfd.readouterr()
    # Airflow 3's dag.test() writes the task's log to its log file; Airflow 2 prints it.
    task_logs = Path(os.environ["AIRFLOW_HOME"], "logs").rglob("*")
    log = out + err + "".join(path.read_text(errors="replace") for path in task_logs if path.is_file())
    assert "[Build all Models] [INFO] 3 of 3 OK created sql table model TRANSFORM.DIM_CUSTOMERS" in log
    assert f"[pipeline {child['id']}: Build all Models] [INFO] 3 of 3 OK" in log
    assert '[Initialise Pipeline] == Executing "step_script" stage of the job script ==' in log
    assert "\x1b[" not in "\n".join(line for line in log.splitlines() if "] [INFO]" in line)
