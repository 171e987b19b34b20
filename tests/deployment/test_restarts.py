"""Rows of the lifecycle contract that disturb the whole deployment: run last, one phase each.

* triggerer restart: the trigger resumes in the new triggerer; P is not canceled; no new pipeline;
* scheduler restart: nothing happens to P or to the task;
* DAG run deleted: Airflow 3.3.2 refuses while it runs; marked failed first, P is canceled.
"""

from __future__ import annotations

import time

import psutil
import pytest

from tests.deployment._deployment import Deployment
from tests.deployment._scenario import assert_pipelines, cancel_count, wait_waiting

pytestmark = pytest.mark.deployment


def _ti_processes(ti_id: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if " ".join(process.info["cmdline"] or []).strip().endswith(ti_id):
            found.append(process)
    return found


def test_triggerer_restart_keeps_the_pipeline(deployment: Deployment) -> None:
    api, emulator = deployment.api, deployment.emulator
    run_id = api.trigger("deploy_deferred", conf={"seconds": 40}, prefix="triggerer_restart")
    _ti, pipeline = wait_waiting(api, emulator, "deploy_deferred", run_id, "deferred")
    deployment.restart("triggerer")
    ti = api.wait_ti("deploy_deferred", run_id, "run", ["success", "failed"], 240)
    (only,) = assert_pipelines(api, emulator, "deploy_deferred", run_id, ["success"])
    assert only["id"] == pipeline["id"]
    assert cancel_count(emulator, only) == 0
    assert (ti["state"], ti["try_number"]) == ("success", 1), api.all_logs("deploy_deferred", run_id, "run")


def test_scheduler_restart_changes_nothing(deployment: Deployment) -> None:
    """A graceful scheduler stop waits for LocalExecutor's running tasks; a deferred one is not touched."""
    api, emulator = deployment.api, deployment.emulator
    api.settle_earlier_runs(120)  # the stop would wait for another module's task as well
    runs = {
        "deploy_worker": api.trigger("deploy_worker", conf={"seconds": 25}, prefix="scheduler_restart"),
        "deploy_deferred": api.trigger("deploy_deferred", conf={"seconds": 40}, prefix="scheduler_restart"),
    }
    started = {}
    for dag_id, run_id in runs.items():
        state = "running" if dag_id == "deploy_worker" else "deferred"
        started[dag_id] = wait_waiting(api, emulator, dag_id, run_id, state)[1]
    deployment.restart("scheduler", timeout=180)
    for dag_id, run_id in runs.items():
        ti = api.wait_ti(dag_id, run_id, "run", ["success", "failed"], 240)
        (only,) = assert_pipelines(api, emulator, dag_id, run_id, ["success"])
        assert only["id"] == started[dag_id]["id"]
        assert cancel_count(emulator, only) == 0
        assert (ti["state"], ti["try_number"]) == ("success", 1), api.all_logs(dag_id, run_id, "run")


def test_dag_run_deleted(deployment: Deployment) -> None:
    """Airflow 3.3.2 refuses to delete a running DAG run (409): nothing happens to P or to the task.

    To get rid of the run, a user marks it failed first (every unfinished task is killed, so P is
    canceled, as for mark failed), then deletes it.
    """
    api, emulator = deployment.api, deployment.emulator
    cases = {}
    for dag_id, state in (("deploy_worker", "running"), ("deploy_deferred", "deferred")):
        run_id = api.trigger(dag_id, conf={"seconds": 600}, prefix="deleted_run")
        ti, pipeline = wait_waiting(api, emulator, dag_id, run_id, state)
        cases[dag_id] = (run_id, ti, pipeline, state)
    for dag_id, (run_id, _ti, _pipeline, _state) in cases.items():
        refused = api.delete_run(dag_id, run_id, expect=(409,))
        assert "cannot be deleted in running state" in refused.json()["detail"]
    for dag_id, (run_id, _ti, pipeline, state) in cases.items():
        assert api.task_instance(dag_id, run_id, "run")["state"] == state
        assert cancel_count(emulator, pipeline) == 0
        api.mark_run(dag_id, run_id, "failed")
    for dag_id, (run_id, ti, _pipeline, _state) in cases.items():
        assert_pipelines(api, emulator, dag_id, run_id, ["canceled"], timeout=60)
        api.delete_run(dag_id, run_id)
        deadline = time.monotonic() + 30
        while _ti_processes(ti["id"]) and time.monotonic() < deadline:
            time.sleep(1)
        assert not _ti_processes(ti["id"]), f"{dag_id}: the task process outlived its deleted run"
