"""Thin clients: Airflow's public REST API (``/api/v2``, JWT from ``/auth/token``) and the emulator's control API."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

#: Task instance states after which nothing more happens without a user action.
FINISHED = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
MARKER_VARIABLE = "AIRFLOW_DATAOPS_TASK"
#: Fields of a structured log event that every line repeats: left out of the text form.
_LOG_NOISE = frozenset(
    {
        "timestamp",
        "event",
        "level",
        "ti_id",
        "task_id",
        "dag_id",
        "run_id",
        "try_number",
        "map_index",
        "logger",
        "filename",
        "lineno",
        "loc",
    }
)


class AirflowAPI:
    """What the UI and ``curl`` users do, through ``/api/v2`` only."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        # One connection per concurrent scenario thread.
        self.session.mount("http://", HTTPAdapter(pool_maxsize=64))
        response = self.session.post(
            f"{self.base_url}/auth/token", json={"username": username, "password": password}, timeout=30
        )
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def request(self, method: str, path: str, expect: Iterable[int] = (200,), **kwargs: Any) -> requests.Response:
        response = self.session.request(method, f"{self.base_url}{path}", timeout=60, **kwargs)
        if response.status_code not in set(expect):
            raise AssertionError(f"{method} {path} -> {response.status_code}: {response.text[:2000]}")
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    # -- DAGs and runs ---------------------------------------------------------------------------

    def dag_ids(self) -> set[str]:
        return {dag["dag_id"] for dag in self.get("/api/v2/dags", params={"limit": 100})["dags"]}

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v2/importErrors")["import_errors"])

    def trigger(
        self, dag_id: str, *, logical_date: str | None = None, conf: Mapping[str, Any] | None = None, prefix: str = ""
    ) -> str:
        """Trigger a run as the UI and API users do; ``logical_date=None`` is Airflow 3's default."""
        run_id = f"{prefix or 'deploy'}__{uuid.uuid4().hex[:10]}"
        body = {"dag_run_id": run_id, "logical_date": logical_date, "conf": dict(conf or {})}
        self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        return run_id

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}"))

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        """Wait until the DAG run has finished (success or failed)."""
        deadline = time.monotonic() + timeout
        run: dict[str, Any] = {}
        while time.monotonic() < deadline:
            run = self.dag_run(dag_id, run_id)
            if run["state"] in {"success", "failed"}:
                return run
            time.sleep(2)
        states = {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}
        raise AssertionError(f"{dag_id}/{run_id} still {run.get('state')} after {timeout:.0f}s: {states}")

    def delete_run(self, dag_id: str, run_id: str, expect: Iterable[int] = (204,)) -> requests.Response:
        return self.request("DELETE", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}", expect=expect)

    def mark_run(self, dag_id: str, run_id: str, state: str) -> None:
        """The UI's Mark run as failed / success."""
        self.request("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}", json={"state": state})

    def settle_earlier_runs(self, timeout: float) -> None:
        """Mark every unfinished DAG run failed, then wait until no task instance runs or is queued.

        A graceful scheduler stop waits for LocalExecutor's running tasks, so a task an earlier module
        left running (a job task following a long pipeline) would hold the stop for as long as it runs.
        """
        runs = self.get("/api/v2/dags/~/dagRuns", params={"state": ["queued", "running"], "limit": 100})
        for run in runs["dag_runs"]:
            self.mark_run(run["dag_id"], run["dag_run_id"], "failed")
        deadline = time.monotonic() + timeout
        busy: list[str] = []
        while time.monotonic() < deadline:
            params = {"state": ["running", "queued", "restarting"], "limit": 100}
            rows = self.get("/api/v2/dags/~/dagRuns/~/taskInstances", params=params)["task_instances"]
            busy = [f"{row['dag_id']}/{row['dag_run_id']}/{row['task_id']}: {row['state']}" for row in rows]
            if not busy:
                return
            time.sleep(2)
        raise AssertionError(f"task instances still busy after {timeout:.0f}s: {busy}")

    # -- task instances --------------------------------------------------------------------------

    def _ti_path(self, dag_id: str, run_id: str, task_id: str) -> str:
        return f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}"

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return dict(self.get(self._ti_path(dag_id, run_id, task_id)))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances")["task_instances"])

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        return list(self.get(self._ti_path(dag_id, run_id, task_id) + "/tries")["task_instances"])

    def wait_ti(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: Iterable[str],
        timeout: float,
        min_try: int = 1,
    ) -> dict[str, Any]:
        """Wait until the task instance (at try ``min_try`` or later) is in one of ``states``."""
        wanted = set(states)
        deadline = time.monotonic() + timeout
        ti: dict[str, Any] = {}
        while time.monotonic() < deadline:
            ti = self.task_instance(dag_id, run_id, task_id)
            if ti["state"] in wanted and (ti.get("try_number") or 0) >= min_try:
                return ti
            time.sleep(3)
        raise AssertionError(
            f"{dag_id}/{run_id}/{task_id} not in {sorted(wanted)} (try >= {min_try}) after {timeout:.0f}s; "
            f"it is {ti.get('state')} at try {ti.get('try_number')}.\n{self.all_logs(dag_id, run_id, task_id)}"
        )

    def clear(self, dag_id: str, run_id: str, task_id: str) -> None:
        """The UI's Clear on a task instance: also re-runs finished tasks and resets the DAG run."""
        cleared = self.clear_with_downstream(dag_id, run_id, task_id, downstream=False)
        assert cleared == [task_id], cleared

    def clear_with_downstream(self, dag_id: str, run_id: str, task_id: str, *, downstream: bool = True) -> list[str]:
        """The UI's Clear, with *Downstream* ticked unless ``downstream=False``; returns the cleared task ids."""
        body = {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": [task_id],
            "only_failed": False,
            "reset_dag_runs": True,
            "include_downstream": downstream,
            "include_upstream": False,
        }
        cleared = self.request("POST", f"/api/v2/dags/{dag_id}/clearTaskInstances", json=body).json()
        return sorted(ti["task_id"] for ti in cleared["task_instances"])

    def mark(self, dag_id: str, run_id: str, task_id: str, state: str) -> None:
        """The UI's Mark success / Mark failed on a task instance."""
        self.request("PATCH", self._ti_path(dag_id, run_id, task_id), json={"new_state": state})

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """One try's log as text: each structured event on a line, with its level and its fields."""
        response = self.request(
            "GET",
            f"{self._ti_path(dag_id, run_id, task_id)}/logs/{try_number}",
            params={"full_content": "true"},
            expect=(200, 404),
        )
        if response.status_code == 404:
            return ""
        lines = []
        for entry in response.json()["content"]:
            if isinstance(entry, str):
                lines.append(entry)
                continue
            fields = {k: v for k, v in entry.items() if k not in _LOG_NOISE}
            extra = " ".join(f"{k}={v}" for k, v in fields.items())
            lines.append(f"[{entry.get('level', '')}] {entry.get('event', '')} {extra}".rstrip())
        return "\n".join(lines)

    def all_logs(self, dag_id: str, run_id: str, task_id: str) -> str:
        """Every try's log, each headed by its try number (for assertions and failure messages)."""
        try:
            last = int(self.task_instance(dag_id, run_id, task_id).get("try_number") or 0)
        except AssertionError:
            return "(no task instance)"
        return "\n".join(f"----- try {n} -----\n{self.log(dag_id, run_id, task_id, n)}" for n in range(1, last + 1))

    def links(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        """The task's extra links, by name, as the UI reads them."""
        return dict(self.get(self._ti_path(dag_id, run_id, task_id) + "/links")["extra_links"])

    # -- connections -----------------------------------------------------------------------------

    def create_connection(self, body: Mapping[str, Any]) -> None:
        self.request("POST", "/api/v2/connections", json=dict(body), expect=(201,))

    def get_connection(self, conn_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v2/connections/{conn_id}"))

    def list_connections(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v2/connections", params={"limit": 100})["connections"])

    def test_connection(self, body: Mapping[str, Any], expect: Iterable[int] = (200,)) -> requests.Response:
        return self.request("POST", "/api/v2/connections/test", json=dict(body), expect=expect)

    def hook_meta(self) -> list[dict[str, Any]]:
        """What the UI's connection form is built from."""
        return list(self.get("/ui/connections/hook_meta"))


class Emulator:
    """The DataOps.live emulator's control API: pipelines and the request log, shared by every test."""

    def __init__(self, url: str, access_token: str) -> None:
        self.url = url.rstrip("/")
        self.headers = {"PRIVATE-TOKEN": access_token}

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call to the emulated DataOps.live API (``/api/v4``) with the access token, as a user makes."""
        response = requests.request(method, f"{self.url}/api/v4{path}", headers=self.headers, timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def pipelines(self) -> list[dict[str, Any]]:
        return list(requests.get(f"{self.url}/-/emulator/pipelines", timeout=30).json())

    def requests(self) -> list[dict[str, Any]]:
        return list(requests.get(f"{self.url}/-/emulator/requests", timeout=30).json())

    def pipelines_of(self, dag_id: str, run_id: str, task_id: str | None = None) -> list[dict[str, Any]]:
        """The pipelines whose marker names this DAG run (and task), oldest first."""
        wanted = f"dag={dag_id} run={run_id} "
        found = []
        for pipeline in self.pipelines():
            marker = {v["key"]: v["value"] for v in pipeline["variables"]}.get(MARKER_VARIABLE, "")
            if marker.startswith(wanted) and (task_id is None or f" task={task_id} " in marker):
                found.append({**pipeline, "marker": marker})
        return sorted(found, key=lambda p: p["id"])

    def new_project(self, namespace: str) -> str:
        """A project of its own in a new group ``namespace``, so a test can count every pipeline in it."""
        seeded = {"count": 1, "namespace": namespace}
        requests.post(f"{self.url}/-/emulator/projects/seed", json=seeded, timeout=30).raise_for_status()
        newest = self.api("GET", "/projects", params={"order_by": "id", "sort": "desc", "per_page": 100})
        (project,) = [p for p in newest if p["namespace"]["full_path"] == namespace]
        return str(project["path_with_namespace"])

    def start_pipeline(self, project: str, seconds: float) -> dict[str, Any]:
        """Start a pipeline that takes ``seconds``, as a user or another system does."""
        body = {
            "ref": "main",
            "variables": [{"key": "DATAOPS_EMULATOR_SECONDS", "value": str(seconds)}],
        }
        return dict(self.api("POST", f"/projects/{quote(project, safe='')}/pipeline", json=body))

    def cancel_pipeline(self, project: str, pipeline_id: int) -> None:
        self.api("POST", f"/projects/{quote(project, safe='')}/pipelines/{pipeline_id}/cancel")

    def pipelines_in(self, project: str) -> list[dict[str, Any]]:
        """Every pipeline of a project, oldest first."""
        return sorted((p for p in self.pipelines() if p["project"] == project), key=lambda p: p["id"])

    def projects_named(self, name: str) -> list[dict[str, Any]]:
        """Every project called ``name``."""
        found = self.api("GET", "/projects", params={"search": name, "per_page": 100})
        return [p for p in found if p["name"] == name]

    def delay_creates(self, seconds: float) -> None:
        """Hold the next ``POST /projects`` for ``seconds``: it takes effect after a short-timeout client gave up."""
        fault = {"action": "latency", "method": "POST", "path": "^/api/v4/projects$", "times": 1, "seconds": seconds}
        requests.post(f"{self.url}/-/emulator/faults", json=fault, timeout=30).raise_for_status()

    def delay_cancel(self, pipeline_id: int, seconds: float) -> None:
        """Hold the next cancel request of a pipeline for ``seconds`` (other requests go on)."""
        fault = {
            "action": "latency",
            "method": "POST",
            "path": f"/pipelines/{pipeline_id}/cancel$",
            "times": 1,
            "seconds": seconds,
        }
        requests.post(f"{self.url}/-/emulator/faults", json=fault, timeout=30).raise_for_status()

    def cancel_posts(self, pipeline_id: int) -> list[dict[str, Any]]:
        """The cancel requests the emulator received for a pipeline."""
        return [
            r
            for r in self.requests()
            if r["method"] == "POST" and r["path"].endswith(f"/pipelines/{pipeline_id}/cancel")
        ]
