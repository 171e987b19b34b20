"""Example ``conftest.py`` for testing your own DAGs against the emulator (copied and run by the tests)."""

# [START emulator_conftest]
import pytest

pytest_plugins = ["airflow_provider_dataops.emulator.pytest_plugin"]


@pytest.fixture(scope="session")
def dataops_emulator_options():
    # Optional: how the session's emulator starts (any DataOpsEmulator keyword argument).
    return {"pipeline_seconds": 10, "clock": "manual"}


# [END emulator_conftest]
