"""Helpers shared by the deployment tests: run scenarios concurrently, and check pipelines as the contract says."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psutil

from tests.deployment._api import AirflowAPI, Emulator

#: Pipeline statuses that are not final: "none left running at the end" means none of these.
UNSETTLED = frozenset({"created", "waiting_for_resource", "preparing", "pending", "running", "canceling"})


#: Seconds between the starts of two scenarios: a burst of task starts on 2 cores makes every
#: worker slow to report a try's end, which is what Airflow 3.3's scheduler race needs (see
#: "Airflow behaviour the suite works around" in docs/deployment-tests.rst).
STAGGER = 1.5


def run_concurrently(scenarios: Mapping[str, Callable[[], Any]]) -> dict[str, Future[Any]]:
    """Start every scenario (each drives its own DAG run), ``STAGGER`` seconds apart, in the given order.

    Tests then wait on their own result. List the longest scenarios first.
    """

    def delayed(scenario: Callable[[], Any], delay: float) -> Any:
        time.sleep(delay)
        return scenario()

    pool = ThreadPoolExecutor(max_workers=len(scenarios), thread_name_prefix="scenario")
    futures = {
        name: pool.submit(delayed, scenario, index * STAGGER)
        for index, (name, scenario) in enumerate(scenarios.items())
    }
    pool.shutdown(wait=False)
    return futures


def wait_pipelines(
    emulator: Emulator, dag_id: str, run_id: str, count: int, timeout: float = 90
) -> list[dict[str, Any]]:
    """Wait until the run has ``count`` pipelines; returns them, oldest first."""
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = emulator.pipelines_of(dag_id, run_id)
        if len(found) >= count:
            return found
        time.sleep(3)
    raise AssertionError(f"{dag_id}/{run_id}: {len(found)} pipeline(s) after {timeout:.0f}s, expected {count}")


def settled_pipelines(emulator: Emulator, dag_id: str, run_id: str, timeout: float = 90) -> list[dict[str, Any]]:
    """The run's pipelines once none is running any more (or fail: a pipeline was left running)."""
    deadline = time.monotonic() + timeout
    while True:
        found = emulator.pipelines_of(dag_id, run_id)
        if not any(p["status"] in UNSETTLED for p in found):
            return found
        if time.monotonic() > deadline:
            summary = [(p["id"], p["status"]) for p in found]
            raise AssertionError(f"{dag_id}/{run_id}: pipelines still running after {timeout:.0f}s: {summary}")
        time.sleep(3)


def assert_pipelines(
    api: AirflowAPI, emulator: Emulator, dag_id: str, run_id: str, expected: Sequence[str], timeout: float = 90
) -> list[dict[str, Any]]:
    """Exactly ``len(expected)`` pipelines for the run, settled in these statuses (oldest first)."""
    found = settled_pipelines(emulator, dag_id, run_id, timeout)
    statuses = [p["status"] for p in found]
    if statuses != list(expected):
        logs = api.all_logs(dag_id, run_id, "run")
        raise AssertionError(
            f"{dag_id}/{run_id}: pipelines {[(p['id'], p['status']) for p in found]}, expected statuses "
            f"{list(expected)}\n{logs}"
        )
    return found


def wait_waiting(
    api: AirflowAPI, emulator: Emulator, dag_id: str, run_id: str, state: str, timeout: float = 120
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Wait until the task is ``running`` (on the worker) or ``deferred`` with its pipeline started."""
    ti = api.wait_ti(dag_id, run_id, "run", [state], timeout)
    pipeline = wait_pipelines(emulator, dag_id, run_id, 1)[0]
    if state == "deferred":
        wait_trigger_started(api, dag_id, run_id, "run", int(ti["try_number"]), timeout)
    return ti, pipeline


def wait_waiting_ti(d: Any, dag_id: str, run_id: str, task_id: str, state: str, timeout: float = 180) -> dict[str, Any]:
    """Wait until the task instance is in ``state``; when ``deferred``, also until its trigger runs."""
    ti = d.api.wait_ti(dag_id, run_id, task_id, [state], timeout)
    if state == "deferred":
        wait_trigger_started(d.api, dag_id, run_id, task_id, int(ti["try_number"]), timeout)
    return ti


def wait_trigger_started(
    api: AirflowAPI, dag_id: str, run_id: str, task_id: str, try_number: int, timeout: float
) -> None:
    """Wait until the triggerer runs the task's trigger (only then can a kill reach it)."""
    pattern = r"trigger \S+ \(ID \d+\) starting"
    wait_for_log(api, dag_id, run_id, task_id, try_number, pattern, timeout, "the triggerer never started the trigger")


def wait_for_log(
    api: AirflowAPI, dag_id: str, run_id: str, task_id: str, try_number: int, pattern: str, timeout: float, what: str
) -> None:
    """Wait until the try's log matches ``pattern``; fail saying ``what`` went wrong, with the log."""
    deadline = time.monotonic() + timeout
    while not re.search(pattern, log := api.log(dag_id, run_id, task_id, try_number)):
        if time.monotonic() > deadline:
            raise AssertionError(f"{dag_id}/{run_id}: {what}:\n{log}")
        time.sleep(3)


def _process_titled(title: str, timeout: float = 30) -> psutil.Process:
    """The process titled ``title`` (a task's process retitles itself a moment after it starts)."""
    deadline = time.monotonic() + timeout
    while True:
        for process in psutil.process_iter(["cmdline"]):
            if " ".join(process.info["cmdline"] or []).strip() == title:
                return process
        if time.monotonic() > deadline:
            raise AssertionError(f"no process is titled {title!r}")
        time.sleep(1)


def task_process(ti_id: str) -> psutil.Process:
    """The process that runs the task's code: Airflow 3's task runner titles itself ``airflow worker -- <ti id>``."""
    return _process_titled(f"airflow worker -- {ti_id}")


def supervisor_process(ti_id: str) -> psutil.Process:
    """The task's supervisor, which heartbeats for it: the ``LocalExecutor`` worker, the task process's parent."""
    return _process_titled(f"airflow worker -- LocalExecutor: {ti_id}")


def cancel_count(emulator: Emulator, pipeline: Mapping[str, Any]) -> int:
    return len(emulator.cancel_posts(int(pipeline["id"])))
