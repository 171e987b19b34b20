"""The lifecycle contract (docs/operators.rst), row by row, in a real deployment, through /api/v2 only.

Every scenario drives its own DAG run of a test DAG (``dags/deployment_lifecycle.py``), so they all
run at once; each test then waits for its own scenario. Each counts the run's pipelines in the
emulator and their final statuses: exactly one pipeline per clear, none left running.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pytest

from tests.deployment._deployment import Deployment
from tests.deployment._project_rows import project_rows
from tests.deployment._scenario import (
    assert_pipelines,
    cancel_count,
    run_concurrently,
    supervisor_process,
    task_process,
    wait_waiting,
)
from tests.deployment._sensor_rows import SENSOR_SCENARIOS

pytestmark = pytest.mark.deployment

LONG = {"seconds": 600}
#: How long a scenario may take in all (they share 2 cores with the whole deployment).
SCENARIO_TIMEOUT = 420


def _clear_while_waiting(d: Deployment, dag_id: str, state: str, delay_cancel: float = 0) -> None:
    """Clear means run again: P is canceled and the new try starts a new pipeline.

    ``delay_cancel`` holds the first cancel of P in the emulator, so the new try finds P still
    active (issue 7, item 1: it re-attached to P, then failed when the late cancel landed).
    """
    api, emulator = d.api, d.emulator
    run_id = api.trigger(dag_id, conf=LONG, prefix="clear_waiting")
    _ti, pipeline = wait_waiting(api, emulator, dag_id, run_id, state)
    if delay_cancel:
        emulator.delay_cancel(int(pipeline["id"]), delay_cancel)
    api.clear(dag_id, run_id, "run")
    api.wait_ti(dag_id, run_id, "run", ["success", "failed"], 180, min_try=2)
    first, second = assert_pipelines(api, emulator, dag_id, run_id, ["canceled", "success"])
    assert second["marker"].endswith("clear=1"), second["marker"]
    if state == "running":  # the killed try cancels P itself: a clear is no newer try taking P over
        killed = api.log(dag_id, run_id, "run", 1)
        assert f"Canceled pipeline {first['id']} because the task was killed" in killed, killed
    assert api.task_instance(dag_id, run_id, "run")["state"] == "success", api.all_logs(dag_id, run_id, "run")


def _clear_after_finish(d: Deployment, outcome: str) -> None:
    api, emulator = d.api, d.emulator
    dag_id = "deploy_worker"
    conf = {"seconds": 3, "outcome": outcome, "later_outcome": "success"}
    run_id = api.trigger(dag_id, conf=conf, prefix=f"clear_after_{outcome}")
    finished = "success" if outcome == "success" else "failed"
    api.wait_ti(dag_id, run_id, "run", [finished], 120)
    # Clear a finished run, as a user does: clearing while the scheduler is still finishing the run
    # can lose the clear in Airflow 3.3.2 (the run is marked done over it and the task never re-runs).
    api.wait_run(dag_id, run_id, 60)
    assert_pipelines(api, emulator, dag_id, run_id, [outcome])
    api.clear(dag_id, run_id, "run")
    api.wait_ti(dag_id, run_id, "run", ["success", "failed"], 120, min_try=2)
    assert_pipelines(api, emulator, dag_id, run_id, [outcome, "success"])
    assert api.task_instance(dag_id, run_id, "run")["state"] == "success"


def _mark(d: Deployment, dag_id: str, state: str, new_state: str) -> None:
    api, emulator = d.api, d.emulator
    run_id = api.trigger(dag_id, conf=LONG, prefix=f"mark_{new_state}")
    wait_waiting(api, emulator, dag_id, run_id, state)
    api.mark(dag_id, run_id, "run", new_state)
    (pipeline,) = assert_pipelines(api, emulator, dag_id, run_id, ["canceled"], timeout=60)
    time.sleep(5)  # the killed task must not overwrite the marked state
    ti = api.task_instance(dag_id, run_id, "run")
    assert ti["state"] == new_state, (ti["state"], api.all_logs(dag_id, run_id, "run"))
    assert cancel_count(emulator, pipeline) >= 1


def _deadline(d: Deployment, dag_id: str, error: str) -> None:
    """A deadline cancels P with exactly one cancel POST and fails the try; the retry starts a new pipeline."""
    api, emulator = d.api, d.emulator
    run_id = api.trigger(dag_id, conf=LONG, prefix="deadline")
    api.wait_ti(dag_id, run_id, "run", ["success", "failed"], 180, min_try=2)
    first, _second = assert_pipelines(api, emulator, dag_id, run_id, ["canceled", "success"])
    assert cancel_count(emulator, first) == 1, emulator.cancel_posts(int(first["id"]))
    first_try = api.log(dag_id, run_id, "run", 1)
    assert error in first_try, first_try
    assert api.task_instance(dag_id, run_id, "run")["state"] == "success"


def _kill_and_retry(d: Deployment) -> None:
    """kill -9 of the task's process: its supervisor reports the try failed at once (no heartbeat
    timeout), and the retry re-attaches to P."""
    api, emulator = d.api, d.emulator
    dag_id = "deploy_worker_retry"
    run_id = api.trigger(dag_id, conf={"seconds": 30}, prefix="kill9")
    ti, pipeline = wait_waiting(api, emulator, dag_id, run_id, "running")
    time.sleep(2)  # well into the wait loop
    task_process(ti["id"]).send_signal(signal.SIGKILL)
    api.wait_ti(dag_id, run_id, "run", ["success", "failed"], 180, min_try=2)
    (only,) = assert_pipelines(api, emulator, dag_id, run_id, ["success"])
    assert only["id"] == pipeline["id"]
    assert cancel_count(emulator, only) == 0
    assert api.task_instance(dag_id, run_id, "run")["state"] == "success"
    assert run_id not in _heartbeat_timeouts(d), "the supervisor should have reported the kill"


def _heartbeat_timeouts(d: Deployment) -> str:
    """The scheduler's reports of task instances without a heartbeat."""
    return "\n".join(line for line in d.processes.logs("scheduler").splitlines() if "without a heartbeat" in line)


def _heartbeat_timeout(d: Deployment) -> None:
    """The whole worker dies (supervisor and task, kill -9): no heartbeat, so the scheduler sets the
    task instance up_for_retry after ``task_instance_heartbeat_timeout``; the retry re-attaches to P."""
    api, emulator = d.api, d.emulator
    dag_id = "deploy_worker_retry"
    run_id = api.trigger(dag_id, conf={"seconds": 90}, prefix="heartbeat")
    ti, pipeline = wait_waiting(api, emulator, dag_id, run_id, "running")
    time.sleep(2)  # well into the wait loop
    task, supervisor = task_process(str(ti["id"])), supervisor_process(str(ti["id"]))
    assert task.ppid() == supervisor.pid
    supervisor.send_signal(signal.SIGKILL)  # first, so that nothing reports the task's end
    task.send_signal(signal.SIGKILL)
    api.wait_ti(dag_id, run_id, "run", ["success", "failed"], 300, min_try=2)
    (only,) = assert_pipelines(api, emulator, dag_id, run_id, ["success"])
    assert only["id"] == pipeline["id"]
    assert cancel_count(emulator, only) == 0
    ti = api.task_instance(dag_id, run_id, "run")
    assert (ti["state"], ti["try_number"]) == ("success", 2), api.all_logs(dag_id, run_id, "run")
    assert run_id in _heartbeat_timeouts(d), "the scheduler never reported the task instance without a heartbeat"


def _paused_worker_wakes_up(d: Deployment) -> None:
    """The worker stops (SIGSTOP: a frozen VM, a swap storm) past the heartbeat timeout, and the retry
    re-attaches to P. Then the old worker wakes up: its supervisor learns its try is gone and
    SIGTERMs the task, whose ``on_kill`` must not cancel P, which the newer try now watches."""
    api, emulator = d.api, d.emulator
    dag_id = "deploy_worker_retry"
    run_id = api.trigger(dag_id, conf={"seconds": 120}, prefix="paused")
    ti, pipeline = wait_waiting(api, emulator, dag_id, run_id, "running")
    time.sleep(2)  # well into the wait loop
    paused = [supervisor_process(str(ti["id"])), task_process(str(ti["id"]))]
    for process in paused:
        process.send_signal(signal.SIGSTOP)
    try:
        api.wait_ti(dag_id, run_id, "run", ["running"], 240, min_try=2)
        time.sleep(5)  # the new try has re-attached to P
    finally:
        for process in paused:
            process.send_signal(signal.SIGCONT)
    api.wait_ti(dag_id, run_id, "run", ["success", "failed"], 300, min_try=2)
    (only,) = assert_pipelines(api, emulator, dag_id, run_id, ["success"])
    assert only["id"] == pipeline["id"]
    assert cancel_count(emulator, only) == 0
    ti = api.task_instance(dag_id, run_id, "run")
    assert (ti["state"], ti["try_number"]) == ("success", 2), api.all_logs(dag_id, run_id, "run")
    woken = api.log(dag_id, run_id, "run", 1)
    assert f"Leaving pipeline {only['id']} running for the newer try." in woken, woken


def _retry_after_failure(d: Deployment, dag_id: str, expected: list[str]) -> None:
    api, emulator = d.api, d.emulator
    run_id = api.trigger(dag_id, conf={"seconds": 3, "outcome": "failed"}, prefix="retry_failed")
    api.wait_ti(dag_id, run_id, "run", ["success", "failed"], 180, min_try=2)
    found = assert_pipelines(api, emulator, dag_id, run_id, expected)
    assert api.task_instance(dag_id, run_id, "run")["state"] == "success", api.all_logs(dag_id, run_id, "run")
    if len(found) == 1:  # retry_failed_pipeline: the failed jobs were retried in place
        retried = [r for r in emulator.requests() if r["path"].endswith(f"/pipelines/{found[0]['id']}/retry")]
        assert len(retried) == 1


def _links(d: Deployment) -> None:
    api, emulator = d.api, d.emulator
    dag_id = "deploy_deferred"
    run_id = api.trigger(dag_id, conf={"seconds": 20}, prefix="links")
    _ti, pipeline = wait_waiting(api, emulator, dag_id, run_id, "deferred")
    # The pipeline starts no child pipeline, so the downstream links stay empty.
    expected = {"DataOps.live pipeline": pipeline["web_url"]} | {
        f"DataOps.live downstream pipeline {number}": None for number in (1, 2, 3)
    }
    assert api.links(dag_id, run_id, "run") == expected
    api.wait_ti(dag_id, run_id, "run", ["success", "failed"], 120)
    assert_pipelines(api, emulator, dag_id, run_id, ["success"])
    assert api.links(dag_id, run_id, "run") == expected


def _link_without_pipeline(d: Deployment) -> None:
    api, emulator = d.api, d.emulator
    dag_id = "deploy_no_pipeline"
    run_id = api.trigger(dag_id, prefix="no_pipeline")
    api.wait_ti(dag_id, run_id, "run", ["failed"], 120)
    assert emulator.pipelines_of(dag_id, run_id) == []
    assert not api.links(dag_id, run_id, "run").get("DataOps.live pipeline")
    log = api.all_logs(dag_id, run_id, "run")
    assert "404 Project Not Found" in log, log
    assert "XCom not found" not in log, log
    scheduler = [line for line in d.processes.logs("scheduler").splitlines() if run_id in line]
    assert not [line for line in scheduler if "XCom not found" in line], scheduler


#: Started in this order, a moment apart (``run_concurrently``): the longest first.
SCENARIOS: dict[str, Callable[[Deployment], None]] = {
    "project_rows": project_rows,
    "heartbeat_timeout_then_retry_reattaches": _heartbeat_timeout,
    "paused_worker_wakes_after_heartbeat_timeout": _paused_worker_wakes_up,
    **SENSOR_SCENARIOS,
    "clear_waiting_on_worker": lambda d: _clear_while_waiting(d, "deploy_worker", "running"),
    "clear_deferred": lambda d: _clear_while_waiting(d, "deploy_deferred", "deferred"),
    "clear_deferred_before_the_cancel_lands": lambda d: _clear_while_waiting(
        d, "deploy_deferred", "deferred", delay_cancel=20
    ),
    "clear_after_success": lambda d: _clear_after_finish(d, "success"),
    "clear_after_failure": lambda d: _clear_after_finish(d, "failed"),
    "mark_success_on_worker": lambda d: _mark(d, "deploy_worker", "running", "success"),
    "mark_failed_on_worker": lambda d: _mark(d, "deploy_worker", "running", "failed"),
    "mark_success_deferred": lambda d: _mark(d, "deploy_deferred", "deferred", "success"),
    "mark_failed_deferred": lambda d: _mark(d, "deploy_deferred", "deferred", "failed"),
    "execution_timeout_on_worker": lambda d: _deadline(d, "deploy_worker_execution_timeout", "AirflowTaskTimeout"),
    "execution_timeout_deferred": lambda d: _deadline(d, "deploy_deferred_execution_timeout", "AirflowTaskTimeout"),
    "timeout_on_worker": lambda d: _deadline(d, "deploy_worker_timeout", "DataOpsPipelineTimeoutError"),
    "timeout_deferred": lambda d: _deadline(d, "deploy_deferred_timeout", "DataOpsPipelineTimeoutError"),
    "kill_9_then_retry_reattaches": _kill_and_retry,
    "retry_after_failure_starts_new_pipeline": lambda d: _retry_after_failure(
        d, "deploy_worker_retry", ["failed", "success"]
    ),
    "retry_failed_pipeline_retries_in_place": lambda d: _retry_after_failure(
        d, "deploy_worker_retry_failed", ["success"]
    ),
    "extra_link_while_deferred_and_after": _links,
    "extra_link_without_pipeline_is_quiet": _link_without_pipeline,
}


@pytest.fixture(scope="module")
def scenarios(deployment: Deployment, request: pytest.FixtureRequest) -> dict[str, Future[Any]]:
    """Start the scenarios of the selected tests only (``-k``), so a narrow run loads the machine less."""
    selected = {
        item.callspec.params["name"]
        for item in request.session.items
        if item.module is request.module and "name" in getattr(getattr(item, "callspec", None), "params", {})
    }
    chosen = {name: scenario for name, scenario in SCENARIOS.items() if name in selected}
    return run_concurrently({name: (lambda s=scenario: s(deployment)) for name, scenario in chosen.items()})


#: Rows the provider does not keep yet: each test fails until the defect is fixed, then must be un-marked.
KNOWN_DEFECTS: dict[str, str] = {}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=False, reason=KNOWN_DEFECTS[name]))
        if name in KNOWN_DEFECTS
        else name
        for name in SCENARIOS
    ],
)
def test_contract_row(scenarios: dict[str, Future[Any]], name: str) -> None:
    scenarios[name].result(timeout=SCENARIO_TIMEOUT)
