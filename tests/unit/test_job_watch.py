"""Shared job reads: triggers waiting on one pipeline read its jobs once per change or interval."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_dataops.api.statuses import JobEnd
from airflow_provider_dataops.follow.job_watch import SharedJobReads, job_end, settled


class CountingHook:
    def __init__(self) -> None:
        self.calls = 0

    async def pipeline_jobs(self, project: Any, pipeline_id: int) -> list[dict[str, Any]]:
        self.calls += 1
        await asyncio.sleep(0.01)  # readers arriving meanwhile must wait for this read, not start their own
        return [{"id": self.calls, "name": "Build", "status": "running"}]


async def test_concurrent_readers_share_one_read_until_the_pipeline_changes() -> None:
    hook = CountingHook()
    key = ("conn", "p", 1)
    with SharedJobReads.share(key) as a, SharedJobReads.share(key) as b, SharedJobReads.share(key) as c:
        results = await asyncio.gather(
            *(reader.jobs(hook, "p", 1, version=("t1", "running"), max_age=60) for reader in (a, b, c))
        )
        assert hook.calls == 1
        assert results[0] is results[1] is results[2]
        await a.jobs(hook, "p", 1, version=("t2", "running"), max_age=60)  # the poll saw a change
        assert hook.calls == 2
        await b.jobs(hook, "p", 1, version=("t2", "running"), max_age=0)  # a poll interval passed
        assert hook.calls == 3
        assert SharedJobReads.requests_for(key) == 3
    assert SharedJobReads.requests_for(key) == 0


@pytest.mark.parametrize(
    ("job", "end"),
    [
        ({"status": "success"}, JobEnd.SUCCESS),
        ({"status": "failed"}, JobEnd.FAILED),
        ({"status": "failed", "allow_failure": True}, JobEnd.ALLOWED_FAILURE),
        ({"status": "failed", "allow_failure": "yes"}, JobEnd.FAILED),  # only a real true counts
        ({"status": "canceled"}, JobEnd.SKIPPED),
        ({"status": "skipped"}, JobEnd.SKIPPED),
        ({"status": "manual"}, JobEnd.MANUAL),
        ({"status": "canceling"}, JobEnd.RUNNING),
        ({"status": "brand_new_status"}, JobEnd.RUNNING),
    ],
)
def test_job_end(job: dict[str, Any], end: JobEnd) -> None:
    assert job_end(job) is end


def test_a_manual_job_settles_only_when_nobody_waits_for_a_person() -> None:
    assert settled(JobEnd.MANUAL, wait_for_manual=False)
    assert not settled(JobEnd.MANUAL, wait_for_manual=True)
    assert not settled(JobEnd.RUNNING, wait_for_manual=False)
    assert settled(JobEnd.SKIPPED, wait_for_manual=True)


def test_the_job_trigger_serializes_to_what_rebuilds_it() -> None:
    from airflow_provider_dataops.triggers.job import DataOpsJobTrigger

    trigger = DataOpsJobTrigger(project="demo/p", pipeline_id="12", job_name="Build", deadline=2e9, poll_interval=5)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_dataops.triggers.job.DataOpsJobTrigger"
    assert DataOpsJobTrigger(**kwargs).serialize() == (path, kwargs)
    assert kwargs["pipeline_id"] == 12


@pytest.mark.parametrize("event", [None, {"status": "running", "job_name": "b"}, {"status": "success"}, "success"])
def test_an_unexpected_job_event_is_refused(event: Any) -> None:
    from airflow_provider_dataops.errors import DataOpsError
    from airflow_provider_dataops.triggers.job import check_job_event

    with pytest.raises(DataOpsError, match="unexpected event"):
        check_job_event(event)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"job_name": ""}, "job_name"), ({"pipeline_id": "x"}, "pipeline_id"), ({"poll_interval": 0}, "poll_interval")],
)
def test_bad_job_trigger_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    from airflow_provider_dataops.errors import DataOpsConfigError
    from airflow_provider_dataops.triggers.job import DataOpsJobTrigger

    with pytest.raises(DataOpsConfigError, match=message):
        DataOpsJobTrigger(**{"project": "p", "pipeline_id": 1, "job_name": "b", **kwargs})
