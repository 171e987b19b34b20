"""The HTML pages behind every ``web_url``, over real HTTP, against the session's emulator (manual clock)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from airflow_provider_dataops.emulator.markup import ansi_to_html, duration, render
from airflow_provider_dataops.emulator.state import SEEDED_PROJECT_COUNT

pytestmark = pytest.mark.integration

HOSTILE = "<script>alert('x')</script>"
REFRESH = re.compile(r'<meta http-equiv="refresh" content="\d+">')


def api(emu, method, path, auth, **kwargs):
    response = requests.request(method, f"{emu.api_url}{path}", headers=auth, timeout=10, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


def page(url):
    response = requests.get(url, timeout=10)
    assert response.headers["content-type"] == "text/html; charset=utf-8", url
    return response


def web_urls(body: Any) -> set[str]:
    """Every ``web_url`` anywhere in an API answer."""
    if isinstance(body, list):
        return set().union(*map(web_urls, body)) if body else set()
    if isinstance(body, dict):
        found = {body["web_url"]} if isinstance(body.get("web_url"), str) else set()
        return found.union(*map(web_urls, body.values()))
    return set()


def start_pipeline(emu, auth, project="1", ref="main", variables=()):
    return api(emu, "POST", f"/projects/{project}/pipeline", auth, json={"ref": ref, "variables": list(variables)})


def test_every_web_url_the_api_returns_opens_a_page(emu, auth):
    pipeline = start_pipeline(emu, auth, variables=[{"key": "DATAOPS_EMULATOR_OUTCOME", "value": "failed"}])
    emu.advance(5)
    pid = pipeline["id"]
    answers = [
        api(emu, "GET", path, auth)
        for path in (
            "/user",
            "/namespaces",
            "/groups",
            "/projects",
            "/projects/1",
            "/projects/1/pipelines",
            f"/projects/1/pipelines/{pid}",
            f"/projects/1/pipelines/{pid}/jobs",
        )
    ]
    urls = web_urls([pipeline, *answers])
    urls.add(emu.url + pipeline["detailed_status"]["details_path"])
    # The user (and its namespace), the group (both URL forms), the seeded projects, the pipeline, four jobs.
    assert len(urls) == 1 + 2 + SEEDED_PROJECT_COUNT + 1 + 4, sorted(urls)
    for url in urls:
        response = page(url)
        assert response.status_code == 200, url
        assert "<title>" in response.text

    project_page = page(f"{emu.url}/demo/dataops-project").text
    assert "DataOps Project" in project_page
    assert f'href="/demo/dataops-project/-/pipelines/{pid}"' in project_page
    for job in answers[-1]:
        job_page = page(job["web_url"]).text
        assert job["name"] in job_page
        assert f'class="status s-{job["status"]}"' in job_page


def test_project_page_lists_pipelines_newest_first_with_status_ref_and_duration(emu, auth):
    first = start_pipeline(emu, auth)
    emu.advance(10)
    second = start_pipeline(emu, auth, variables=[{"key": "DATAOPS_EMULATOR_SECONDS", "value": "100"}])
    emu.advance(30)
    text = page(f"{emu.url}/demo/dataops-project").text
    rows = re.findall(r"<tr><td><a href=\"[^\"]+\">#(\d+)</a></td><td>(.*?)</td><td><code>(.*?)</code>", text)
    assert [(int(pid), ref) for pid, _, ref in rows] == [(second["id"], "main"), (first["id"], "main")]
    assert "s-running" in rows[0][1]
    assert "s-success" in rows[1][1]
    # Durations count from the first job's start: 8 s for the first; 10 s so far for the second.
    assert text.count("<td>8 s</td></tr>") == 1
    assert text.count("<td>10 s</td></tr>") == 1
    assert REFRESH.search(text), "a running pipeline keeps the list reloading"


def test_home_page_shows_creation_times_as_the_other_pages_do(emu, auth):
    pipeline = start_pipeline(emu, auth)
    home = page(f"{emu.url}/").text
    project_page = page(f"{emu.url}/demo/dataops-project").text
    [shown] = re.findall(r"<td>(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC)</td>", project_page)
    assert f"<td>{shown}</td>" in home
    assert pipeline["created_at"] not in home  # no raw ISO timestamp


def test_pipeline_page_shows_stages_and_jobs_and_reloads_only_while_running(emu, auth):
    pipeline = start_pipeline(emu, auth)
    url = pipeline["web_url"]
    emu.advance(5)  # second of four jobs running
    running = page(url).text
    for stage in ("Pipeline Initialisation", "Data Ingestion", "Data Transformation", "Generate Docs"):
        assert f"<h3>{stage}</h3>" in running
    job_rows = re.findall(r'<span class="status s-(\w+)">\w+</span><a href="[^"]+">([^<]+)</a>', running)
    assert {name: status for status, name in job_rows} == {
        "Initialise Pipeline": "success",
        "Ingest Source Data": "running",
        "Build all Models": "created",
        "Generate Docs": "created",
    }
    assert REFRESH.search(running)
    assert "still running" in running

    emu.advance(10)
    finished = page(url).text
    assert 'Pipeline #{} <span class="status s-success">success</span>'.format(pipeline["id"]) in finished
    assert not REFRESH.search(finished)
    assert "still running" not in finished


def test_a_manual_pipeline_does_not_reload_forever(emu, auth):
    pipeline = start_pipeline(emu, auth, variables=[{"key": "DATAOPS_EMULATOR_OUTCOME", "value": "manual"}])
    emu.advance(20)
    text = page(pipeline["web_url"]).text
    assert 's-manual">manual' in text
    assert not REFRESH.search(text)


def test_job_page_shows_the_log_as_it_grows(emu, auth):
    pipeline = start_pipeline(emu, auth, variables=[{"key": "DATAOPS_EMULATOR_OUTCOME", "value": "failed"}])
    jobs = api(emu, "GET", f"/projects/1/pipelines/{pipeline['id']}/jobs", auth)
    last = jobs[0]  # newest first: the last stage's job
    assert "No log: this job has not run." in page(last["web_url"]).text

    emu.advance(9)
    running = page(last["web_url"]).text
    assert REFRESH.search(running)
    assert "Running with dataops-runner" in running
    assert "ERROR: Job failed" not in running

    emu.advance(5)
    failed = page(last["web_url"]).text
    assert "ERROR: Job failed: exit code 1" in failed
    assert "script_failure" in failed
    assert not REFRESH.search(failed)
    trace = requests.get(f"{emu.api_url}/projects/1/jobs/{last['id']}/trace", headers=auth, timeout=10).text
    assert all(render("{line}", line=line) in failed for line in trace.splitlines())


def test_user_data_is_escaped_everywhere(emu, auth):
    project = api(
        emu,
        "POST",
        "/projects",
        auth,
        json={"name": "Evil Project", "description": HOSTILE, "default_branch": HOSTILE, "namespace_id": 2},
    )
    pipeline = start_pipeline(
        emu, auth, project=str(project["id"]), ref=HOSTILE, variables=[{"key": HOSTILE, "value": "v"}]
    )
    emu.advance(20)
    jobs = api(emu, "GET", f"/projects/{project['id']}/pipelines/{pipeline['id']}/jobs", auth)
    urls = [project["web_url"], pipeline["web_url"], jobs[0]["web_url"], f"{emu.url}/", f"{emu.url}/groups/demo"]
    texts = [page(url).text for url in urls]
    for url, text in zip(urls, texts, strict=True):
        assert "<script" not in text.lower(), url
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in texts[0]  # the description
    assert "(ref is &lt;script&gt;" in texts[2]  # the ref, inside a log line


def test_pages_never_show_tokens_or_variable_values_other_than_the_emulators_own(emu, auth):
    pipeline = start_pipeline(
        emu,
        auth,
        variables=[
            {"key": "DATAOPS_EMULATOR_OUTCOME", "value": "failed"},
            {"key": "SNOWFLAKE_PASSWORD", "value": "hunter2-secret-value"},
            {"key": "LEAKED_TOKEN", "value": emu.access_token},
        ],
    )
    emu.advance(20)
    jobs = api(emu, "GET", f"/projects/1/pipelines/{pipeline['id']}/jobs", auth)
    urls = [f"{emu.url}/", f"{emu.url}/demo/dataops-project", pipeline["web_url"], *(job["web_url"] for job in jobs)]
    for url in urls:
        text = page(url).text
        for secret in (emu.access_token, emu.trigger_token, "hunter2-secret-value"):
            assert secret not in text, url
    pipeline_page = page(pipeline["web_url"]).text
    assert '<code>SNOWFLAKE_PASSWORD</code></td><td><span class="muted">hidden</span>' in pipeline_page
    assert "<code>DATAOPS_EMULATOR_OUTCOME</code></td><td><code>failed</code>" in pipeline_page


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/nope", "Project nope"),
        ("/demo/nope", "Project demo/nope"),
        ("/groups/nope", "Group nope"),
        ("/demo/dataops-project/-/pipelines/999", "Pipeline 999 of demo/dataops-project"),
        ("/demo/dataops-project/-/jobs/999", "Job 999 of demo/dataops-project"),
        ("/demo/dataops-project/-/pipelines/abc", "Project demo/dataops-project/-/pipelines/abc"),
        ("/1", "Project 1"),  # web URLs use paths, never numeric ids
    ],
)
def test_unknown_pages_are_html_404s(emu, path, what):
    response = page(emu.url + path)
    assert response.status_code == 404
    assert f"<p>{what} does not exist in this emulator.</p>" in response.text


def test_a_pipeline_of_another_project_is_not_found_under_this_one(emu, auth):
    other = api(emu, "POST", "/projects", auth, json={"name": "Other"})
    pipeline = start_pipeline(emu, auth, project=str(other["id"]))
    assert page(f"{emu.url}/demo/dataops-project/-/pipelines/{pipeline['id']}").status_code == 404
    assert page(pipeline["web_url"]).status_code == 200


def test_the_api_keeps_its_json_errors_and_other_methods(emu):
    for method, path in (("GET", "/api/v4/nope"), ("POST", "/demo/dataops-project"), ("GET", "/-/nope")):
        response = requests.request(method, emu.url + path, timeout=10)
        assert response.status_code == 404
        assert response.json() == {"error": "404 Not Found"}


def test_pages_spend_no_faults_and_stay_out_of_the_request_log(emu, auth):
    emu.inject_fault("status", status=503, times=1)
    assert page(f"{emu.url}/demo/dataops-project").status_code == 200
    assert emu.requests() == []
    assert requests.get(f"{emu.api_url}/user", headers=auth, timeout=10).status_code == 503


# -- the template helper ---------------------------------------------------------------------------


def test_ansi_colours_become_spans_and_other_control_codes_go():
    text = "\x1b[32;1mJob succeeded\x1b[0;m plain \x1b[0K<b>\r\nsection_start:1700000000:build\r\x1b[0Kbuilding"
    assert ansi_to_html(text) == '<span class="c32 b">Job succeeded</span> plain &lt;b&gt;\nbuilding'
    assert ansi_to_html("\x1b[38;5;31mx\x1b[91my\x1b[39mz") == 'x<span class="c31">y</span>z'


def test_render_escapes_values_but_not_trusted_markup():
    inner = render("<b>{text}</b>", text="<i>")
    assert render("<p>{a}{b}</p>", a=inner, b="{a}&") == "<p><b>&lt;i&gt;</b>{a}&amp;</p>"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "\u2014"),
        (0.0, "0 s"),
        (2.25, "2 s"),
        (42, "42 s"),
        (59.6, "1 min 0 s"),
        (185, "3 min 5 s"),
        (7620, "2 h 7 min"),
    ],
)
def test_durations_read_naturally(seconds, text):
    assert duration(seconds) == text
