"""The pipeline task group in a real deployment: repair by clearing a failed job task, and its contract rows.

Each scenario drives its own DAG run of ``dags/deployment_task_group.py`` (scenarios run at once);
each asserts the run's pipelines in the emulator: exactly one, whatever the user did.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any
from urllib.parse import quote

import pytest

from tests.deployment._deployment import Deployment
from tests.deployment._scenario import run_concurrently, settled_pipelines, wait_for_log, wait_waiting_ti

pytestmark = pytest.mark.deployment

GROUP = "pipeline"
BUILD = f"{GROUP}.build_all_models"
INIT = f"{GROUP}.initialise_pipeline"
DOWNSTREAM_OF_BUILD = [BUILD, f"{GROUP}.generate_docs"]
LATER_THAN_INIT = [f"{GROUP}.ingest_source_data", BUILD, f"{GROUP}.generate_docs"]
RUN_TIMEOUT = 300


def _jobs(d: Deployment, pipeline_id: int) -> list[dict[str, Any]]:
    path = f"/projects/{quote('demo/dataops-project', safe='')}/pipelines/{pipeline_id}/jobs"
    return list(d.emulator.api("GET", path, params={"include_retried": "true", "per_page": 100}))


def _retries(d: Deployment, job_id: int) -> int:
    return sum(
        1 for r in d.emulator.requests() if r["method"] == "POST" and r["path"].endswith(f"/jobs/{job_id}/retry")
    )


def _states(d: Deployment, dag_id: str, run_id: str) -> dict[str, str]:
    return {ti["task_id"]: ti["state"] for ti in d.api.task_instances(dag_id, run_id)}


def _logs(d: Deployment, dag_id: str, run_id: str) -> str:
    return "\n".join(d.api.all_logs(dag_id, run_id, task) for task in _states(d, dag_id, run_id))


def _repair(d: Deployment, dag_id: str) -> dict[str, Any]:
    """A job fails; clearing its task (with downstream) retries it in the same pipeline: the run succeeds."""
    api = d.api
    # 100 s: each job takes 20 s, so no deferred job task resumes within seconds of deferring, which
    # a busy Airflow can fail (docs/deployment-tests.rst, "Airflow behaviour the suite works around").
    run_id = api.trigger(dag_id, conf={"seconds": 100, "fail_job": "Build all Models"}, prefix="repair")
    assert api.wait_run(dag_id, run_id, RUN_TIMEOUT)["state"] == "failed", _logs(d, dag_id, run_id)
    states = _states(d, dag_id, run_id)
    assert (states[BUILD], states[f"{GROUP}.generate_docs"]) == ("failed", "upstream_failed"), states
    (pipeline,) = settled_pipelines(d.emulator, dag_id, run_id)
    assert pipeline["status"] == "failed"
    failed_log = api.log(dag_id, run_id, BUILD, 1)
    assert "script_failure" in failed_log, failed_log
    assert "ERROR: Job failed: exit code 1" in failed_log, failed_log
    [failed] = [job for job in _jobs(d, pipeline["id"]) if job["name"] == "Build all Models"]

    assert api.clear_with_downstream(dag_id, run_id, BUILD) == DOWNSTREAM_OF_BUILD
    run = api.wait_run(dag_id, run_id, RUN_TIMEOUT)
    assert run["state"] == "success", _logs(d, dag_id, run_id)
    (pipeline,) = settled_pipelines(d.emulator, dag_id, run_id)  # still one pipeline
    assert pipeline["status"] == "success"
    assert _retries(d, failed["id"]) == 1
    [rerun] = [j for j in _jobs(d, pipeline["id"]) if j["name"] == "Build all Models" and j["id"] != failed["id"]]
    assert api.task_instance(dag_id, run_id, BUILD)["try_number"] == 2
    link = api.links(dag_id, run_id, BUILD).get("DataOps.live job")
    assert str(link).endswith(f"/-/jobs/{rerun['id']}"), link
    return {"run_id": run_id, "pipeline": pipeline["id"]}


def _mark_failed_while_deferred_then_clear(d: Deployment) -> None:
    """Mark failed cancels the deferred task's job (trigger on_kill); a clear retries it in the same pipeline."""
    api, dag_id = d.api, "deploy_group_deferred"
    run_id = api.trigger(dag_id, conf={"seconds": 200}, prefix="mark_failed")
    wait_waiting_ti(d, dag_id, run_id, INIT, "deferred")
    api.mark(dag_id, run_id, INIT, "failed")
    assert api.wait_run(dag_id, run_id, RUN_TIMEOUT)["state"] == "failed"
    (pipeline,) = d.emulator.pipelines_of(dag_id, run_id)
    [init] = [job for job in _jobs(d, pipeline["id"]) if job["name"] == "Initialise Pipeline"]
    assert init["status"] in ("canceling", "canceled"), init
    cleared = api.clear_with_downstream(dag_id, run_id, INIT)
    assert len(cleared) == 4, cleared
    # The new try retries the job before it defers to follow the re-run.
    api.wait_ti(dag_id, run_id, INIT, ["deferred"], RUN_TIMEOUT, min_try=2)
    assert _retries(d, init["id"]) == 1, api.all_logs(dag_id, run_id, INIT)
    assert "runs again as job" in api.log(dag_id, run_id, INIT, 2)
    assert len(d.emulator.pipelines_of(dag_id, run_id)) == 1


def _mark_success_on_worker_skips_the_later_jobs(d: Deployment) -> None:
    """Mark success kills the waiting job task, which cancels its job: GitLab skips the later jobs, and their tasks."""
    api, dag_id = d.api, "deploy_group_worker"
    # 300 s: the first job runs from 60 s to 120 s, time enough to see it running on a busy machine.
    run_id = api.trigger(dag_id, conf={"seconds": 300}, prefix="mark_success")
    wait_waiting_ti(d, dag_id, run_id, INIT, "running")
    following = r"Job 'Initialise Pipeline' \(\d+\) of pipeline \d+ is running"
    wait_for_log(api, dag_id, run_id, INIT, 1, following, RUN_TIMEOUT, "the job task never followed its job")
    api.mark(dag_id, run_id, INIT, "success")
    run = api.wait_run(dag_id, run_id, RUN_TIMEOUT)
    states = _states(d, dag_id, run_id)
    assert run["state"] == "success", _logs(d, dag_id, run_id)
    later = {task: state for task, state in states.items() if task in LATER_THAN_INIT}
    assert (states[INIT], later) == ("success", dict.fromkeys(LATER_THAN_INIT, "skipped")), states
    (pipeline,) = settled_pipelines(d.emulator, dag_id, run_id)
    jobs = {job["name"]: job["status"] for job in _jobs(d, pipeline["id"])}
    assert (pipeline["status"], jobs.pop("Initialise Pipeline")) == ("canceled", "canceled"), jobs
    assert set(jobs.values()) == {"skipped"}, jobs
    assert "Canceled job" in api.log(dag_id, run_id, INIT, 1)


@pytest.fixture(scope="module")
def group_runs(deployment: Deployment) -> dict[str, Future[Any]]:
    return run_concurrently(
        {
            "repair-deferred": lambda: _repair(deployment, "deploy_group_deferred"),
            "repair-worker": lambda: _repair(deployment, "deploy_group_worker"),
            "mark-failed-deferred": lambda: _mark_failed_while_deferred_then_clear(deployment),
            "mark-success-worker": lambda: _mark_success_on_worker_skips_the_later_jobs(deployment),
        }
    )


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_clearing_a_failed_job_task_repairs_the_run_in_one_pipeline(
    group_runs: dict[str, Future[Any]], mode: str
) -> None:
    group_runs[f"repair-{mode}"].result()


def test_mark_failed_cancels_the_deferred_job_and_a_clear_retries_it(group_runs: dict[str, Future[Any]]) -> None:
    group_runs["mark-failed-deferred"].result()


def test_mark_success_on_worker_cancels_the_job_and_the_later_tasks_end_skipped(
    group_runs: dict[str, Future[Any]],
) -> None:
    group_runs["mark-success-worker"].result()
