"""Manual gates and on_running in a real deployment, through /api/v2 only.

* The approval example (``example_dags/example_dataops_approval.py``), answered through the REST
  API both ways: approved, the job is played once and the pipeline succeeds; rejected, the pipeline
  is canceled and the deploy task skipped.
* The play-job operator's contract rows that need a real Airflow (``dags/deployment_control.py``):
  a clear or a mark of the task while it waits on the played job cancels the pipeline, and the new
  try attaches without playing the job again.
* ``on_running`` deferred: ``wait`` resumes in the real triggerer and decides again; a reused
  pipeline is never canceled, not even by a clear of the deferred task.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from typing import Any
from urllib.parse import quote

import pytest

from tests.deployment._deployment import Deployment
from tests.deployment._scenario import run_concurrently, settled_pipelines, wait_waiting_ti

pytestmark = pytest.mark.deployment

APPROVAL = "dataops_approval"
SCENARIO_TIMEOUT = 420
#: Seconds between the question parking the approval task and the answer.
ANSWER_DELAY = 20


def _plays(d: Deployment) -> list[dict[str, Any]]:
    return [r for r in d.emulator.requests() if r["method"] == "POST" and r["path"].endswith("/play")]


def _jobs(d: Deployment, pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    return list(d.emulator.api("GET", f"/projects/{pipeline['project_id']}/pipelines/{pipeline['id']}/jobs"))


def _states(d: Deployment, dag_id: str, run_id: str) -> dict[str, str]:
    return {ti["task_id"]: ti["state"] for ti in d.api.task_instances(dag_id, run_id)}


def _approval(d: Deployment, answer: str) -> None:
    api = d.api
    run_id = api.trigger(APPROVAL, prefix=f"approval_{answer.lower()}")
    api.wait_ti(APPROVAL, run_id, "approve_deployment", ["awaiting_input", "deferred"], 240)
    (pipeline,) = settled_pipelines(d.emulator, APPROVAL, run_id)
    assert pipeline["status"] == "manual", pipeline
    # Answer well after the task parked: an answer within seconds races the worker's late report
    # (see "Airflow behaviour the suite works around" in docs/deployment-tests.rst).
    time.sleep(ANSWER_DELAY)
    path = f"/api/v2/dags/{APPROVAL}/dagRuns/{quote(run_id)}/taskInstances/approve_deployment/-1/hitlDetails"
    answered = api.request("PATCH", path, json={"chosen_options": [answer]}).json()
    assert answered["chosen_options"] == [answer]
    run = api.wait_run(APPROVAL, run_id, 240)
    states = _states(d, APPROVAL, run_id)
    logs = "\n".join(api.all_logs(APPROVAL, run_id, task) for task in states)
    assert run["state"] == "success", f"{states}\n{logs}"
    (pipeline,) = settled_pipelines(d.emulator, APPROVAL, run_id)
    gate = next(job for job in _jobs(d, pipeline) if job["name"] == "Deploy to Production")
    played = [r for r in _plays(d) if r["path"].endswith(f"/jobs/{gate['id']}/play")]
    if answer == "Approve":
        assert states == {"build": "success", "approve_deployment": "success", "deploy": "success"} | {
            "cancel_pipeline": "skipped"
        }, logs
        assert (pipeline["status"], gate["status"], len(played)) == ("success", "success", 1)
    else:
        assert states == {"build": "success", "approve_deployment": "success", "deploy": "skipped"} | {
            "cancel_pipeline": "success"
        }, logs
        assert (pipeline["status"], gate["status"], played) == ("canceled", "canceled", [])


def _play_then(d: Deployment, dag_id: str, state: str, action: str) -> None:
    """While ``run`` waits on the played job: clear it (run again) or mark it success."""
    api = d.api
    run_id = api.trigger(dag_id, conf={"seconds": 600}, prefix=f"play_{action}")
    wait_waiting_ti(d, dag_id, run_id, "run", state)
    if action == "clear":
        api.clear(dag_id, run_id, "run")
        ti = api.wait_ti(dag_id, run_id, "run", ["success", "failed"], 180, min_try=2)
        # the new try finds the job canceled (no longer manual): it attaches and fails with P
        assert ti["state"] == "failed", api.all_logs(dag_id, run_id, "run")
    else:
        api.mark(dag_id, run_id, "run", "success")
    (pipeline,) = settled_pipelines(d.emulator, dag_id, run_id)
    assert pipeline["status"] == "canceled", api.all_logs(dag_id, run_id, "run")
    gate = next(job for job in _jobs(d, pipeline) if job["name"] == "Deploy to Production")
    assert len([r for r in _plays(d) if r["path"].endswith(f"/jobs/{gate['id']}/play")]) == 1
    if action == "mark":
        time.sleep(5)  # the killed task must not overwrite the marked state
        assert api.task_instance(dag_id, run_id, "run")["state"] == "success"


def _xcom(d: Deployment, dag_id: str, run_id: str, key: str) -> Any:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/run/xcomEntries/{key}"
    return d.api.get(path)["value"]


def _on_running_wait(d: Deployment) -> None:
    api, emulator = d.api, d.emulator
    project = emulator.new_project("on-running-wait")
    other = emulator.start_pipeline(project, 40)
    dag_id = "deploy_on_running_wait"
    run_id = api.trigger(dag_id, conf={"project": project}, prefix="on_running_wait")
    run = api.wait_run(dag_id, run_id, 300)
    logs = api.all_logs(dag_id, run_id, "run")
    assert run["state"] == "success", logs
    first, ours = emulator.pipelines_in(project)
    assert (first["id"], first["status"], ours["status"]) == (other["id"], "success", "success"), logs
    assert api.task_instance(dag_id, run_id, "run")["try_number"] == 1
    assert _xcom(d, dag_id, run_id, "pipeline_id") in (ours["id"], str(ours["id"]))


def _on_running_reuse_then_clear(d: Deployment) -> None:
    api, emulator = d.api, d.emulator
    project = emulator.new_project("on-running-reuse")
    other = emulator.start_pipeline(project, 600)
    dag_id = "deploy_on_running_reuse"
    run_id = api.trigger(dag_id, conf={"project": project}, prefix="on_running_reuse")
    wait_waiting_ti(d, dag_id, run_id, "run", "deferred")
    assert _xcom(d, dag_id, run_id, "pipeline_id") in (other["id"], str(other["id"]))
    api.clear(dag_id, run_id, "run")
    api.wait_ti(dag_id, run_id, "run", ["deferred"], 180, min_try=2)
    # the clear killed the trigger that watched the reused pipeline: it must not cancel it
    assert emulator.cancel_posts(int(other["id"])) == [], api.all_logs(dag_id, run_id, "run")
    emulator.cancel_pipeline(project, int(other["id"]))  # end it, as its owner would
    ti = api.wait_ti(dag_id, run_id, "run", ["failed"], 180, min_try=2)
    assert [p["id"] for p in emulator.pipelines_in(project)] == [other["id"]], api.all_logs(dag_id, run_id, "run")
    assert len(emulator.cancel_posts(int(other["id"]))) == 1, ti


SCENARIOS = {
    "play_worker_clear": lambda d: _play_then(d, "deploy_play_worker", "running", "clear"),
    "play_deferred_clear": lambda d: _play_then(d, "deploy_play_deferred", "deferred", "clear"),
    "play_deferred_mark_success": lambda d: _play_then(d, "deploy_play_deferred", "deferred", "mark"),
    "on_running_reuse_then_clear": _on_running_reuse_then_clear,
    "on_running_wait": _on_running_wait,
    "approval_approve": lambda d: _approval(d, "Approve"),
    "approval_reject": lambda d: _approval(d, "Reject"),
}


@pytest.fixture(scope="module")
def control_runs(deployment: Deployment) -> dict[str, Future[Any]]:
    return run_concurrently({name: (lambda s=scenario: s(deployment)) for name, scenario in SCENARIOS.items()})


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_control(control_runs: dict[str, Future[Any]], name: str) -> None:
    control_runs[name].result(timeout=SCENARIO_TIMEOUT)
