"""``make demo``: run the main example DAG against a local DataOps.live emulator.

Starts the emulator on a free port, points Airflow's ``dataops_default`` connection at it, runs
``airflow dags test dataops_trigger_and_wait``, prints the pipeline's URL and final state, and
stops the emulator. Nothing needs a DataOps.live account.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "dataops_trigger_and_wait"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
EMULATOR = "airflow_provider_dataops.emulator"
PIPELINE_SECONDS = "12"
STARTUP_SECONDS = 30


def start_emulator() -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start ``python -m airflow_provider_dataops.emulator`` and read the settings it prints."""
    process = subprocess.Popen(
        [sys.executable, "-m", EMULATOR, "--port", "0", "--pipeline-seconds", PIPELINE_SECONDS],
        stdout=subprocess.PIPE,
        text=True,
    )
    settings: dict[str, str] = {}
    deadline = time.monotonic() + STARTUP_SECONDS
    assert process.stdout is not None
    while "AIRFLOW_CONN_DATAOPS_DEFAULT" not in settings:
        line = process.stdout.readline()
        if not line or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"The emulator did not start; run `python -m {EMULATOR}` to see why.")
        key, _, value = line.strip().partition("=")
        if key.startswith(("DATAOPS_EMULATOR_", "AIRFLOW_CONN_")):
            settings[key] = shlex.split(value)[0]
    return process, settings


def emulator_pipelines(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/-/emulator/pipelines", timeout=10) as response:
        pipelines: list[dict[str, Any]] = json.load(response)
    return pipelines


def main() -> int:
    home = ROOT / ".demo" / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    emulator, settings = start_emulator()
    print(f"DataOps.live emulator listening on {settings['DATAOPS_EMULATOR_URL']}", flush=True)
    try:
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_DATAOPS_DEFAULT": settings["AIRFLOW_CONN_DATAOPS_DEFAULT"],
        }
        subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"Running `airflow dags test {DAG_ID}` ...", flush=True)
        dag_test = subprocess.run([AIRFLOW, "dags", "test", DAG_ID], env=env, check=False)
        pipelines = emulator_pipelines(settings["DATAOPS_EMULATOR_URL"])
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    print("\n=== DataOps.live demo ===")
    for pipeline in pipelines:
        print(f"Pipeline {pipeline['id']} on {pipeline['project']}@{pipeline['ref']}: {pipeline['status']}")
        print(f"  {pipeline['web_url']}")
    succeeded = dag_test.returncode == 0 and [p["status"] for p in pipelines] == ["success"]
    print(f"DAG {DAG_ID}: {'success' if succeeded else 'FAILED'}")
    return 0 if succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
