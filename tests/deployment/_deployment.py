"""A real Airflow 3.3 deployment: PostgreSQL, the emulator, api-server, scheduler, dag-processor, triggerer.

Everything runs as separate processes of this checkout's virtualenv, on free loopback ports, with
an AIRFLOW_HOME in a temp dir. The dags come from two bundles: the repository's ``example_dags/``
and ``tests/deployment/dags/``.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import requests

from tests.deployment._api import AirflowAPI, Emulator
from tests.deployment._postgres import PostgresCluster
from tests.deployment._processes import Processes, ServiceDied, free_port, wait_for

REPO = Path(__file__).parents[2]
TEST_DAGS = Path(__file__).parent / "dags"
EXAMPLE_DAGS = REPO / "example_dags"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: The emulator's default pipeline duration: short, so the example DAGs finish quickly.
PIPELINE_SECONDS = 3


class Deployment:
    """Build with :meth:`start`; always call :meth:`stop` (the fixture does, also on failure)."""

    def __init__(self, root: Path, database: str = "postgres") -> None:
        self.root = root
        self.home = root / "airflow-home"
        self.home.mkdir()
        (root / "logs").mkdir()
        self.processes = Processes(root / "logs")
        self.database = database
        self.api_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.password = secrets.token_urlsafe(16)
        self.emulator_url = ""
        self.env: dict[str, str] = {}
        self.timings: dict[str, float] = {}

    # -- start -----------------------------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        sql_alchemy_conn = self._start_database()
        self._start_emulator()
        self.emulator = Emulator(self.emulator_url, self.access_token)
        self.env = self._airflow_env(sql_alchemy_conn)
        self._run_airflow("db", "migrate")
        self.timings["database"] = time.monotonic() - started
        for component in COMPONENTS:
            self.start_component(component)
        wait_for(self._healthy, 180, "the api-server, scheduler, dag-processor and triggerer to report healthy")
        self.api = AirflowAPI(self.base_url, "admin", self.password)
        wait_for(self._all_dag_files_parsed, 180, "the dag-processor to parse every DAG file")
        self.timings["ready"] = time.monotonic() - started

    def _start_database(self) -> str:
        if self.database == "sqlite":
            return f"sqlite:///{self.home}/airflow.db"
        pg_root = self.root / "postgres"
        pg_root.mkdir()
        cluster = PostgresCluster(pg_root, free_port())
        self.processes.on_stop(cluster.stop)
        cluster.start()
        return cluster.url

    def _start_emulator(self) -> None:
        log = self.processes.start(
            "emulator",
            [
                sys.executable,
                "-m",
                "airflow_provider_dataops.emulator",
                "--port",
                "0",
                "--pipeline-seconds",
                str(PIPELINE_SECONDS),
            ],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

        def url() -> str | None:
            for line in log.read_text().splitlines():
                if line.startswith("DATAOPS_EMULATOR_URL="):
                    return line.split("=", 1)[1].strip("'")
            if not self.processes.is_running("emulator"):
                raise ServiceDied(f"the emulator exited:\n{log.read_text()}")
            return None

        self.emulator_url = str(wait_for(url, 30, "the emulator to print its URL"))
        self.access_token = "glpat-emulator-access-token"
        self.trigger_token = "glptt-emulator-trigger-token"

    def _airflow_env(self, sql_alchemy_conn: str) -> dict[str, str]:
        passwords = self.home / "simple_auth_manager_passwords.json"
        passwords.write_text(json.dumps({"admin": self.password}))
        bundles = [
            {
                "name": name,
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(path), "refresh_interval": 0},
            }
            for name, path in (("provider_examples", EXAMPLE_DAGS), ("deployment_tests", TEST_DAGS))
        ]
        connection = {
            "conn_type": "dataops",
            "host": self.emulator_url,
            "password": self.access_token,
            "extra": {"trigger_token": self.trigger_token},
        }
        # Start from a clean slate: nothing of the pytest process's own Airflow settings leaks in.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DATAOPS_EMULATOR"))}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "PYTHONUNBUFFERED": "1",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__PARALLELISM": "32",
                "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "5",
                "AIRFLOW__CORE__FERNET_KEY": "",
                "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn,
                # The api-server serves every task's heartbeats and the tests' polls at once: the
                # default pool (5 + 10 overflow) runs dry and requests fail after a 30 s wait.
                "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "20",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "40",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "40",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW_CONN_DATAOPS_DEFAULT": json.dumps(connection),
            }
        )
        return env

    def _run_airflow(self, *args: str, timeout: float = 300) -> str:
        import subprocess

        result = subprocess.run(
            [AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def airflow_cli(self, *args: str, timeout: float = 120) -> Any:
        """Run an ``airflow`` CLI command against the deployment; returns the CompletedProcess."""
        import subprocess

        return subprocess.run([AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def start_component(self, component: str) -> None:
        self.processes.start(component, [AIRFLOW, component], env=self.env)

    def _healthy(self) -> bool:
        for component in (*COMPONENTS, "emulator"):
            if not self.processes.is_running(component):
                raise ServiceDied(f"{component} exited:\n{self.processes.logs(component)[-5000:]}")
        health = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).json()
        return all(
            health.get(part, {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
        )

    def _all_dag_files_parsed(self) -> bool:
        files = {str(p) for folder in (EXAMPLE_DAGS, TEST_DAGS) for p in folder.glob("*.py") if p.name != "__init__.py"}
        parsed = {dag["fileloc"] for dag in self.api.get("/api/v2/dags", params={"limit": 100})["dags"]}
        failed = {error["filename"] for error in self.api.import_errors()}
        return files <= parsed | failed

    def restart(self, component: str, timeout: float = 120) -> None:
        """Stop ``component`` the way a service manager does (SIGTERM to its main process), then start it."""
        self.processes.graceful_stop(component, timeout)
        self.start_component(component)

    # -- stop ------------------------------------------------------------------------------------

    def stop(self) -> None:
        self.processes.stop_all()
