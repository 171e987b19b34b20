"""The command line: ``dataops-emulator`` and ``python -m airflow_provider_dataops.emulator``."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from airflow_provider_dataops.emulator.__main__ import build_parser

pytestmark = pytest.mark.integration

CONSOLE_SCRIPT = Path(sys.executable).with_name("dataops-emulator")


def start(command):
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    values = {}
    while len(values) < 5:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"the emulator exited early: {process.stderr.read()}")
        key, _, value = line.rstrip("\n").partition("=")
        values[key] = shlex.split(value)[0]
    return process, values


def stop(process):
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=15)
    return process.returncode, stderr


def test_python_dash_m_prints_url_and_tokens_and_serves():
    command = [
        sys.executable,
        "-m",
        "airflow_provider_dataops.emulator",
        "--port",
        "0",
        "--access-token",
        "glpat-cli",
        "--trigger-token",
        "glptt-cli",
        "--pipeline-seconds",
        "0",
    ]
    process, values = start(command)
    try:
        url = values["DATAOPS_EMULATOR_URL"]
        assert url.startswith("http://127.0.0.1:")
        assert not url.endswith(":0")
        assert values["DATAOPS_EMULATOR_API_URL"] == f"{url}/api/v4"
        assert values["DATAOPS_EMULATOR_ACCESS_TOKEN"] == "glpat-cli"
        assert values["DATAOPS_EMULATOR_TRIGGER_TOKEN"] == "glptt-cli"
        assert '"password": "glpat-cli"' in values["AIRFLOW_CONN_DATAOPS_DEFAULT"]
        created = requests.post(
            f"{url}/api/v4/projects/1/trigger/pipeline", data={"token": "glptt-cli", "ref": "main"}, timeout=10
        )
        assert created.json()["status"] == "success"  # --pipeline-seconds 0
    finally:
        returncode, _ = stop(process)
    assert returncode == 0


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="the package's console script is not installed")
def test_console_script_with_rate_limit_and_a_redacted_request_log():
    process, values = start([str(CONSOLE_SCRIPT), "--port", "0", "--rate-limit", "1", "--log-level", "info"])
    try:
        api = values["DATAOPS_EMULATOR_API_URL"]
        token = values["DATAOPS_EMULATOR_ACCESS_TOKEN"]
        assert requests.get(f"{api}/user", params={"private_token": token}, timeout=10).status_code == 200
        assert requests.get(f"{api}/user", params={"private_token": token}, timeout=10).status_code == 429
    finally:
        returncode, stderr = stop(process)
    assert returncode == 0
    assert "/api/v4/user?private_token=[REDACTED] 429" in stderr
    assert token not in stderr


def test_parser_defaults():
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.pipeline_seconds, args.rate_limit, args.log_level) == (
        "127.0.0.1",
        8080,
        10.0,
        None,
        "warning",
    )


def test_env_file_exports_the_connection_into_a_shell(tmp_path):
    env_file = tmp_path / "emulator.env"
    env_file.write_text("AIRFLOW_CONN_DATAOPS_DEFAULT=stale-from-an-earlier-run\n")
    process, values = start(
        [sys.executable, "-m", "airflow_provider_dataops.emulator", "--port", "0", "--env-file", str(env_file)]
    )
    try:
        # The documented route: set -a; . FILE; set +a exports every line to the commands that follow.
        shell = subprocess.run(
            [
                "bash",
                "-c",
                'set -a; . "$1"; set +a; bash -c \'printf "%s" "$AIRFLOW_CONN_DATAOPS_DEFAULT"\'',
                "_",
                env_file,
            ],
            capture_output=True,
            text=True,
            check=True,
            env={"PATH": "/usr/bin:/bin"},
        )
        assert json.loads(shell.stdout) == json.loads(values["AIRFLOW_CONN_DATAOPS_DEFAULT"])
        assert json.loads(shell.stdout)["host"] == values["DATAOPS_EMULATOR_URL"]
        assert env_file.stat().st_mode & 0o077 == 0
    finally:
        returncode, _ = stop(process)
    assert returncode == 0
    assert not env_file.exists()  # it exists only while the server runs


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="the package's console script is not installed")
def test_help_without_the_emulator_extra_is_one_clear_message(tmp_path):
    # Shadow Starlette with a module that fails the way a missing package does.
    (tmp_path / "starlette.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'starlette'\", name='starlette')\n"
    )
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "dataops-emulator: The DataOps.live emulator needs Starlette and uvicorn: "
        "pip install 'airflow-provider-dataops[emulator]'"
    )
