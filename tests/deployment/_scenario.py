"""Helpers shared by the deployment tests: run scenarios concurrently, and check pipelines as the contract says."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tests.deployment._api import AirflowAPI, Emulator

#: Pipeline statuses that are not final: "none left running at the end" means none of these.
UNSETTLED = frozenset({"created", "waiting_for_resource", "preparing", "pending", "running", "canceling"})


def run_concurrently(scenarios: Mapping[str, Callable[[], Any]]) -> dict[str, Future[Any]]:
    """Start every scenario at once (each drives its own DAG run); tests then wait on their own result."""
    pool = ThreadPoolExecutor(max_workers=len(scenarios), thread_name_prefix="scenario")
    futures = {name: pool.submit(scenario) for name, scenario in scenarios.items()}
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
    if state == "deferred":  # and the triggerer runs the trigger (only then can a kill reach it)
        try_number = int(ti["try_number"])
        deadline = time.monotonic() + timeout
        while not re.search(r"trigger \S+ \(ID \d+\) starting", api.log(dag_id, run_id, "run", try_number)):
            if time.monotonic() > deadline:
                raise AssertionError(f"{dag_id}/{run_id}: the triggerer never started the trigger")
            time.sleep(3)
    return ti, pipeline


def cancel_count(emulator: Emulator, pipeline: Mapping[str, Any]) -> int:
    return len(emulator.cancel_posts(int(pipeline["id"])))
