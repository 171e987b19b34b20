"""Job traces answer ``Range`` as GitLab does; bridges start child pipelines served at ``.../bridges``."""

from __future__ import annotations

import gitlab
import pytest
import requests

pytestmark = pytest.mark.integration

CHILD = "DATAOPS_EMULATOR_CHILD_OUTCOME"


def _start(emu, **variables):
    gl = gitlab.Gitlab(emu.url, private_token=emu.access_token)
    project = gl.projects.get(1)
    pipeline = project.pipelines.create(
        {"ref": "main", "variables": [{"key": key, "value": value} for key, value in variables.items()]}
    )
    return project, pipeline


def _trace(emu, job_id, start=None):
    headers = {"PRIVATE-TOKEN": emu.access_token}
    if start is not None:
        headers["Range"] = f"bytes={start}-"
    return requests.get(f"{emu.api_url}/projects/1/jobs/{job_id}/trace", headers=headers, timeout=10)


def test_a_live_trace_is_served_whole_whatever_range_asks(emu):
    project, pipeline = _start(emu)
    emu.advance(3)  # the first job runs from 2 s to 4 s of a 10 s pipeline
    (running,) = pipeline.jobs.list(scope="running", get_all=True)
    whole = project.jobs.get(running.id, lazy=True).trace()
    answer = _trace(emu, running.id, start=10)
    assert answer.status_code == 200
    assert "content-range" not in answer.headers
    assert answer.content == whole
    assert whole.startswith(b"Running with dataops-runner")


def test_a_finished_trace_answers_range_with_206_and_416_past_its_end(emu):
    project, pipeline = _start(emu)
    emu.advance(10)
    first = min(pipeline.jobs.list(get_all=True), key=lambda job: job.id)
    whole = project.jobs.get(first.id, lazy=True).trace()
    part = _trace(emu, first.id, start=10)
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 10-{len(whole) - 1}/{len(whole)}"
    assert part.content == whole[10:]
    past = _trace(emu, first.id, start=len(whole))
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{len(whole)}"
    assert _trace(emu, first.id).status_code == 200  # no Range: the whole log
    # python-gitlab's streamed trace reads one full GET, chunked
    chunks: list[bytes] = []
    project.jobs.get(first.id, lazy=True).trace(streamed=True, action=chunks.append)
    assert b"".join(chunks) == whole


def test_a_bridge_starts_a_child_pipeline_that_its_status_follows(emu):
    project, pipeline = _start(emu, **{CHILD: "failed"})
    jobs = pipeline.jobs.list(get_all=True)
    assert "Trigger Child Pipeline" not in [job.name for job in jobs]  # bridges are not jobs
    (bridge,) = pipeline.bridges.list(get_all=True)
    assert (bridge.name, bridge.downstream_pipeline) == ("Trigger Child Pipeline", None)  # not started yet
    emu.advance(7.0)  # the bridge runs in the fourth of five slots: 6.8 s to 8.4 s
    (bridge,) = pipeline.bridges.list(get_all=True)
    child_id = bridge.downstream_pipeline["id"]
    assert bridge.downstream_pipeline["web_url"].endswith(f"/-/pipelines/{child_id}")
    child = project.pipelines.get(child_id)
    assert child.source == "parent_pipeline"
    assert [row.id for row in project.pipelines.list(get_all=True)] == [pipeline.id]  # children hidden ...
    assert [row.id for row in project.pipelines.list(source="parent_pipeline", get_all=True)] == [child_id]
    emu.advance(4)
    assert project.pipelines.get(child_id).status == "failed"
    (bridge,) = pipeline.bridges.list(get_all=True)
    assert bridge.status == "failed"
    assert project.pipelines.get(pipeline.id).status == "failed"
    failed = project.pipelines.get(child_id).jobs.list(scope="failed", get_all=True)
    assert b"ERROR: Job failed" in project.jobs.get(failed[0].id, lazy=True).trace()
    assert _trace(emu, bridge.id).status_code == 404  # a bridge has no trace


def test_three_levels_and_cancel_reaches_the_children(emu):
    project, pipeline = _start(emu, **{CHILD: "success,success"})
    emu.advance(7.0)
    (bridge,) = pipeline.bridges.list(get_all=True)
    child = project.pipelines.get(bridge.downstream_pipeline["id"])
    emu.advance(1.0)
    (grand_bridge,) = child.bridges.list(get_all=True)
    grandchild_id = grand_bridge.downstream_pipeline["id"]
    pipeline.cancel()
    emu.advance(5)
    assert project.pipelines.get(grandchild_id).status == "canceled"
    assert project.pipelines.get(pipeline.id).status == "canceled"


def test_bad_child_outcomes_are_refused(emu):
    with pytest.raises(gitlab.exceptions.GitlabCreateError, match=CHILD):
        _start(emu, **{CHILD: "success,success,success,success"})
    with pytest.raises(gitlab.exceptions.GitlabCreateError, match=CHILD):
        _start(emu, **{CHILD: "manual"})


def test_runner_style_logs_carry_colours_sections_progress_and_echo_variables(emu):
    project, pipeline = _start(emu, DATAOPS_EMULATOR_LOG_STYLE="runner", DB_PASSWORD="s3cr3t-value")
    emu.advance(10)
    first = min(pipeline.jobs.list(get_all=True), key=lambda job: job.id)
    trace = project.jobs.get(first.id, lazy=True).trace()
    assert b"\x1b[" in trace
    assert b"section_start:" in trace
    assert b"section_end:" in trace
    assert b"Pulling image 0%\rPulling image 50%\rPulling image 100%" in trace
    assert b"DB_PASSWORD=s3cr3t-value" in trace
