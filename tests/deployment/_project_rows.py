"""The DataOpsCreateProjectOperator rows of the lifecycle contract, as one scenario for ``test_lifecycle.py``.

Every case has its own project name and counts the projects of that name in the emulator: never
two. ``if_exists="fail"`` throughout, so a task that did not recognise its own project fails.

The cases that hold a create back (a latency fault on ``POST /projects``: it takes effect 30 s
later, after the task gave up on the answer) run together, after the ones that do not, so that
no other create uses up their faults. No other scenario creates projects while this one runs
(the sensor scenarios seed theirs through the emulator's control API).
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tests.deployment._deployment import Deployment
from tests.deployment._scenario import task_process

#: How long a held-back create takes to take effect (the DAGs' read timeout is 3 s, their retry 45 s).
HELD_BACK = 30


def _name(case: str) -> str:
    return f"Deploy {case} {uuid.uuid4().hex[:8]}"


def _run(d: Deployment, dag_id: str, name: str) -> str:
    return d.api.trigger(dag_id, conf={"name": name}, prefix="project")


def _one_project(d: Deployment, name: str) -> dict[str, object]:
    projects = d.emulator.projects_named(name)
    assert len(projects) == 1, projects
    return projects[0]


def _wait_for_project(d: Deployment, name: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not d.emulator.projects_named(name):
        assert time.monotonic() < deadline, f"no project {name!r} after {timeout:.0f}s"
        time.sleep(2)


def _wait_create_sent(d: Deployment, name: str, timeout: float = 180) -> None:
    """Wait until the task has sent its ``POST /projects`` (held back by the fault, so not logged yet).

    The request log has the lookup by path that answered 404 just before; the create follows at once.
    """
    slug = name.lower().replace(" ", "-")
    deadline = time.monotonic() + timeout
    while not any(
        r["method"] == "GET" and r["status"] == 404 and r["path"].endswith(slug) for r in d.emulator.requests()
    ):
        assert time.monotonic() < deadline, f"the task never looked {name!r} up"
        time.sleep(1)
    time.sleep(3)  # well inside the 13 s the try spends on the create (3 s timeout, then 10 s looking)


def clear_after_success(d: Deployment) -> None:
    """Clear after success: the new try finds the project it created and succeeds (if_exists="fail").

    Another DAG run of the same task is another task instance: for it the project already exists.
    """
    api, dag_id, name = d.api, "deploy_project", _name("cleared")
    run_id = _run(d, dag_id, name)
    api.wait_run(dag_id, run_id, 120)
    assert api.task_instance(dag_id, run_id, "create")["state"] == "success", api.all_logs(dag_id, run_id, "create")
    api.clear(dag_id, run_id, "create")
    ti = api.wait_ti(dag_id, run_id, "create", ["success", "failed"], 120, min_try=2)
    logs = api.all_logs(dag_id, run_id, "create")
    assert (ti["state"], ti["try_number"]) == ("success", 2), logs
    assert "this task created it" in api.log(dag_id, run_id, "create", 2), logs
    other = _run(d, dag_id, name)
    api.wait_ti(dag_id, other, "create", ["failed"], 120)
    assert "DataOpsProjectExistsError" in api.all_logs(dag_id, other, "create")
    _one_project(d, name)


def lost_answer_then_retry(d: Deployment) -> None:
    """The create's answer is lost and the project not there yet: the try fails; the retry finds it as its own."""
    api, dag_id, name = d.api, "deploy_project_retry", _name("lost")
    d.emulator.delay_creates(HELD_BACK)
    run_id = _run(d, dag_id, name)
    ti = api.wait_ti(dag_id, run_id, "create", ["success", "failed"], 240, min_try=2)
    logs = api.all_logs(dag_id, run_id, "create")
    assert (ti["state"], ti["try_number"]) == ("success", 2), logs
    assert "DataOpsRequestMaybeAppliedError" in api.log(dag_id, run_id, "create", 1) or "timed out" in logs, logs
    assert "this task created it" in api.log(dag_id, run_id, "create", 2), logs
    _one_project(d, name)


def kill_9_then_retry(d: Deployment) -> None:
    """kill -9 while the create is in flight: it still lands, and the retry counts it as its own."""
    api, dag_id, name = d.api, "deploy_project_retry", _name("killed")
    d.emulator.delay_creates(HELD_BACK)
    run_id = _run(d, dag_id, name)
    _wait_create_sent(d, name)
    ti = api.task_instance(dag_id, run_id, "create")
    task_process(str(ti["id"])).send_signal(signal.SIGKILL)
    ti = api.wait_ti(dag_id, run_id, "create", ["success", "failed"], 240, min_try=2)
    logs = api.all_logs(dag_id, run_id, "create")
    assert (ti["state"], ti["try_number"]) == ("success", 2), logs
    assert "this task created it" in api.log(dag_id, run_id, "create", 2), logs
    _one_project(d, name)


def mark_failed_then_clear(d: Deployment) -> None:
    """Mark failed while the create is in flight: the task stops, the create still lands; a clear owns it."""
    api, dag_id, name = d.api, "deploy_project", _name("marked")
    d.emulator.delay_creates(HELD_BACK)
    run_id = _run(d, dag_id, name)
    _wait_create_sent(d, name)
    api.mark(dag_id, run_id, "create", "failed")
    _wait_for_project(d, name)
    api.wait_run(dag_id, run_id, 60)
    assert api.task_instance(dag_id, run_id, "create")["state"] == "failed"
    api.clear(dag_id, run_id, "create")
    ti = api.wait_ti(dag_id, run_id, "create", ["success", "failed"], 120, min_try=2)
    logs = api.all_logs(dag_id, run_id, "create")
    assert (ti["state"], ti["try_number"]) == ("success", 2), logs
    assert "this task created it" in api.log(dag_id, run_id, "create", 2), logs
    _one_project(d, name)


HELD_BACK_CASES: dict[str, Callable[[Deployment], None]] = {
    "lost_answer_then_retry": lost_answer_then_retry,
    "kill_9_then_retry": kill_9_then_retry,
    "mark_failed_then_clear": mark_failed_then_clear,
}


def project_rows(d: Deployment) -> None:
    """Every create-project row; the held-back cases together, after the others."""
    clear_after_success(d)
    with ThreadPoolExecutor(len(HELD_BACK_CASES)) as pool:
        futures = {name: pool.submit(case, d) for name, case in HELD_BACK_CASES.items()}
    failures = {name: f.exception() for name, f in futures.items() if f.exception() is not None}
    assert not failures, failures
