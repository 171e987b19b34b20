"""The emulator under hostile input: GitLab's 400/404/405/413 instead of a 500, a guarded control API,
fault paths that cannot backtrack, and pipeline listings that filter before they serialise."""

from __future__ import annotations

import time

import pytest
import requests

from airflow_provider_dataops.emulator import serializers
from airflow_provider_dataops.emulator.clock import iso
from airflow_provider_dataops.emulator.guards import MAX_BODY_BYTES
from airflow_provider_dataops.emulator.pathmatch import PathPattern

pytestmark = pytest.mark.integration

PIPELINE = "/projects/demo%2Fdataops-project/pipeline"
PIPELINES = "/projects/demo%2Fdataops-project/pipelines"


def test_head_on_a_path_serving_several_methods_keeps_the_connection(emu, auth):
    with requests.Session() as session:
        for path in ("/projects", "/projects/demo%2Fdataops-project/pipeline_schedules"):
            head = session.head(emu.api_url + path, headers=auth, timeout=10)
            assert head.status_code == 200, path
            assert head.content == b""
        # The pooled connection survived the HEADs: python-gitlab's pipelines.create right after.
        created = session.post(emu.api_url + PIPELINE, headers=auth, json={"ref": "main"}, timeout=10)
    assert created.status_code == 201


def test_a_method_the_path_does_not_serve_is_405(emu, auth):
    response = requests.delete(emu.api_url + "/projects", headers=auth, timeout=10)
    assert (response.status_code, response.json()) == (405, {"error": "405 Not Allowed"})


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        ("[" * 5000 + "]" * 5000, "application/json", "not valid JSON"),
        ('{"ref": "main", "v": ' + "[" * 150 + "]" * 150 + "}", "application/json", "deeper than 100"),
        ("ref=main&variables" + "[a]" * 5000 + "=1", "application/x-www-form-urlencoded", "deeper than 32"),
    ],
    ids=["json-5000-deep", "json-150-deep", "form-5000-brackets"],
)
def test_deep_bodies_are_400(emu, auth, body, content_type, error):
    response = requests.post(
        emu.api_url + PIPELINE, headers={**auth, "Content-Type": content_type}, data=body, timeout=30
    )
    assert response.status_code == 400
    assert error in response.json()["error"]


def test_a_5000_digit_form_index_is_an_index(emu, auth):
    index = "9" * 5000
    body = f"ref=main&variables[{index}][key]=A&variables[{index}][value]=b&variables[1][key]=B&variables[1][value]=c"
    response = requests.post(
        emu.api_url + PIPELINE,
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
        data=body,
        timeout=30,
    )
    assert response.status_code == 201
    assert [variable["key"] for variable in emu.pipelines()[-1]["variables"]] == ["B", "A"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (PIPELINES + "/" + "9" * 5000, "404 Not found"),
        ("/projects/" + "9" * 5000, "404 Project Not Found"),
        (PIPELINES + "/" + "9" * 20 + "/jobs", "404 Not found"),
    ],
    ids=["pipeline-id", "project-id", "bigint-overflow"],
)
def test_huge_path_ids_are_404(emu, auth, path, message):
    response = requests.get(emu.api_url + path, headers=auth, timeout=10)
    assert (response.status_code, response.json()) == (404, {"message": message})


def test_a_body_over_the_limit_is_413_without_being_read(emu, auth):
    declared = requests.post(emu.api_url + PIPELINE, headers=auth, data=b"x" * (MAX_BODY_BYTES + 1), timeout=30)
    assert declared.status_code == 413

    def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536

    streamed = requests.post(emu.api_url + PIPELINE, headers=auth, data=chunks(), timeout=30)
    assert (streamed.status_code, streamed.json()) == (413, {"message": "413 Request Entity Too Large"})
    assert emu.pipelines() == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},
        {"Origin": "http://evil.example", "Content-Type": "application/json"},
        {"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"},
        {"Host": "evil.example", "Content-Type": "application/json"},
        {"Host": "rebound.example:8080", "Content-Type": "application/json"},
    ],
    ids=["text-plain", "foreign-origin", "cross-site", "foreign-host", "rebound-host-with-port"],
)
def test_control_requests_a_page_could_forge_are_refused(emu, auth, headers):
    emu.inject_fault(path="^/api/v4/user$", status=503)
    refused = requests.post(f"{emu.url}/-/emulator/reset", headers=headers, data="{}", timeout=10)
    assert refused.status_code == 403
    assert "403 Forbidden" in refused.json()["message"]
    assert len(emu.state.faults) == 1  # the reset did not happen


def test_a_foreign_host_cannot_read_the_request_log(emu):
    refused = requests.get(f"{emu.url}/-/emulator/requests", headers={"Host": "evil.example"}, timeout=10)
    assert refused.status_code == 403


def test_same_origin_and_scripted_control_requests_pass(emu):
    assert requests.post(f"{emu.url}/-/emulator/reset", timeout=10).status_code == 200
    assert requests.post(f"{emu.url}/-/emulator/reset", headers={"Origin": emu.url}, timeout=10).status_code == 200
    localhost = f"localhost:{emu.port}"
    assert requests.get(f"{emu.url}/-/emulator/requests", headers={"Host": localhost}, timeout=10).status_code == 200
    added = requests.post(f"{emu.url}/-/emulator/faults", json={"status": 503}, timeout=10)
    assert added.status_code == 201


def test_a_backtracking_fault_path_is_matched_in_linear_time(emu, auth):
    emu.inject_fault(path=r"(a+)+$", status=503, times=None)
    emu.inject_fault(path=r"^(a|a)*b$", status=502, times=None)
    start = time.perf_counter()
    response = requests.get(f"{emu.api_url}/{'a' * 30}!", headers=auth, timeout=30)
    assert time.perf_counter() - start < 5  # Python's re needs minutes for this path
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        (r"^/api/v4/projects/[^/]+$", "/api/v4/projects/demo%2Fx", True),
        (r"^/api/v4/projects/[^/]+$", "/api/v4/projects/demo/x", False),
        (r"/pipelines/\d+$", "/api/v4/projects/1/pipelines/42", True),
        (r"/pipelines/\d{3,}$", "/api/v4/projects/1/pipelines/42", False),
        (r"/(trigger/)?pipeline$", "/api/v4/projects/1/trigger/pipeline", True),
        (r"(jobs|pipelines)/\w+/(cancel|retry)", "/p/jobs/7/retry", True),
        (r"[a-c]+z", "/xxbcaz", True),
        (r"[^a-c]+z$", "/abcz", False),
        (r".*", "", True),
    ],
)
def test_path_pattern_agrees_with_re(pattern, path, matches):
    assert PathPattern(pattern).search(path) is matches


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?i)user", "(?=a)b", "a{1,5000}" * 2, "("])
def test_path_patterns_that_need_backtracking_are_refused(emu, pattern):
    response = requests.post(f"{emu.url}/-/emulator/faults", json={"status": 503, "path": pattern}, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"].startswith("path: ")


def test_updated_after_listing_serialises_only_what_it_returns(emu, auth, monkeypatch):
    project = emu.state.find_project("demo/dataops-project")
    for _ in range(50):
        emu.state.create_pipeline(project, ref="main", variables=(), source="api")
    emu.advance(3600)
    since = emu.state.now()
    emu.advance(1)
    recent = emu.state.create_pipeline(project, ref="main", variables=(), source="api")
    emu.advance(1)
    serialised, horizons = [], []
    real_json = serializers.pipeline_short_json
    monkeypatch.setattr(
        "airflow_provider_dataops.emulator.api.pipeline_short_json",
        lambda pipeline, *args: serialised.append(pipeline.id) or real_json(pipeline, *args),
    )
    real_updated = type(recent).updated
    monkeypatch.setattr(type(recent), "updated", lambda self, now: horizons.append(self.id) or real_updated(self, now))
    listed = requests.get(
        emu.api_url + PIPELINES, headers=auth, params={"updated_after": iso(since)}, timeout=10
    ).json()
    assert [row["id"] for row in listed] == [recent.id]
    assert serialised == [recent.id]  # nothing else was serialised...
    assert set(horizons) == {recent.id}  # ...nor even looked at: the index skipped the settled ones


def test_the_index_follows_cancel_and_retry(emu, auth):
    project = emu.state.find_project("demo/dataops-project")
    pipeline = emu.state.create_pipeline(project, ref="main", variables=(), source="api")
    emu.advance(1)
    emu.state.cancel_pipeline(pipeline)
    emu.advance(3600)
    since = emu.state.now()
    emu.advance(1)
    emu.state.retry_pipeline(pipeline)
    emu.advance(1)
    listed = requests.get(
        emu.api_url + PIPELINES, headers=auth, params={"updated_after": iso(since)}, timeout=10
    ).json()
    assert [row["id"] for row in listed] == [pipeline.id]
