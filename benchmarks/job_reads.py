"""``job_reads``: what deferred job tasks of one pipeline cost the API, with shared reads and without.

A pipeline task group defers one :class:`~airflow_provider_dataops.triggers.job.DataOpsJobTrigger`
per job. In one triggerer process, every trigger waiting on the same pipeline shares its reads of
the pipeline's jobs (:class:`~airflow_provider_dataops.follow.job_watch.SharedJobReads`). This
benchmark runs the same waits twice against the emulator (a subprocess, real clock), in one run:

* ``per task`` (the baseline): each trigger gets a reads key of its own, so it reads the jobs itself;
* ``shared``: the triggers as they are.

The emulator's pipeline has 4 jobs; ``--waiters-per-job`` triggers wait on each (standing for a wider
pipeline: 5 per job is 20 waiting tasks). One job fails (``DATAOPS_EMULATOR_FAIL_JOB``), so the
events are ``success``, ``failed`` and ``skipped``. Reported: listings of the pipeline's jobs
(``GET .../pipelines/:id/jobs``) per mode, their ratio, and all requests.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections import Counter
from typing import Any

from benchmarks._support import EmulatorProcess, Report, Stopwatch, fmt_int, fmt_seconds

PROJECT = "demo/dataops-project"
JOBS = ("Initialise Pipeline", "Ingest Source Data", "Build all Models", "Generate Docs")
EXPECTED = {
    "Initialise Pipeline": "success",
    "Ingest Source Data": "success",
    "Build all Models": "failed",
    "Generate Docs": "skipped",
}
#: The shared mode must read the jobs at most this share of the baseline's times, per waiter.
MAX_RATIO_PER_WAITER = 2.0


async def _wait_all(pipeline_id: int, waiters_per_job: int, poll_interval: float, share: bool) -> list[dict[str, Any]]:
    from airflow_provider_dataops.triggers.job import DataOpsJobTrigger

    triggers = []
    counter = itertools.count()
    for name in JOBS:
        for _ in range(waiters_per_job):
            trigger = DataOpsJobTrigger(
                project=PROJECT, pipeline_id=pipeline_id, job_name=name, poll_interval=poll_interval
            )
            if not share:
                trigger.reads_key = functools.partial(tuple, ("per-task", next(counter)))  # type: ignore[method-assign]
            triggers.append(trigger)

    async def first(trigger: DataOpsJobTrigger) -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise RuntimeError("the trigger yielded nothing")

    return list(await asyncio.gather(*(first(trigger) for trigger in triggers)))


def _mode(emulator: EmulatorProcess, report: Report, label: str, args: tuple[int, float], share: bool) -> int:
    from airflow_provider_dataops.hooks.dataops import DataOpsHook

    waiters_per_job, poll_interval = args
    pipeline = DataOpsHook().trigger_pipeline(
        PROJECT, "main", variables={"DATAOPS_EMULATOR_FAIL_JOB": "Build all Models"}
    )
    emulator.clear_requests()
    with Stopwatch() as watch:
        events = asyncio.run(_wait_all(int(pipeline["id"]), waiters_per_job, poll_interval, share))
    requests = emulator.requests()
    listings = sum(
        1 for r in requests if r["method"] == "GET" and r["path"].endswith(f"/pipelines/{pipeline['id']}/jobs")
    )
    report.section(label)
    report.figure("waiting tasks", fmt_int(len(events)))
    report.figure("wall time", fmt_seconds(watch.elapsed))
    report.figure("job listings", fmt_int(listings))
    report.figure("all requests", fmt_int(len(requests)))
    statuses = Counter((event["job_name"], event["status"]) for event in events)
    report.check(
        f"{label}: every task ends as its job",
        statuses == Counter({(name, EXPECTED[name]): waiters_per_job for name in JOBS}),
        ", ".join(f"{name}={status} x {count}" for (name, status), count in sorted(statuses.items())),
    )
    return listings


def run(waiters_per_job: int, poll_interval: float, pipeline_seconds: float) -> Report:
    """Run both modes and print the figures.

    :param waiters_per_job: triggers waiting on each of the 4 jobs.
    :param poll_interval: the triggers' poll interval.
    :param pipeline_seconds: the pipeline's duration.
    """
    report = Report("job_reads")
    report.heading(f"{waiters_per_job * len(JOBS)} deferred job tasks on one pipeline of {pipeline_seconds:g} s")
    with EmulatorProcess(pipeline_seconds=pipeline_seconds) as emulator:
        args = (waiters_per_job, poll_interval)
        baseline = _mode(emulator, report, "per task (baseline)", args, share=False)
        shared = _mode(emulator, report, "shared", args, share=True)
    ratio = shared / baseline if baseline else float("inf")
    waiters = waiters_per_job * len(JOBS)
    report.figure("shared / per-task job listings", f"{ratio:.3f}")
    report.target(
        f"shared listings <= {MAX_RATIO_PER_WAITER:g}/{waiters} of the baseline's",
        ratio <= MAX_RATIO_PER_WAITER / waiters,
        f"{ratio:.3f}",
    )
    report.finish()
    return report
