"""Streamed job logs in a real deployment: the trigger writes them into the task log, read through /api/v2."""

from __future__ import annotations

import re

import pytest

from tests.deployment._deployment import Deployment
from tests.deployment._scenario import wait_for_log, wait_waiting

pytestmark = pytest.mark.deployment

DAG_ID = "deploy_deferred_job_logs"
_STREAMED = re.compile(r"^\[info\] (\[(?:pipeline \d+: )?[^\]]+\] .*)$")


def test_the_task_log_shows_job_lines_while_the_pipeline_runs(deployment: Deployment) -> None:
    api, emulator = deployment.api, deployment.emulator
    run_id = api.trigger(DAG_ID, conf={"seconds": 90}, prefix="job_logs")
    ti, pipeline = wait_waiting(api, emulator, DAG_ID, run_id, "deferred")
    try_number = int(ti["try_number"])
    first_line = re.escape("[Initialise Pipeline] ")
    wait_for_log(api, DAG_ID, run_id, "run", try_number, first_line, 120, "no streamed line in the task log")
    status = {row["id"]: row["status"] for row in emulator.pipelines()}[pipeline["id"]]
    assert status == "running", "the lines must be readable before the pipeline finishes"

    ti = api.wait_ti(DAG_ID, run_id, "run", ["success", "failed"], 300)
    log = api.log(DAG_ID, run_id, "run", try_number)
    assert ti["state"] == "success", log
    parent, child = emulator.pipelines_of(DAG_ID, run_id)
    streamed = [match.group(1) for line in log.splitlines() if (match := _STREAMED.match(line))]
    assert len(streamed) == len(set(streamed)), "a streamed line appeared twice"
    assert "[Build all Models] [INFO] 3 of 3 OK created sql table model TRANSFORM.DIM_CUSTOMERS" in streamed
    assert f"[pipeline {child['id']}: Generate Docs] Job succeeded" in streamed
    assert not any("\x1b" in line or "section_" in line for line in streamed)
    links = api.links(DAG_ID, run_id, "run")
    assert links["DataOps.live downstream pipeline 1"] == child["web_url"]
    assert parent["status"] == "success"
