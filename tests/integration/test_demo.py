"""``make demo``: a short, readable report of a real run, and the emulator kept for browsing on request."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest
import requests

# Tooling of this repository: checked once, on Airflow 3.3 (`make test` skips it on 2.11).
pytestmark = [pytest.mark.integration, pytest.mark.once]

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "scripts" / "demo.py"
RUN_SECONDS = 600  # a hang guard: the demo took 211 s at load 12 on 2 cores
# A hang guard too: stopping takes about 1 s.
STOP_SECONDS = 60
# Airflow's own log lines and warnings: they belong in the log file, not on the screen.
NOISE = re.compile(r"\[(info|warning|debug|error)\s*\]|next_dagrun|Traceback|Warning|xcom", re.IGNORECASE)


def load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_script", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_lines(process: subprocess.Popen[str], until: str) -> list[str]:
    """Lines of stdout up to and including the first that contains ``until`` (the process keeps running)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    while True:
        line = lines.get(timeout=RUN_SECONDS)
        assert line is not None, "the demo ended early:\n" + "\n".join(seen)
        seen.append(line)
        if until in line:
            return seen


def test_demo_prints_one_screen_and_keeps_the_emulator_for_browsing() -> None:
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT)],
        cwd=ROOT,
        env={**os.environ, "DEMO_KEEP_EMULATOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = read_lines(process, "Ctrl-C stops it")
        text = "\n".join(lines)
        assert len(lines) <= 25, text
        assert all(len(line) <= 120 for line in lines), text
        assert not NOISE.search(text), text

        emulator = re.search(r"^Emulator:\s+(http://127\.0\.0\.1:\d+) ", text, re.MULTILINE)
        assert emulator, text
        url = emulator.group(1)
        assert re.search(r"^Airflow DB:\s+(ready|creating) ", text, re.MULTILINE), text
        pipeline_url = f"{url}/demo/dataops-project/-/pipelines/1"
        assert f"Pipeline 1 started: {pipeline_url}" in lines
        statuses = [match.group(1) for line in lines if (match := re.match(r"^\s+[\d.]+ s  (\S+)", line))]
        assert statuses[0] == "created", text
        assert "running:" in statuses, text
        assert statuses[-1] == "success", text
        assert "Result:      DAG run success; pipeline 1 success" in lines
        log_line = next(line for line in lines if line.startswith("Airflow log: "))
        airflow_log = (ROOT / log_line.removeprefix("Airflow log: ")).read_text()
        assert "$ airflow dags test dataops_trigger_and_wait" in airflow_log
        assert "Pipeline 1 finished as success" in airflow_log
        assert lines[-1] == f"The emulator keeps running: open {pipeline_url} (Ctrl-C stops it)."

        page = requests.get(pipeline_url, timeout=10)
        assert page.status_code == 200
        assert 'Pipeline #1 <span class="status s-success">success</span>' in page.text
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=STOP_SECONDS)
    assert process.returncode == 0


def test_without_keep_the_last_line_says_how_to_keep_the_emulator() -> None:
    assert load_demo().browse_hint(False, "http://x/").endswith("make demo KEEP=1")


def test_the_db_is_migrated_only_when_the_airflow_version_changed(tmp_path, monkeypatch) -> None:
    demo = load_demo()
    monkeypatch.setattr(demo, "AIRFLOW_HOME", tmp_path)
    monkeypatch.setattr(demo, "MIGRATED_STAMP", tmp_path / "stamp")
    runs: list[list[str]] = []
    monkeypatch.setattr(
        demo.subprocess, "run", lambda args, **kwargs: runs.append(args) or subprocess.CompletedProcess(args, 0)
    )
    log = (tmp_path / "log").open("w")
    version = importlib.metadata.version("apache-airflow")

    assert demo.prepare_db({}, log)  # no DB yet
    assert len(runs) == 1
    assert runs[0][1:] == ["db", "migrate"]
    assert (tmp_path / "stamp").read_text().strip() == version

    (tmp_path / "airflow.db").touch()
    assert demo.prepare_db({}, log)  # DB at this version: nothing to do
    assert len(runs) == 1

    (tmp_path / "stamp").write_text("2.0.0\n")
    assert demo.prepare_db({}, log)  # another Airflow: migrate again
    assert len(runs) == 2
