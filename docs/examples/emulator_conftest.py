"""Example ``conftest.py`` for tests that drive the emulator directly (copied and run by the tests)."""

import pytest


@pytest.fixture(scope="session")
def dataops_emulator_options():
    # Optional: how the session's emulator starts (any DataOpsEmulator keyword argument).
    # A manual clock stands still until the test calls advance(); only dataops_run_dag
    # moves it by itself.
    return {"pipeline_seconds": 10, "clock": "manual"}
