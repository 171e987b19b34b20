"""Pipelines, projects, jobs and the connection test, on the API's real shapes."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
import requests_mock as rm

from airflow_provider_dataops.errors import DataOpsError, DataOpsPermissionError
from airflow_provider_dataops.hooks.dataops import DataOpsHook

from .conftest import ACCESS_TOKEN, API, TRIGGER_TOKEN, set_connection

CREATED = {"id": 31, "status": "created", "source": "api", "ref": "main", "web_url": "https://x/-/pipelines/31"}


def test_trigger_with_access_token_sends_variables_as_a_list(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{API}/projects/demo%2Fdataops-project/pipeline", json=CREATED, status_code=201)
    pipeline = hook.trigger_pipeline(
        "demo/dataops-project", "main", variables={"RETRIES": 3, "FULL": True}, pipeline_file="full-ci.yml"
    )
    assert pipeline == CREATED
    assert requests_mock.last_request.json() == {
        "ref": "main",
        "variables": [
            {"key": "RETRIES", "value": "3", "variable_type": "env_var"},
            {"key": "FULL", "value": "true", "variable_type": "env_var"},
            {"key": "_PIPELINE_FILE_NAME", "value": "full-ci.yml", "variable_type": "env_var"},
        ],
    }


def test_trigger_with_trigger_token_sends_a_form(conn_trigger_only: None, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{API}/projects/830/trigger/pipeline", json={**CREATED, "source": "trigger"}, status_code=201)
    DataOpsHook().trigger_pipeline(830, "main", variables={"A": 1}, pipeline_file="full-ci.yml")
    request = requests_mock.last_request
    assert "PRIVATE-TOKEN" not in request.headers
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.text) == {
        "token": [TRIGGER_TOKEN],
        "ref": ["main"],
        "variables[A]": ["1"],
        "variables[_PIPELINE_FILE_NAME]": ["full-ci.yml"],
    }
    assert TRIGGER_TOKEN not in request.url  # never in the query string, where logs would see it


def test_read_only_token_falls_back_to_the_trigger_token(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float], requests_mock: rm.Mocker
) -> None:
    set_connection(monkeypatch, extra={"trigger_token": TRIGGER_TOKEN})
    requests_mock.post(f"{API}/projects/1/pipeline", status_code=403, json={"message": "403 Forbidden"})
    requests_mock.post(f"{API}/projects/1/trigger/pipeline", json=CREATED, status_code=201)
    assert DataOpsHook().trigger_pipeline(1, "main")["id"] == 31
    assert requests_mock.call_count == 2


def test_forbidden_without_trigger_token_is_raised(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{API}/projects/1/pipeline", status_code=403, json={"message": "403 Forbidden"})
    with pytest.raises(DataOpsPermissionError, match="not allowed"):
        hook.trigger_pipeline(1, "main")


def test_pipeline_reads_cancel_retry_and_variables(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    base = f"{API}/projects/1/pipelines/31"
    requests_mock.get(base, json={**CREATED, "status": "running"})
    requests_mock.post(f"{base}/cancel", json={**CREATED, "status": "canceling"})
    requests_mock.post(f"{base}/retry", json={**CREATED, "status": "pending"}, status_code=201)
    requests_mock.get(f"{base}/variables", json=[{"key": "A", "value": "1", "variable_type": "env_var"}])
    assert hook.get_pipeline(1, 31)["status"] == "running"
    assert hook.cancel_pipeline(1, 31)["status"] == "canceling"
    assert hook.retry_pipeline(1, "31")["status"] == "pending"
    assert hook.get_pipeline_variables(1, 31) == [{"key": "A", "value": "1", "variable_type": "env_var"}]


def test_find_pipeline_by_variable_checks_newest_first(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{API}/projects/1/pipelines", json=[{"id": 33}, {"id": 32}, {"id": 31}])
    requests_mock.get(f"{API}/projects/1/pipelines/33/variables", json=[{"key": "MARK", "value": "other"}])
    requests_mock.get(f"{API}/projects/1/pipelines/32/variables", json=[{"key": "MARK", "value": "mine"}])
    found = hook.find_pipeline_by_variable(
        1, key="MARK", value="mine", ref="main", updated_after="2026-11-28T00:00:00Z"
    )
    assert found == {"id": 32}
    listing = parse_qs(requests_mock.request_history[0].query)
    assert listing["ref"] == ["main"]
    assert listing["order_by"] == ["id"]
    assert listing["sort"] == ["desc"]
    assert listing["updated_after"] == ["2026-11-28t00:00:00z"]
    requests_mock.get(f"{API}/projects/1/pipelines/31/variables", json=[])
    assert hook.find_pipeline_by_variable(1, key="MARK", value="absent", max_candidates=3) is None
    with pytest.raises(DataOpsError, match="More than 2 pipelines"):
        hook.find_pipeline_by_variable(1, key="MARK", value="absent", max_candidates=2)


def test_jobs_with_scopes_and_job_log_tail(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{API}/projects/1/pipelines/31/jobs", json=[{"id": 5, "status": "failed"}])
    assert hook.list_pipeline_jobs(1, 31, scope=["failed", "canceled"]) == [{"id": 5, "status": "failed"}]
    assert parse_qs(requests_mock.last_request.query)["scope[]"] == ["failed", "canceled"]

    log = "".join(f"\x1b[32;1mline {i}\x1b[0;m\n" for i in range(1, 10_001))
    log += "section_start:1700000000:step_script\r\x1b[0Kfinal error\n"
    requests_mock.get(f"{API}/projects/1/jobs/5/trace", text=log, headers={"Content-Type": "text/plain"})
    tail = hook.get_job_log(1, 5, tail_lines=3)
    assert tail.splitlines() == ["line 9999", "line 10000", "== final error =="]  # a section start is a header
    assert len(hook.get_job_log(1, 5, tail_lines=None).splitlines()) == 10_001


def test_create_project_resolves_the_namespace_path(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{API}/namespaces/demo%2Fteam", json={"id": 12, "full_path": "demo/team"})
    requests_mock.post(f"{API}/projects", json={"id": 99, "path_with_namespace": "demo/team/sales"}, status_code=201)
    project = hook.create_project(
        "Sales",
        path="sales",
        namespace="demo/team",
        visibility="private",
        initialize_with_readme=True,
        default_branch="main",
        description="d",
    )
    assert project["id"] == 99
    assert requests_mock.last_request.json() == {
        "name": "Sales",
        "path": "sales",
        "namespace_id": 12,
        "visibility": "private",
        "initialize_with_readme": True,
        "default_branch": "main",
        "description": "d",
    }
    hook.create_project(path="ops", namespace=12)
    assert requests_mock.last_request.json() == {"path": "ops", "namespace_id": 12}


def test_test_connection_reports_user_scopes_and_expiry(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{API}/user", json={"id": 1, "username": "dataops-user"})
    requests_mock.get(f"{API}/personal_access_tokens/self", json={"scopes": ["read_api"], "expires_at": "2027-01-31"})
    ok, message = hook.test_connection()
    assert ok
    assert "as dataops-user" in message
    assert "token scopes: read_api" in message
    assert "expires 2027-01-31" in message
    assert "cannot trigger" in message
    assert ACCESS_TOKEN not in message


def test_test_connection_without_token_self_endpoint(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{API}/user", json={"username": "bot"})
    requests_mock.get(f"{API}/personal_access_tokens/self", status_code=404, json={"message": "404 Not Found"})
    assert hook.test_connection() == (True, "Connected to https://dataops.example.com/api/v4 as bot.")


def test_test_connection_rejected_token(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{API}/user", status_code=401, json={"message": "401 Unauthorized"})
    ok, message = hook.test_connection()
    assert not ok
    assert "token of the connection to https://dataops.example.com/api/v4 was rejected" in message


def test_test_connection_names_the_url_not_airflows_transient_id(
    monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker
) -> None:
    """Airflow's test endpoint uses a random connection id; a failure names what the user typed."""
    set_connection(monkeypatch, conn_id="UN7etAgD")
    requests_mock.get(f"{API}/user", status_code=403, json={"message": "403 Forbidden"})
    ok, message = DataOpsHook("UN7etAgD").test_connection()
    assert not ok
    assert "UN7etAgD" not in message
    assert "https://dataops.example.com/api/v4" in message


def test_test_connection_config_error_without_the_transient_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_UN7ETAGD", json.dumps({"conn_type": "dataops", "host": "https://h.example", "extra": {}})
    )
    ok, message = DataOpsHook("UN7etAgD").test_connection()
    assert not ok
    assert "UN7etAgD" not in message
    assert message.startswith("the connection: no token")


def test_test_connection_trigger_only(conn_trigger_only: None, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{API}/version", status_code=401, json={"message": "401 Unauthorized"})
    ok, message = DataOpsHook().test_connection()
    assert ok
    assert "can trigger pipelines but cannot read them" in message
    assert TRIGGER_TOKEN not in message


def test_test_connection_bad_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_DATAOPS_DEFAULT",
        json.dumps({"conn_type": "dataops", "host": "http://example.com", "password": ACCESS_TOKEN}),
    )
    ok, message = DataOpsHook().test_connection()
    assert not ok
    assert "plain http://" in message
