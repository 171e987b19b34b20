"""Pipeline schedule variables over HTTP: GitLab's create, update and delete, and their errors."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.integration

SCHEDULES = "/projects/demo%2Fdataops-project/pipeline_schedules"


def call(emu, method, path, auth, **body):
    return requests.request(method, f"{emu.api_url}{path}", headers=auth, json=body or None, timeout=10)


@pytest.fixture
def variables(emu, auth) -> str:
    """The variables path of a new schedule."""
    created = call(emu, "POST", SCHEDULES, auth, description="Nightly", ref="main", cron="0 1 * * *")
    return f"{SCHEDULES}/{created.json()['id']}/variables"


def test_create_update_delete(emu, auth, variables):
    created = call(emu, "POST", variables, auth, key="TARGET", value="prod")
    expected = {"key": "TARGET", "value": "prod", "variable_type": "env_var", "raw": False}
    assert (created.status_code, created.json()) == (201, expected)
    updated = call(emu, "PUT", f"{variables}/TARGET", auth, value="dev", variable_type="file")
    assert (updated.status_code, updated.json()["value"], updated.json()["variable_type"]) == (200, "dev", "file")
    schedule = call(emu, "GET", variables.rsplit("/", 1)[0], auth).json()
    assert schedule["variables"] == [{"key": "TARGET", "value": "dev", "variable_type": "file", "raw": False}]
    deleted = call(emu, "DELETE", f"{variables}/TARGET", auth)
    assert (deleted.status_code, deleted.json()["value"]) == (202, "dev")
    assert call(emu, "GET", variables.rsplit("/", 1)[0], auth).json()["variables"] == []


def test_a_played_schedule_passes_its_variables_to_the_pipeline(emu, auth, variables):
    call(emu, "POST", variables, auth, key="DATAOPS_EMULATOR_OUTCOME", value="failed")
    assert call(emu, "POST", f"{variables.rsplit('/', 1)[0]}/play", auth).status_code == 201
    pipeline = emu.pipelines()[-1]
    assert pipeline["source"] == "schedule"
    assert {"key": "DATAOPS_EMULATOR_OUTCOME", "value": "failed", "variable_type": "env_var"} in pipeline["variables"]


@pytest.mark.parametrize(
    ("method", "suffix", "body", "status", "answer"),
    [
        ("POST", "", {"value": "x"}, 400, {"error": "key is missing"}),
        (
            "POST",
            "",
            {"key": "A B", "value": "x"},
            400,
            {"message": {"key": ["can contain only letters, digits and '_'."]}},
        ),
        (
            "POST",
            "",
            {"key": "A", "value": "x", "variable_type": "secret"},
            400,
            {"error": "variable_type does not have a valid value"},
        ),
        ("PUT", "/NOPE", {"value": "x"}, 404, {"message": "404 Pipeline Schedule Variable Not Found"}),
        ("DELETE", "/NOPE", {}, 404, {"message": "404 Pipeline Schedule Variable Not Found"}),
    ],
)
def test_errors_as_gitlab_gives_them(emu, auth, variables, method, suffix, body, status, answer):
    response = call(emu, method, f"{variables}{suffix}", auth, **body)
    assert (response.status_code, response.json()) == (status, answer)


def test_a_key_is_unique_per_schedule(emu, auth, variables):
    call(emu, "POST", variables, auth, key="TARGET", value="prod")
    again = call(emu, "POST", variables, auth, key="TARGET", value="dev")
    assert (again.status_code, again.json()) == (400, {"message": {"key": ["has already been taken"]}})
