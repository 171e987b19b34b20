"""The code shown in docs/emulator.rst and docs/testing-dags.rst runs, so the documentation cannot rot."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_in_process_example():
    spec = importlib.util.spec_from_file_location("emulator_in_process", EXAMPLES / "emulator_in_process.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main() == [503, 201]


def test_pytest_plugin_example_in_a_fresh_project(tmp_path):
    # Exactly what a user does: a conftest that enables the plugin, and tests that use its fixtures.
    shutil.copy(EXAMPLES / "emulator_conftest.py", tmp_path / "conftest.py")
    shutil.copy(EXAMPLES / "emulator_usage_examples.py", tmp_path / "test_emulator_usage.py")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,  # hang guards, for a busy machine: the route script took 228 s at load 12
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_cli_route_script(tmp_path):
    # The shell route, as documented: the emulator with --env-file, then Airflow's own CLI.
    shutil.copytree(EXAMPLES / "user_project" / "dags", tmp_path / "dags")
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        ["bash", str(EXAMPLES / "emulator_cli_route.sh")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    assert "Pipeline 1 finished as success" in log
    assert not (tmp_path / "emulator.env").exists()  # the server stopped with the script
