"""The /api/v4 endpoints over real HTTP, against the session's emulator (manual clock)."""

from __future__ import annotations

import re

import pytest
import requests

from airflow_provider_dataops.emulator.state import SEEDED_PROJECT_COUNT

pytestmark = pytest.mark.integration

PROJECT = "demo%2Fdataops-project"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def get(emu, path, auth=None, **params):
    return requests.get(f"{emu.api_url}{path}", headers=auth or {}, params=params, timeout=10)


def trigger(emu, project=PROJECT, **variables):
    data = {"token": emu.trigger_token, "ref": "main", "variables[_PIPELINE_FILE_NAME]": "full-ci.yml"}
    data.update({f"variables[{key}]": value for key, value in variables.items()})
    return requests.post(f"{emu.api_url}/projects/{project}/trigger/pipeline", data=data, timeout=10)


# -- auth and identity ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"PRIVATE-TOKEN": "wrong"}, {"Authorization": "Bearer wrong"}],
)
def test_missing_or_bad_token_is_401(emu, headers):
    response = get(emu, "/user", headers)
    assert response.status_code == 401
    assert response.json() == {"message": "401 Unauthorized"}


@pytest.mark.parametrize("header", ["PRIVATE-TOKEN", "private-token", "Private-Token"])
def test_private_token_header_any_case(emu, header):
    response = get(emu, "/user", {header: emu.access_token})
    assert response.status_code == 200
    assert response.json()["id"] == 1
    assert response.json()["username"] == "dataops-user"


def test_bearer_token(emu):
    assert get(emu, "/user", {"Authorization": f"Bearer {emu.access_token}"}).status_code == 200


def test_version_and_token_self(emu, auth):
    assert get(emu, "/version", auth).json()["version"]
    token = get(emu, "/personal_access_tokens/self", auth).json()
    assert token["scopes"] == ["api"]
    assert token["active"]
    assert not token["revoked"]
    assert re.match(r"^\d{4}-\d\d-\d\d$", token["expires_at"])
    assert token["user_id"] == 1
    assert get(emu, "/personal_access_tokens/self", {"PRIVATE-TOKEN": emu.trigger_token}).status_code == 401


# -- namespaces and groups --------------------------------------------------------------------------


def test_namespaces(emu, auth):
    everything = get(emu, "/namespaces", auth).json()
    assert {(ns["full_path"], ns["kind"]) for ns in everything} == {("dataops-user", "user"), ("demo", "group")}
    assert [ns["full_path"] for ns in get(emu, "/namespaces", auth, search="dem").json()] == ["demo"]
    assert get(emu, "/namespaces/demo", auth).json()["id"] == 2
    assert get(emu, "/namespaces/2", auth).json()["full_path"] == "demo"
    emu.seed_projects(1, namespace="demo/sub")
    sub = get(emu, "/namespaces/demo%2Fsub", auth).json()
    assert sub["full_path"] == "demo/sub"
    assert sub["parent_id"] == 2
    missing = get(emu, "/namespaces/nope", auth)
    assert missing.status_code == 404
    assert missing.json() == {"message": "404 Namespace Not Found"}


def test_groups(emu, auth):
    groups = get(emu, "/groups", auth, search="demo").json()
    assert [group["full_path"] for group in groups] == ["demo"]
    assert get(emu, "/groups/demo", auth).json()["id"] == 2


# -- projects ---------------------------------------------------------------------------------------


def test_get_project_by_id_and_encoded_path(emu, auth):
    by_path = get(emu, f"/projects/{PROJECT}", auth).json()
    assert by_path == get(emu, "/projects/1", auth).json()
    assert by_path["path_with_namespace"] == "demo/dataops-project"
    assert by_path["namespace"] == {
        "id": 2,
        "name": "demo",
        "path": "demo",
        "kind": "group",
        "full_path": "demo",
        "parent_id": None,
        "avatar_url": None,
        "web_url": f"{emu.url}/demo",
    }
    assert by_path["web_url"] == f"{emu.url}/demo/dataops-project"
    assert by_path["default_branch"] == "main"
    assert by_path["visibility"] == "private"
    assert ISO_MS.match(by_path["created_at"])
    assert ISO_MS.match(by_path["last_activity_at"])


def test_unencoded_path_is_404_like_gitlab(emu, auth):
    response = get(emu, "/projects/demo/dataops-project", auth)
    assert response.status_code == 404
    assert response.json() == {"error": "404 Not Found"}


def test_unknown_project_is_404(emu, auth):
    response = get(emu, "/projects/demo%2Fnope", auth)
    assert response.status_code == 404
    assert response.json() == {"message": "404 Project Not Found"}


def test_unauthenticated_sees_only_public_projects(emu, auth):
    assert get(emu, "/projects").json() == []
    assert get(emu, f"/projects/{PROJECT}").status_code == 404
    requests.post(f"{emu.api_url}/projects", headers=auth, json={"name": "open", "visibility": "public"}, timeout=10)
    assert [project["name"] for project in get(emu, "/projects").json()] == ["open"]


def test_create_project_json_and_form(emu, auth):
    created = requests.post(
        f"{emu.api_url}/projects",
        headers=auth,
        json={"name": "Sales Data", "namespace_id": 2, "description": "d", "initialize_with_readme": True},
        timeout=10,
    )
    assert created.status_code == 201
    body = created.json()
    assert body["path_with_namespace"] == "demo/sales-data"
    assert body["description"] == "d"
    form = requests.post(f"{emu.api_url}/projects", headers=auth, data={"path": "from-form"}, timeout=10)
    assert form.status_code == 201
    assert form.json()["name"] == "from-form"
    assert form.json()["namespace"]["kind"] == "user"
    assert get(emu, "/projects/dataops-user%2Ffrom-form", auth).status_code == 200


def test_create_project_errors(emu, auth):
    missing = requests.post(f"{emu.api_url}/projects", headers=auth, json={}, timeout=10)
    assert missing.status_code == 400
    assert missing.json() == {"error": "name, path are missing, at least one parameter must be provided"}
    duplicate = requests.post(
        f"{emu.api_url}/projects",
        headers=auth,
        json={"name": "DataOps Project", "path": "dataops-project", "namespace_id": 2},
        timeout=10,
    )
    assert duplicate.status_code == 400
    assert duplicate.json() == {
        "message": {
            "name": ["has already been taken"],
            "path": ["has already been taken"],
            "project_namespace.name": ["has already been taken"],
        }
    }
    unauthenticated = requests.post(f"{emu.api_url}/projects", json={"name": "x"}, timeout=10)
    assert unauthenticated.status_code == 401


def test_project_list_filters_and_ordering(emu, auth):
    emu.seed_projects(3)
    ids = list(range(1, SEEDED_PROJECT_COUNT + 3 + 1))
    default = [project["id"] for project in get(emu, "/projects", auth).json()]
    assert default == ids[::-1]  # created_at desc
    ascending = [project["id"] for project in get(emu, "/projects", auth, order_by="id", sort="asc").json()]
    assert ascending == ids
    by_name = [project["name"] for project in get(emu, "/projects", auth, order_by="name", sort="asc").json()]
    assert by_name == sorted(by_name, key=str.lower)
    found = get(emu, "/projects", auth, search="dataops", membership="true", simple="true").json()
    assert [project["id"] for project in found] == [1]
    assert "visibility" not in found[0]  # simple=true: the smaller object
    bad = get(emu, "/projects", auth, order_by="stars")
    assert bad.status_code == 400
    assert bad.json() == {"error": "order_by does not have a valid value"}


def test_wrong_method_is_405(emu, auth):
    response = requests.delete(f"{emu.api_url}/user", headers=auth, timeout=10)
    assert response.status_code == 405


# -- pipelines --------------------------------------------------------------------------------------


def test_trigger_with_form_fields(emu):
    response = trigger(emu, MY_VAR="x")
    assert response.status_code == 201
    pipeline = response.json()
    assert pipeline["status"] == "created"
    assert pipeline["source"] == "trigger"
    assert pipeline["ref"] == "main"
    assert pipeline["web_url"] == f"{emu.url}/demo/dataops-project/-/pipelines/{pipeline['id']}"
    assert pipeline["duration"] is None
    assert pipeline["finished_at"] is None
    [record] = emu.pipelines()
    assert {"key": "MY_VAR", "value": "x", "variable_type": "env_var"} in record["variables"]


def test_trigger_with_json_and_query_string(emu):
    response = requests.post(
        f"{emu.api_url}/projects/1/trigger/pipeline",
        params={"token": emu.trigger_token, "ref": "main"},
        json={"variables": {"A": "1"}},
        timeout=10,
    )
    assert response.status_code == 201
    assert emu.pipelines()[0]["variables"] == [{"key": "A", "value": "1", "variable_type": "env_var"}]
    logged = emu.requests()[-1]
    assert "[REDACTED]" in logged["query"]
    assert emu.trigger_token not in str(emu.requests())


def test_trigger_with_multipart_form(emu):
    # What `curl -F token=... -F ref=main -F "variables[K]=v"` sends, as in DataOps.live's docs.
    fields = {"token": (None, emu.trigger_token), "ref": (None, "main"), "variables[K]": (None, "v")}
    response = requests.post(f"{emu.api_url}/projects/1/trigger/pipeline", files=fields, timeout=10)
    assert response.status_code == 201
    assert emu.pipelines()[0]["variables"] == [{"key": "K", "value": "v", "variable_type": "env_var"}]


@pytest.mark.parametrize(
    ("data", "status", "body"),
    [
        ({"token": "wrong", "ref": "main"}, 404, {"message": "404 Not Found"}),
        ({"ref": "main"}, 400, {"error": "token is missing"}),
        ({"token": "TRIGGER"}, 400, {"error": "ref is missing"}),
        ({"token": "TRIGGER", "ref": "nope"}, 400, {"message": {"base": ["Reference not found"]}}),
        (
            {"token": "TRIGGER", "ref": "main", "variables": "x"},
            400,
            {"message": "variables needs to be a map of key-valued strings"},
        ),
    ],
)
def test_trigger_errors(emu, data, status, body):
    data = {key: emu.trigger_token if value == "TRIGGER" else value for key, value in data.items()}
    response = requests.post(f"{emu.api_url}/projects/1/trigger/pipeline", data=data, timeout=10)
    assert (response.status_code, response.json()) == (status, body)


def test_trigger_variables_must_be_strings_in_json(emu):
    response = requests.post(
        f"{emu.api_url}/projects/1/trigger/pipeline",
        json={"token": emu.trigger_token, "ref": "main", "variables": {"N": 1}},
        timeout=10,
    )
    assert response.status_code == 400


def test_trigger_unknown_project_and_outcome(emu):
    assert trigger(emu, project="demo%2Fnope").json() == {"message": "404 Not Found"}
    bad = trigger(emu, DATAOPS_EMULATOR_OUTCOME="exploded")
    assert bad.status_code == 400
    assert "DATAOPS_EMULATOR_OUTCOME" in bad.json()["message"]["base"][0]


def test_create_pipeline_with_access_token(emu, auth):
    response = requests.post(
        f"{emu.api_url}/projects/{PROJECT}/pipeline",
        headers=auth,
        json={"ref": "main", "variables": [{"key": "_PIPELINE_FILE_NAME", "value": "full-ci.yml"}]},
        timeout=10,
    )
    assert response.status_code == 201
    assert response.json()["source"] == "api"
    pid = response.json()["id"]
    variables = get(emu, f"/projects/{PROJECT}/pipelines/{pid}/variables", auth).json()
    assert variables[0]["key"] == "_PIPELINE_FILE_NAME"
    assert variables[0]["variable_type"] == "env_var"
    form = requests.post(
        f"{emu.api_url}/projects/1/pipeline",
        headers=auth,
        data={"ref": "main", "variables[0][key]": "K", "variables[0][value]": "v"},
        timeout=10,
    )
    assert form.status_code == 201
    missing = requests.post(f"{emu.api_url}/projects/1/pipeline", headers=auth, json={}, timeout=10)
    assert missing.json() == {"error": "ref is missing"}
    no_auth = requests.post(f"{emu.api_url}/projects/1/pipeline", json={"ref": "main"}, timeout=10)
    assert no_auth.status_code == 401
    trigger_token_here = requests.post(
        f"{emu.api_url}/projects/1/pipeline", headers={"PRIVATE-TOKEN": emu.trigger_token}, json={"ref": "main"}
    )
    assert trigger_token_here.status_code == 401


def test_full_pipeline_object_through_the_lifecycle(emu, auth):
    pid = trigger(emu).json()["id"]
    emu.advance(5)
    running = get(emu, f"/projects/1/pipelines/{pid}", auth).json()
    assert running["status"] == "running"
    assert running["duration"] is None
    assert ISO_MS.match(running["started_at"])
    assert running["finished_at"] is None
    emu.advance(5)
    done = get(emu, f"/projects/1/pipelines/{pid}", auth).json()
    expected_keys = {
        "id",
        "iid",
        "project_id",
        "name",
        "sha",
        "ref",
        "before_sha",
        "tag",
        "status",
        "source",
        "yaml_errors",
        "web_url",
        "created_at",
        "updated_at",
        "started_at",
        "finished_at",
        "committed_at",
        "duration",
        "queued_duration",
        "coverage",
        "user",
        "detailed_status",
    }
    assert expected_keys <= set(done)
    assert done["status"] == "success"
    assert done["duration"] == 8
    assert isinstance(done["duration"], int)
    assert done["detailed_status"]["group"] == "success"
    assert done["user"]["username"] == "dataops-user"
    assert ISO_MS.match(done["finished_at"])


def test_pipeline_not_found(emu, auth):
    response = get(emu, "/projects/1/pipelines/999", auth)
    assert response.status_code == 404
    assert response.json() == {"message": "404 Not found"}


def test_list_pipelines_filters_and_headers(emu, auth):
    first = trigger(emu).json()["id"]
    emu.advance(11)  # the first settles a second before the second starts
    second = trigger(emu).json()["id"]
    requests.post(f"{emu.api_url}/projects/1/pipeline", headers=auth, json={"ref": "main"}, timeout=10)
    listed = get(emu, "/projects/1/pipelines", auth)
    assert listed.headers["x-total"] == "3"
    assert listed.headers["x-page"] == "1"
    rows = listed.json()
    assert [row["id"] for row in rows] == [3, second, first]
    assert set(rows[0]) == {
        "id",
        "iid",
        "project_id",
        "status",
        "source",
        "ref",
        "sha",
        "name",
        "web_url",
        "created_at",
        "updated_at",
    }
    assert [row["id"] for row in get(emu, "/projects/1/pipelines", auth, status="success").json()] == [first]
    assert [row["id"] for row in get(emu, "/projects/1/pipelines", auth, source="api").json()] == [3]
    assert [row["id"] for row in get(emu, "/projects/1/pipelines", auth, scope="finished").json()] == [first]
    assert len(get(emu, "/projects/1/pipelines", auth, ref="other").json()) == 0
    created_at = rows[1]["created_at"]
    recent = get(emu, "/projects/1/pipelines", auth, updated_after=created_at, sort="asc").json()
    assert [row["id"] for row in recent] == [second, 3]
    paged = get(emu, "/projects/1/pipelines", auth, per_page=1, page=2)
    assert [row["id"] for row in paged.json()] == [second]
    assert paged.headers["x-next-page"] == "3"
    assert paged.headers["x-prev-page"] == "1"
    assert get(emu, "/projects/1/pipelines", auth, status="bogus").status_code == 400


def test_latest_pipeline(emu, auth):
    none_yet = get(emu, "/projects/1/pipelines/latest", auth)
    assert none_yet.status_code == 403
    assert none_yet.json() == {"message": "403 Forbidden"}
    trigger(emu)
    newest = trigger(emu).json()["id"]
    assert get(emu, "/projects/1/pipelines/latest", auth, ref="main").json()["id"] == newest


def test_cancel_returns_200_and_goes_canceling_then_canceled(emu, auth):
    pid = trigger(emu).json()["id"]
    emu.advance(5)
    response = requests.post(f"{emu.api_url}/projects/1/pipelines/{pid}/cancel", headers=auth, timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "canceling"
    emu.advance(1)
    assert get(emu, f"/projects/1/pipelines/{pid}", auth).json()["status"] == "canceled"
    again = requests.post(f"{emu.api_url}/projects/1/pipelines/{pid}/cancel", headers=auth, timeout=10)
    assert again.status_code == 200
    assert again.json()["status"] == "canceled"


def test_retry_reruns_failed_jobs(emu, auth):
    pid = trigger(emu, DATAOPS_EMULATOR_OUTCOME="failed").json()["id"]
    emu.advance(10)
    assert get(emu, f"/projects/1/pipelines/{pid}", auth).json()["status"] == "failed"
    response = requests.post(f"{emu.api_url}/projects/1/pipelines/{pid}/retry", headers=auth, timeout=10)
    assert response.status_code == 201
    assert response.json()["status"] in ("pending", "running")
    emu.advance(10)
    assert get(emu, f"/projects/1/pipelines/{pid}", auth).json()["status"] == "success"
    jobs = get(emu, f"/projects/1/pipelines/{pid}/jobs", auth).json()
    assert len(jobs) == 4
    assert {job["status"] for job in jobs} == {"success"}
    assert len(get(emu, f"/projects/1/pipelines/{pid}/jobs", auth, include_retried="true").json()) == 5


def test_jobs_of_a_failed_pipeline(emu, auth):
    pid = trigger(emu, DATAOPS_EMULATOR_OUTCOME="failed").json()["id"]
    emu.advance(10)
    jobs = get(emu, f"/projects/1/pipelines/{pid}/jobs", auth).json()
    assert [job["stage"] for job in jobs] == [
        "Generate Docs",
        "Data Transformation",
        "Data Ingestion",
        "Pipeline Initialisation",
    ]
    failed = jobs[0]
    assert failed["status"] == "failed"
    assert failed["failure_reason"] == "script_failure"
    assert "failure_reason" not in jobs[1]
    assert failed["pipeline"] == {
        "id": pid,
        "iid": failed["pipeline"]["iid"],
        "project_id": 1,
        "sha": failed["pipeline"]["sha"],
        "ref": "main",
        "status": "failed",
        "source": "trigger",
        "created_at": failed["pipeline"]["created_at"],
        "updated_at": failed["pipeline"]["updated_at"],
        "web_url": f"{emu.url}/demo/dataops-project/-/pipelines/{pid}",
    }
    assert failed["web_url"] == f"{emu.url}/demo/dataops-project/-/jobs/{failed['id']}"
    assert isinstance(failed["duration"], float)
    assert ISO_MS.match(failed["finished_at"])
    scoped = get(emu, f"/projects/1/pipelines/{pid}/jobs?scope[]=failed&scope[]=canceled", auth).json()
    assert [job["id"] for job in scoped] == [failed["id"]]
    assert len(get(emu, f"/projects/1/pipelines/{pid}/jobs", auth, scope="success").json()) == 3
    trace = get(emu, f"/projects/1/jobs/{failed['id']}/trace", auth)
    assert trace.status_code == 200
    assert trace.headers["content-type"].startswith("text/plain")
    assert trace.text.rstrip().splitlines()[-1] == "ERROR: Job failed: exit code 1"
    assert len(trace.text.splitlines()) > 5
    assert get(emu, f"/projects/1/jobs/{failed['id']}", auth).json()["status"] == "failed"


def test_trace_404s(emu, auth):
    pid = trigger(emu).json()["id"]
    first_job = min(job["id"] for job in get(emu, f"/projects/1/pipelines/{pid}/jobs", auth).json())
    assert get(emu, f"/projects/1/jobs/{first_job}/trace", auth).status_code == 404  # not started yet
    assert get(emu, "/projects/1/jobs/9999/trace", auth).status_code == 404


def test_manual_and_skipped_outcomes_over_http(emu, auth):
    manual = trigger(emu, DATAOPS_EMULATOR_OUTCOME="manual").json()["id"]
    skipped = trigger(emu, DATAOPS_EMULATOR_OUTCOME="skipped").json()["id"]
    emu.advance(60)
    assert get(emu, f"/projects/1/pipelines/{manual}", auth).json()["status"] == "manual"
    assert get(emu, f"/projects/1/pipelines/{skipped}", auth).json()["status"] == "skipped"
    manual_jobs = get(emu, f"/projects/1/pipelines/{manual}/jobs", auth, scope="manual").json()
    assert [job["name"] for job in manual_jobs] == ["Generate Docs"]


def test_seconds_variable_over_http(emu, auth):
    pid = trigger(emu, DATAOPS_EMULATOR_SECONDS="0").json()["id"]
    assert get(emu, f"/projects/1/pipelines/{pid}", auth).json()["status"] == "success"


def test_request_log_never_holds_tokens(emu, auth):
    get(emu, "/user", auth, private_token=emu.access_token)
    trigger(emu)
    log = emu.requests()
    assert [entry["path"] for entry in log] == ["/api/v4/user", f"/api/v4/projects/{PROJECT}/trigger/pipeline"]
    assert log[0]["query"] == "private_token=[REDACTED]"
    assert log[1]["status"] == 201
    assert log[1]["method"] == "POST"
    assert ISO_MS.match(log[0]["time"])
    assert log[0]["duration_ms"] >= 0
    assert emu.access_token not in str(log)
    assert emu.trigger_token not in str(log)
