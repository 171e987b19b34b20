"""The DataOpsPipelineSensor rows of the lifecycle contract, as scenarios for ``test_lifecycle.py``.

Each scenario watches a pipeline the test started itself, in a project of its own: at the end
that project holds exactly that one pipeline (the sensor never starts one), no cancel request was
ever sent for it (the sensor never cancels one), and it is in the status its own clock gave it.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable, Collection
from typing import Any

from tests.deployment._deployment import Deployment
from tests.deployment._scenario import UNSETTLED, cancel_count, task_process, wait_waiting_ti

#: The watched pipeline outlives every action (long), ends a while after it (medium), or soon (short).
LONG, MEDIUM, SHORT = 600, 60, 10
#: The watched pipeline's statuses while it runs (not canceling: the sensor never cancels it).
RUNNING = UNSETTLED - {"canceling"}
#: How the watching task waits, per DAG mode: the state to act on.
WAITING = {"poke": "running", "reschedule": "up_for_reschedule", "deferred": "deferred"}


class Watched:
    """A pipeline in a project of its own, and a run of a sensor DAG watching it."""

    def __init__(self, d: Deployment, dag_id: str, seconds: float) -> None:
        self.d, self.dag_id = d, dag_id
        self.project = d.emulator.new_project(f"sensor-{uuid.uuid4().hex[:10]}")
        self.pipeline = d.emulator.start_pipeline(self.project, seconds)
        conf = {"project": self.project, "pipeline_id": self.pipeline["id"]}
        self.run_id = d.api.trigger(dag_id, conf=conf, prefix="sensor")

    def ti(self) -> dict[str, Any]:
        return self.d.api.task_instance(self.dag_id, self.run_id, "watch")

    def logs(self) -> str:
        return self.d.api.all_logs(self.dag_id, self.run_id, "watch")

    def wait_ti(self, states: list[str], timeout: float = 180, min_try: int = 1) -> dict[str, Any]:
        return self.d.api.wait_ti(self.dag_id, self.run_id, "watch", states, timeout, min_try=min_try)

    def status(self) -> str:
        (pipeline,) = self.d.emulator.pipelines_in(self.project)
        return str(pipeline["status"])

    def check_untouched(self, expected: Collection[str]) -> None:
        """The project holds only the watched pipeline, never canceled, now in one of ``expected``."""
        pipelines = self.d.emulator.pipelines_in(self.project)
        assert [p["id"] for p in pipelines] == [self.pipeline["id"]], (pipelines, self.logs())
        assert cancel_count(self.d.emulator, self.pipeline) == 0, self.logs()
        assert pipelines[0]["status"] in expected, (pipelines[0]["status"], self.logs())

    def finish(self) -> None:
        """Leave nothing running: the test, not the sensor, stops a long pipeline it started."""
        if self.status() in UNSETTLED:
            self.d.emulator.cancel_pipeline(self.project, int(self.pipeline["id"]))


def _mark(d: Deployment, mode: str, new_state: str) -> None:
    """Mark success or failed while the sensor waits: it stops, and the pipeline runs on."""
    watched = Watched(d, f"deploy_sensor_{mode}", LONG)
    wait_waiting_ti(d, watched.dag_id, watched.run_id, "watch", WAITING[mode])
    d.api.mark(watched.dag_id, watched.run_id, "watch", new_state)
    time.sleep(10)  # a killed poke or trigger must neither overwrite the state nor cancel
    assert watched.ti()["state"] == new_state, watched.logs()
    watched.check_untouched(RUNNING)
    watched.finish()


def _clear_while_waiting(d: Deployment, mode: str) -> None:
    """Clear while the sensor waits: a new try watches the same pipeline again, and succeeds with it."""
    watched = Watched(d, f"deploy_sensor_{mode}", MEDIUM)
    wait_waiting_ti(d, watched.dag_id, watched.run_id, "watch", WAITING[mode])
    d.api.clear(watched.dag_id, watched.run_id, "watch")
    ti = watched.wait_ti(["success", "failed"], 240, min_try=2)
    assert (ti["state"], ti["try_number"]) == ("success", 2), watched.logs()
    second = d.api.log(watched.dag_id, watched.run_id, "watch", 2)
    assert f"Pipeline {watched.pipeline['id']} is success" in second or "finished as success" in second, second
    watched.check_untouched({"success"})


def _clear_after_success(d: Deployment) -> None:
    watched = Watched(d, "deploy_sensor_poke", SHORT)
    watched.wait_ti(["success"], 180)
    d.api.wait_run(watched.dag_id, watched.run_id, 60)  # clear a finished run (see deployment-tests.rst)
    d.api.clear(watched.dag_id, watched.run_id, "watch")
    ti = watched.wait_ti(["success", "failed"], 120, min_try=2)
    assert (ti["state"], ti["try_number"]) == ("success", 2), watched.logs()
    second = d.api.log(watched.dag_id, watched.run_id, "watch", 2)
    assert f"Pipeline {watched.pipeline['id']} is success" in second, second
    watched.check_untouched({"success"})


def _kill_9(d: Deployment) -> None:
    """kill -9 of the poking task's process: the retry pokes again; the pipeline is not touched."""
    watched = Watched(d, "deploy_sensor_poke", MEDIUM)
    ti = wait_waiting_ti(d, watched.dag_id, watched.run_id, "watch", "running")
    task_process(str(ti["id"])).send_signal(signal.SIGKILL)
    ti = watched.wait_ti(["success", "failed"], 240, min_try=2)
    assert (ti["state"], ti["try_number"]) == ("success", 2), watched.logs()
    watched.check_untouched({"success"})


def _timeout(d: Deployment, dag_id: str, error: str) -> None:
    """A deadline fails the sensor on its first try (no retry); the pipeline runs on."""
    watched = Watched(d, dag_id, LONG)
    ti = watched.wait_ti(["failed"], 240)
    logs = watched.logs()
    assert ti["try_number"] == 1, logs
    assert error in logs, logs
    watched.check_untouched(RUNNING)
    watched.finish()


#: The longest first (``run_concurrently`` starts them in this order).
SENSOR_SCENARIOS: dict[str, Callable[[Deployment], None]] = {
    **{f"sensor_{mode}_clear_while_waiting": (lambda d, m=mode: _clear_while_waiting(d, m)) for mode in WAITING},
    "sensor_kill_9_then_retry_pokes_again": _kill_9,
    "sensor_clear_after_success_pokes_again": _clear_after_success,
    **{
        f"sensor_{mode}_mark_{state}": (lambda d, m=mode, s=state: _mark(d, m, s))
        for mode in WAITING
        for state in ("success", "failed")
    },
    "sensor_poke_timeout": lambda d: _timeout(d, "deploy_sensor_poke_timeout", "AirflowSensorTimeout"),
    "sensor_reschedule_timeout": lambda d: _timeout(d, "deploy_sensor_reschedule_timeout", "AirflowSensorTimeout"),
    "sensor_deferred_timeout": lambda d: _timeout(d, "deploy_sensor_deferred_timeout", "AirflowSensorTimeout"),
    "sensor_execution_timeout": lambda d: _timeout(d, "deploy_sensor_execution_timeout", "AirflowTaskTimeout"),
}
