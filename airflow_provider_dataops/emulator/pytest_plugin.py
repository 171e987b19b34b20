"""pytest fixtures for testing DAGs and clients against the emulator.

Enable them in your ``conftest.py``::

    pytest_plugins = ["airflow_provider_dataops.emulator.pytest_plugin"]

One server runs per test session; each test gets it freshly reset. Override
``dataops_emulator_options`` (session scope) to change how the server is started.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_dataops.emulator.server import DataOpsEmulator

CONNECTION_ENV = "AIRFLOW_CONN_DATAOPS_DEFAULT"


@pytest.fixture(scope="session")
def dataops_emulator_options() -> dict[str, Any]:
    """Keyword arguments for the session's :class:`DataOpsEmulator`; override to customise.

    :returns: e.g. ``{"pipeline_seconds": 2}``; empty by default.
    """
    return {}


@pytest.fixture(scope="session")
def dataops_emulator_server(dataops_emulator_options: dict[str, Any]) -> Iterator[DataOpsEmulator]:
    """The emulator, serving for the whole session on a free port of 127.0.0.1.

    :returns: the running emulator (not reset between tests; use ``dataops_emulator`` for that).
    """
    with DataOpsEmulator(**dataops_emulator_options) as emulator:
        yield emulator


@pytest.fixture
def dataops_emulator(dataops_emulator_server: DataOpsEmulator) -> DataOpsEmulator:
    """The session's emulator, reset to its seeded state before the test.

    :returns: the running emulator.
    """
    dataops_emulator_server.reset()
    return dataops_emulator_server


@pytest.fixture
def dataops_connection_env(dataops_emulator: DataOpsEmulator, monkeypatch: pytest.MonkeyPatch) -> DataOpsEmulator:
    """Point Airflow's default DataOps connection (``AIRFLOW_CONN_DATAOPS_DEFAULT``) at the emulator.

    :returns: the running, freshly reset emulator.
    """
    monkeypatch.setenv(CONNECTION_ENV, dataops_emulator.airflow_connection_json())
    return dataops_emulator
