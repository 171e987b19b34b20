"""The code shown in docs/emulator.rst runs, so the documentation cannot rot."""

from __future__ import annotations

import importlib.util
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
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
