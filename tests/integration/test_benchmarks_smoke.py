"""Smoke test of ``python -m benchmarks``: each benchmark runs at a tiny size and its checks pass.

Only correctness is asserted (item counts, every event ``success``, attempts): timing targets
depend on the machine, so they run with ``--targets report`` and their verdicts are not checked.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_dataops.emulator.state import SEEDED_PROJECT_COUNT

# Tooling of this repository: checked once, on Airflow 3.3 (`make test` skips it on 2.11).
pytestmark = [pytest.mark.integration, pytest.mark.once]

ROOT = Path(__file__).parents[2]

_PROJECTS = 300 + SEEDED_PROJECT_COUNT  # what the pagination case lists

CASES = {
    "pagination": (
        ["--projects", "300"],
        [
            f"CHECK  keyset: every project listed once: PASS ({_PROJECTS} items, {_PROJECTS} ids)",
            "CHECK  keyset: one request per page: PASS (4 requests, 4 pages)",
            f"CHECK  offset: every project listed once: PASS ({_PROJECTS} items, {_PROJECTS} ids)",
            "CHECK  keyset: one TCP connection for both passes (Session reused): PASS",
            "CHECK  offset: one TCP connection for both passes (Session reused): PASS",
        ],
    ),
    "deferral": (
        ["--triggers", "20", "--pipeline-seconds", "1", "--poll-interval", "0.5"],
        [
            "CHECK  timed: one event per trigger (20): PASS (20 events)",
            "CHECK  timed: every event is success: PASS (success x 20)",
            "CHECK  timed: no error events, no crashes: PASS",
            "CHECK  timed: one shared httpx client for the loop: PASS (1 seen, 1 alive)",
            "CHECK  heap: every event is success: PASS (success x 20)",
        ],
    ),
    "retries": (
        ["--failures", "20"],
        [
            "CHECK  sync: 21 attempts, 20 x 503 then 200: PASS",
            "CHECK  async: 21 attempts, 20 x 503 then 200: PASS",
            "CHECK  sync: Retry-After honoured (gap >= 1 s): PASS",
            "CHECK  async: Retry-After honoured (gap >= 1 s): PASS",
        ],
    ),
    "artifacts": (
        ["--artifact-mib", "8"],
        [
            "CHECK  every byte written, as the job announced: PASS",
            "CHECK  the archive holds the whole generated file: PASS (8388608)",
            "CHECK  redirected to object storage once: PASS",
        ],
    ),
    "polling": (
        [
            *("--waits", "40", "--many-waits", "60", "--interval", "2", "--scaled-interval", "0.5"),
            *("--burst-waits", "20", "--restart-waits", "50", "--throttled-waits", "20"),
        ],
        [
            "CHECK  per-trigger: one success event per wait: PASS (60 events)",
            "CHECK  shared: one success event per wait: PASS (60 events)",
            "CHECK  burst, handover: one success per wait: PASS",
            "CHECK  throttled, first reads: 20 events: PASS",
        ],
    ),
    "listing": (
        ["--pipelines", "200"],
        [
            "CHECK  20: the updated_after listing returns only the recent pipeline: PASS (1 rows)",
            "CHECK  200: the updated_after listing returns only the recent pipeline: PASS (1 rows)",
        ],
    ),
    "imports": (
        ["--repetitions", "2", "--importtime"],
        ["CHECK  task modules import no HTTP library airflow.sdk did not: PASS"],
    ),
}


def run_benchmarks(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,  # a hang guard: the imports benchmark took 180 s at load 12 on 2 cores
        check=False,
    )


def _needs(name: str) -> list[pytest.MarkDecorator]:
    """The import benchmark measures the provider against Airflow 3's Task SDK (``airflow.sdk``)."""
    if name == "imports" and importlib.util.find_spec("airflow.sdk") is None:
        return [pytest.mark.skip(reason="measured against airflow.sdk, which Airflow 2 does not have")]
    return []


@pytest.mark.parametrize("name", [pytest.param(name, marks=_needs(name)) for name in CASES])
def test_benchmark_runs_at_tiny_size_and_its_checks_pass(name: str) -> None:
    args, expected = CASES[name]
    result = run_benchmarks(name, *args, "--targets", "report")
    output = result.stdout
    assert result.returncode == 0, f"exit {result.returncode}\n{output}\n{result.stderr[-4000:]}"
    for line in expected:
        assert line in output, f"missing {line!r} in:\n{output}"
    checks = re.findall(r"^\s+CHECK\s+.*: (PASS|FAIL)", output, flags=re.MULTILINE)
    assert checks, output
    assert "FAIL" not in checks, output
    # Targets are printed with a verdict, but the verdict is the machine's business, not this test's.
    assert re.search(r"^\s+TARGET\s+.*: (PASS|FAIL)", output, flags=re.MULTILINE), output
    assert re.search(rf"^RESULT {name}: ", output, flags=re.MULTILINE), output


def test_unknown_benchmark_is_a_usage_error() -> None:
    result = run_benchmarks("nope")
    assert result.returncode == 2
    assert "unknown benchmark nope" in result.stderr
