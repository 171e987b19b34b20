from __future__ import annotations

import json
import re

import pytest

from airflow_provider_dataops.api import retry
from airflow_provider_dataops.hooks.dataops import DataOpsHook

ACCESS_TOKEN = "glpat-unit-secret-access-token"
TRIGGER_TOKEN = "glptt-unit-secret-trigger-token"
HOST = "https://dataops.example.com"
API = f"{HOST}/api/v4"


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str = "dataops_default", **fields: object) -> None:
    """Define an Airflow connection through the environment, in its JSON form."""
    value = {"conn_type": "dataops", "host": HOST, "password": ACCESS_TOKEN, **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record retry waits instead of sleeping."""
    waited: list[float] = []
    monkeypatch.setattr(retry, "sleep", waited.append)

    async def _async_record(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(retry, "async_sleep", _async_record)
    return waited


@pytest.fixture
def conn(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch)


@pytest.fixture
def hook(conn: None, sleeps: list[float]) -> DataOpsHook:
    return DataOpsHook()


@pytest.fixture
def conn_trigger_only(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    set_connection(monkeypatch, password=None, extra={"trigger_token": TRIGGER_TOKEN})


#: A pipeline without test reports, as GitLab answers for it (zero counts, not 404).
NO_TESTS = {
    "total": {"time": 0, "count": 0, "success": 0, "failed": 0, "skipped": 0, "error": 0, "suite_error": None},
    "test_suites": [],
}


@pytest.fixture(autouse=True)
def _pipelines_have_no_tests_by_default(request: pytest.FixtureRequest) -> None:
    """A finished pipeline's test summary is read once; tests about tests register their own answer."""
    if "requests_mock" in request.fixturenames:
        mocker = request.getfixturevalue("requests_mock")
        mocker.get(re.compile(r"/pipelines/\d+/test_report_summary$"), json=NO_TESTS)


@pytest.fixture(autouse=True)
def _pipelines_start_no_downstream_pipelines_by_default(request: pytest.FixtureRequest) -> None:
    """A finished pipeline's bridges are read once (for the links); tests of child pipelines register their own."""
    if "requests_mock" in request.fixturenames:
        mocker = request.getfixturevalue("requests_mock")
        mocker.get(re.compile(r"/pipelines/\d+/bridges(\?.*)?$"), json=[])
