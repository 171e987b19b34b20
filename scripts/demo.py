"""``make demo``: run the main example DAG against a local DataOps.live emulator.

Starts the emulator in this process, points Airflow's ``dataops_default`` connection at it, runs
``airflow dags test dataops_trigger_and_wait`` with Airflow's own output going to ``.demo/airflow.log``,
and prints what a person wants to see: where the emulator runs, the pipeline's URL, its status
changes and the result. With ``DEMO_KEEP_EMULATOR=1`` (``make demo KEEP=1``) the emulator keeps
running afterwards, so its pages can be browsed, until Ctrl-C. Nothing needs a DataOps.live account.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

from airflow_provider_dataops.emulator import DataOpsEmulator

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = ROOT / ".demo"
#: One home per Airflow version: Airflow 2.11 cannot migrate (down) a DB that Airflow 3 made.
AIRFLOW_HOME = DEMO_DIR / f"airflow-{importlib.metadata.version('apache-airflow')}"
AIRFLOW_LOG = DEMO_DIR / "airflow.log"
#: Holds the Airflow version the demo's DB was migrated for, so an unchanged DB is not migrated again.
MIGRATED_STAMP = AIRFLOW_HOME / "migrated-for-airflow"
DAG_ID = "dataops_trigger_and_wait"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
PIPELINE_SECONDS = 12
POLL_SECONDS = 0.2
KEEP_VARIABLE = "DEMO_KEEP_EMULATOR"


def shown(path: Path) -> str:
    """``path`` relative to the current directory when it is inside it (shorter to read)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def airflow_env(emulator: DataOpsEmulator) -> dict[str, str]:
    """An isolated Airflow (its own home and SQLite DB, the example DAGs) connected to the emulator."""
    return {
        **os.environ,
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_DATAOPS_DEFAULT": emulator.airflow_connection_json(),
    }


def log_command(log: IO[str], command: str) -> None:
    """A header in the Airflow log before each command's output."""
    if log.tell():
        log.write("\n")
    log.write(f"$ {command}\n{'-' * 80}\n")
    log.flush()


def prepare_db(env: dict[str, str], log: IO[str]) -> bool:
    """Migrate the demo's metadata DB unless it is already at this Airflow version.

    A stamp file is read instead of asking Airflow (``airflow db check-migrations`` takes seconds).

    :returns: whether it succeeded.
    """
    version = importlib.metadata.version("apache-airflow")
    database = AIRFLOW_HOME / "airflow.db"
    if database.exists() and MIGRATED_STAMP.exists() and MIGRATED_STAMP.read_text().strip() == version:
        print(f"Airflow DB:  ready ({shown(database)}, Airflow {version})", flush=True)
        return True
    print(f"Airflow DB:  creating {shown(database)} for Airflow {version} (about 10 s, once) ...", flush=True)
    log_command(log, "airflow db migrate")
    migrated = subprocess.run([AIRFLOW, "db", "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    if migrated.returncode != 0:
        return False
    MIGRATED_STAMP.write_text(version + "\n")
    return True


def running_stage(emulator: DataOpsEmulator, pipeline: dict[str, Any]) -> str:
    """The stage of the pipeline's running job, read through the public API as any client would."""
    url = f"{emulator.api_url}/projects/{pipeline['project_id']}/pipelines/{pipeline['id']}/jobs?scope=running"
    request = urllib.request.Request(url, headers={"PRIVATE-TOKEN": emulator.access_token})
    with urllib.request.urlopen(request, timeout=10) as response:
        jobs: list[dict[str, Any]] = json.load(response)
    return str(jobs[0]["stage"]) if jobs else ""


def watch(emulator: DataOpsEmulator, dag_test: subprocess.Popen[bytes]) -> list[dict[str, Any]]:
    """Print each pipeline the DAG starts and every status change until ``airflow dags test`` ends.

    :returns: the emulator's pipeline records at the end.
    """
    seen: dict[int, tuple[float, str]] = {}  # pipeline id -> (first seen, last status shown)
    while True:
        finished = dag_test.poll() is not None
        pipelines = emulator.pipelines()
        for pipeline in pipelines:
            pipeline_id = pipeline["id"]
            if pipeline_id not in seen:
                print(f"Pipeline {pipeline_id} started: {pipeline['web_url']}", flush=True)
                seen[pipeline_id] = (time.monotonic(), "")
            since, last = seen[pipeline_id]
            status = pipeline["status"]
            if status == "running":
                stage = running_stage(emulator, pipeline)
                status = f"running: {stage}" if stage else status
            if status != last:
                print(f"  {time.monotonic() - since:5.1f} s  {status}", flush=True)
                seen[pipeline_id] = (since, status)
        if finished:
            return pipelines
        time.sleep(POLL_SECONDS)


def browse_hint(keep: bool, page: str) -> str:
    """The last line: where to browse the pages, or how to keep the emulator running to do so.

    :param keep: whether the emulator keeps running.
    :param page: the page to open.
    """
    if keep:
        return f"The emulator keeps running: open {page} (Ctrl-C stops it)."
    return "The emulator has stopped. To browse its pages after the run: make demo KEEP=1"


def serve_until_interrupted() -> None:
    """Wait for Ctrl-C while the emulator's thread serves."""
    # A shell starts a background command with SIGINT ignored (as `make test` runs its checks), and
    # Python then turns no SIGINT into KeyboardInterrupt: Ctrl-C works however the demo started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nEmulator stopped.")


def main() -> int:
    keep = os.environ.get(KEEP_VARIABLE, "") not in ("", "0")
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    print(f"DataOps.live demo: the example DAG {DAG_ID} against a local emulator (no account needed)")
    with DataOpsEmulator(pipeline_seconds=PIPELINE_SECONDS) as emulator, AIRFLOW_LOG.open("w") as log:
        print(f"Emulator:    {emulator.url} (the DataOps.live API, served by this script)", flush=True)
        env = airflow_env(emulator)
        if not prepare_db(env, log):
            print(f"`airflow db migrate` failed; see {shown(AIRFLOW_LOG)}")
            return 1
        print(f"Running:     airflow dags test {DAG_ID} (Airflow takes about 20 s to start the task)", flush=True)
        log_command(log, f"airflow dags test {DAG_ID}")
        dag_test = subprocess.Popen([AIRFLOW, "dags", "test", DAG_ID], env=env, stdout=log, stderr=subprocess.STDOUT)
        pipelines = watch(emulator, dag_test)
        run = "success" if dag_test.returncode == 0 else f"FAILED (airflow exit code {dag_test.returncode})"
        ends = [f"pipeline {pipeline['id']} {pipeline['status']}" for pipeline in pipelines] or ["no pipeline"]
        print(f"Result:      DAG run {run}; {', '.join(ends)}")
        succeeded = dag_test.returncode == 0 and [pipeline["status"] for pipeline in pipelines] == ["success"]
        print(f"Airflow log: {shown(AIRFLOW_LOG)}", flush=True)
        print(browse_hint(keep, pipelines[0]["web_url"] if pipelines else f"{emulator.url}/"), flush=True)
        if keep:
            serve_until_interrupted()
    return 0 if succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
