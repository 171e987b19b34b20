"""``make demo`` keeps working: the script runs the main example DAG against a fresh emulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]


def test_demo_script_reports_a_successful_pipeline() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = result.stdout.split("=== DataOps.live demo ===")[-1]
    assert "Pipeline 1 on demo/dataops-project@main: success" in summary
    assert "/demo/dataops-project/-/pipelines/1" in summary
    assert "DAG dataops_trigger_and_wait: success" in summary
