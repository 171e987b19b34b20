"""The job log follower trusts no row, keeps its offsets, and the operators check its arguments."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from airflow_provider_dataops.api.bridges import MalformedBridgeError, downstream_of
from airflow_provider_dataops.api.job_log import check_max_job_log_bytes
from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsNotFoundError
from airflow_provider_dataops.follow.job_logs import JobLogFollower
from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator
from airflow_provider_dataops.sensors.pipeline import DataOpsPipelineSensor


class FakeHook:
    """Answers the follower's four reads from dictionaries; records each request."""

    def __init__(self, jobs: Any, logs: dict[int, bytes], bridges: Any = (), variables: Any = ()) -> None:
        self.jobs, self.logs, self.bridges, self.variables = jobs, logs, list(bridges), list(variables)
        self.calls: list[tuple[Any, ...]] = []

    def list_pipeline_jobs(self, project: Any, pipeline_id: int) -> Any:
        self.calls.append(("jobs", pipeline_id))
        return self.jobs[pipeline_id] if isinstance(self.jobs, dict) else self.jobs

    def list_pipeline_bridges(self, project: Any, pipeline_id: int) -> Any:
        self.calls.append(("bridges", pipeline_id))
        return self.bridges if pipeline_id == 1 else []

    def get_pipeline_variables(self, project: Any, pipeline_id: int) -> Any:
        self.calls.append(("variables", pipeline_id))
        return self.variables

    def read_job_log_after(self, project: Any, job_id: int, offset: int) -> bytes:
        self.calls.append(("log", job_id, offset))
        if job_id not in self.logs:
            raise DataOpsNotFoundError("404 Not Found", status=404, method="GET", path=f"/jobs/{job_id}/trace")
        return self.logs[job_id][offset:]


def job(job_id: int, status: str, name: str = "Build") -> dict[str, Any]:
    return {"id": job_id, "status": status, "name": name, "web_url": f"https://x/-/jobs/{job_id}"}


def test_malformed_rows_are_skipped_counted_and_the_rest_is_read(caplog) -> None:
    caplog.set_level(logging.WARNING)
    rows = [job(1, "running"), {"id": "abc", "status": "running", "name": "x"}, None, job(2, "running", "Other")]
    bridges = [{"downstream_pipeline": {"id": -4, "status": "running"}}, "not a row", {"downstream_pipeline": None}]
    hook = FakeHook(rows, {1: b"one\ntwo\n", 2: b"x\n"}, bridges)
    follower = JobLogFollower("p", 1)
    assert follower.follow(hook, {"id": 1, "status": "running"}) == ["[Build] one", "[Build] two", "[Other] x"]
    assert follower.skipped_rows == 4
    assert "Skipping" in caplog.text


def test_offsets_survive_a_new_follower_and_a_partial_line_is_read_once_whole() -> None:
    hook = FakeHook([job(1, "running")], {1: b"one\ntw"})
    first = JobLogFollower("p", 1)
    assert first.follow(hook, {"status": "running"}) == ["[Build] one"]
    hook.logs[1] = b"one\ntwo\nthree"
    hook.jobs = [job(1, "success")]
    second = JobLogFollower("p", 1)
    second.restore(first.state())
    assert second.follow(hook, {"status": "success"}) == ["[Build] two", "[Build] three"]
    assert ("log", 1, 4) in hook.calls  # from the start of the partial line
    calls = len(hook.calls)
    assert second.follow(hook, {"status": "success"}) == []
    assert len(hook.calls) == calls  # finished and read to its end: no more requests


def test_a_pipeline_that_is_not_running_costs_no_request() -> None:
    hook = FakeHook([job(1, "created")], {})
    follower = JobLogFollower("p", 1)
    for status in ("created", "pending", "waiting_for_resource", "manual"):
        assert follower.follow(hook, {"status": status}) == []
    assert hook.calls == []


def test_a_log_that_cannot_be_read_is_tried_again_next_poll() -> None:
    hook = FakeHook([job(1, "running")], {})
    follower = JobLogFollower("p", 1)
    assert follower.follow(hook, {"status": "running"}) == []
    hook.logs[1] = b"late\n"
    assert follower.follow(hook, {"status": "running"}) == ["[Build] late"]


def test_masked_variables_and_secrets_are_redacted_in_lines_and_the_bound_line() -> None:
    variables = [{"key": "DB_PASSWORD", "value": "pa55word"}, {"key": "REGION", "value": "eu-west"}]
    hook = FakeHook([job(1, "running", "glpat-tok")], {1: b"pw=pa55word region=eu-west\n" * 3}, variables=variables)
    follower = JobLogFollower("p", 1, max_job_log_bytes=60, secrets=["glpat-tok"])
    lines = follower.follow(hook, {"status": "running"})
    assert lines[0] == "[***] pw=*** region=eu-west"
    assert lines[-1] == "[***] Log limit of 60 bytes reached; the rest is at https://x/-/jobs/1"
    assert len(lines) == 3  # two lines fit, then the bound
    assert follower.follow(hook, {"status": "running"}) == []  # not read again


def test_restore_ignores_another_pipeline_and_malformed_state() -> None:
    follower = JobLogFollower("p", 1)
    follower.restore({"pipeline_id": 2, "jobs": {"5": [10, 10, 0]}})
    follower.restore({"pipeline_id": 1, "jobs": {"6": [-1, 0, 0], "x": [1, 1, 1], "7": "bad"}})
    assert follower.cursors == {}


@pytest.mark.parametrize(
    "row",
    [[], {"downstream_pipeline": {"id": True, "status": "x"}}, {"downstream_pipeline": {"id": 3, "status": None}}],
)
def test_bad_bridge_rows_are_refused_one_by_one(row: Any) -> None:
    with pytest.raises(MalformedBridgeError):
        downstream_of(row)


def test_the_arguments_are_checked_with_their_names() -> None:
    assert check_max_job_log_bytes(None) == 1 << 20
    with pytest.raises(DataOpsConfigError, match="max_job_log_bytes"):
        check_max_job_log_bytes(0)
    with pytest.raises(DataOpsConfigError, match="stream_job_logs"):
        DataOpsTriggerPipelineOperator(task_id="t", project="p", ref="main", stream_job_logs="yes")
    with pytest.raises(DataOpsConfigError, match="max_job_log_bytes"):
        DataOpsPipelineSensor(task_id="s", project="p", pipeline_id=1, stream_job_logs=True, max_job_log_bytes=1.5)


def test_the_hook_asks_a_range_and_takes_either_answer(hook, requests_mock) -> None:
    from .conftest import API

    url = f"{API}/projects/1/jobs/5/trace"
    requests_mock.get(url, content=b"0123456789")  # a live log: served whole
    assert hook.read_job_log_after(1, 5, 4) == b"456789"
    assert requests_mock.last_request.headers["Range"] == "bytes=4-"
    requests_mock.get(url, content=b"456789", status_code=206, headers={"Content-Range": "bytes 4-9/10"})
    assert hook.read_job_log_after(1, 5, 4) == b"456789"
    requests_mock.get(url, status_code=416, headers={"Content-Range": "bytes */10"})
    assert hook.read_job_log_after(1, 5, 10) == b""
    with pytest.raises(DataOpsConfigError, match="offset"):
        hook.read_job_log_after(1, 5, -1)


def test_the_hook_lists_bridges_and_refuses_a_non_list(hook, requests_mock) -> None:
    from airflow_provider_dataops.errors import DataOpsMalformedResponseError

    from .conftest import API

    url = f"{API}/projects/1/pipelines/7/bridges"
    requests_mock.get(url, json=[{"id": 3, "downstream_pipeline": None}])
    assert hook.list_pipeline_bridges(1, 7) == [{"id": 3, "downstream_pipeline": None}]
    requests_mock.get(url, json={"message": "odd"})
    with pytest.raises(DataOpsMalformedResponseError):
        hook.list_pipeline_bridges(1, 7)


@pytest.mark.parametrize(("from_start", "read"), [(True, ["[Init] done", "[Build] one"]), (False, ["[Build] one"])])
def test_jobs_finished_before_the_first_look_are_read_only_from_the_start(from_start: bool, read: list[str]) -> None:
    hook = FakeHook([job(1, "success", "Init"), job(2, "running")], {1: b"done\n", 2: b"one\n"})
    follower = JobLogFollower("p", 1, from_start=from_start)
    assert follower.follow(hook, {"status": "running"}) == read
    handed = JobLogFollower("p", 1, from_start=from_start)
    handed.restore(JobLogFollower("p", 1).state())  # a hand-over before the first look
    assert handed.follow(hook, {"status": "running"}) == read
