"""``polling``: per-trigger polling (the provider's trigger before 0.2) and shared polling, side by side.

Both modes run in one process, one after the other, against the same **in-process fake API**
(``FakeApi`` behind an ``httpx.MockTransport`` patched into the shared client): every request
goes through the real async hook (request building, retry policy, request slots, decoding), only
the socket is missing. The emulator is not used here because it is the bottleneck: it serves
about 340 requests/s on 2 cores, and 10,000 per-trigger waits at 30 s already ask 333 requests/s.
The fake's own CPU time is measured and subtracted from the client's CPU figures.

* ``per-trigger``: the pre-0.2 trigger loop, reproduced here: each wait reads its pipeline with
  ``GET /pipelines/:id`` every ``poll_interval`` (give or take 10 %) until it finishes.
* ``shared``: :class:`~airflow_provider_dataops.triggers.pipeline.DataOpsPipelineTrigger` as it
  is now, over :mod:`~airflow_provider_dataops.follow.project_poll`.

Part 1, request rate: 1,000 waits on one project and on ten projects (100 each) at a
**scaled** interval (default 3 s standing for 30 s: every duration is scaled by the same factor,
so requests per interval are what they would be at 30 s). Pipelines finish at random over the
next 40 intervals, so about 2.5 % of them change per interval. Requests are counted from the end
of the first interval (the first reads of every wait, reported apart as a one-off) for four
intervals, and converted to requests per minute at 30 s (two intervals a minute).

Part 2, 10,000 waits in one event loop at the real interval (default 30 s): all pipelines finish
between half an interval and one interval after the waits start. Reported: the worst wake-up
delay of a task asking to wake every 50 ms (event-loop stall), client CPU per wait, and each
event's latency after its pipeline finished (the fake's clock is this machine's, so no skew).

Part 3, no burst of first reads (issue 18): each mode again with and without the handover (the
operator's or sensor's last read given to the trigger as ``known_state``, so it needs no read):

* a burst: 200 deferred waits started together on one project, pipelines finishing 8 s later,
  2 s interval, unscaled; every request until the last event counted;
* a triggerer restart: 1,000 waits on one project deferred 10 minutes earlier, finishing over the
  next 40 intervals; requests in the restarted triggerer's first minute (interval scaled as in
  part 1);
* the emulator (a subprocess) throttled to GitLab.com's 2,000 requests a minute per user: 1,000
  waits on pipelines of 10 to 20 s at a 2 s interval; every trigger must end in ``success``.
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import json
import math
import os
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import formatdate
from typing import Any

from benchmarks._support import Report, Stopwatch, cpu_seconds, fmt_int, fmt_seconds, percentile

CONNECTION_ENV = "AIRFLOW_CONN_DATAOPS_DEFAULT"
TICK = 0.05
#: Part 1 counts requests over this many intervals, after the first.
WINDOW_INTERVALS = 4
#: Pipelines of part 1 finish at random over this many intervals.
SPREAD_INTERVALS = 40
#: Targets of issue 11.
MAX_REQUESTS_PER_MINUTE_ONE_PROJECT = 10
MAX_STALL = 0.1
MAX_EXTRA_LATENCY = 1.0
#: Targets of issue 18.
MAX_BURST_REQUESTS = 60
MAX_RESTART_REQUESTS_FIRST_MINUTE = 20
GITLAB_COM_REQUESTS_PER_MINUTE = 2000
BURST_PIPELINE_SECONDS = 8.0
BURST_INTERVAL = 2.0
ONE = re.compile(r"/projects/(\d+)/pipelines/(\d+)$")
LIST = re.compile(r"/projects/(\d+)/pipelines$")


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class FakeProject:
    """Pipelines created at ``created`` and finishing (``success``) at their own times.

    Each pipeline changes once, so the listing is a bisect into the sorted changes.
    """

    def __init__(self, created: float) -> None:
        self.created = created
        self.finish: dict[int, float] = {}
        self._changes: list[tuple[float, int]] = []

    def add(self, pipeline_id: int, finish: float) -> None:
        """A pipeline that finishes at epoch second ``finish``."""
        self.finish[pipeline_id] = finish
        bisect.insort(self._changes, (finish, pipeline_id))

    def row(self, pipeline_id: int, now: float) -> dict[str, Any]:
        """The pipeline at ``now``, as the listing and the single read show it."""
        finish = self.finish[pipeline_id]
        done = finish <= now
        return {
            "id": pipeline_id,
            "status": "success" if done else "running",
            "ref": "main",
            "sha": "0" * 40,
            "web_url": f"https://dataops.invalid/p/-/pipelines/{pipeline_id}",
            "updated_at": _iso(finish if done else self.created),
        }

    def listing(self, bound: float | None, newest_first: bool, page: int, per_page: int, now: float) -> list[Any]:
        """One page of the rows updated after ``bound`` by ``updated_at``, in O(page size).

        Running pipelines all carry ``created``, so ascending order is: the running ones, then the
        finished ones by finish time.
        """
        finished = bisect.bisect_right(self._changes, (now, math.inf))
        after = 0 if bound is None else min(finished, bisect.bisect_right(self._changes, (bound, math.inf)))
        running = len(self._changes) - finished if bound is None or self.created > bound else 0
        total = running + finished - after
        rows = []
        for rank in range((page - 1) * per_page, min(total, page * per_page)):
            index = total - 1 - rank if newest_first else rank
            change = finished + index if index < running else after + index - running
            rows.append(self.row(self._changes[change][1], now))
        return rows


@dataclass
class FakeApi:
    """The two pipeline reads, for many projects; counts requests and its own CPU time."""

    projects: dict[int, FakeProject] = field(default_factory=dict)
    log: list[tuple[float, str]] = field(default_factory=list)
    cpu: float = 0.0

    def __call__(self, request: Any) -> Any:
        """Answer one ``httpx.Request``."""
        import httpx

        started = time.process_time()
        now = time.time()
        path = request.url.path
        if match := ONE.search(path):
            self.log.append((now, "get"))
            project = self.projects[int(match.group(1))]
            response = httpx.Response(200, json=project.row(int(match.group(2)), now))
        elif match := LIST.search(path):
            self.log.append((now, "list"))
            params = request.url.params
            bound = params.get("updated_after")
            rows = self.projects[int(match.group(1))].listing(
                None if bound is None else datetime.fromisoformat(bound.replace("Z", "+00:00")).timestamp(),
                params.get("sort") == "desc",
                int(params.get("page", 1)),
                int(params.get("per_page", 20)),
                now,
            )
            response = httpx.Response(200, json=rows, headers={"Date": formatdate(now, usegmt=True)})
        else:
            response = httpx.Response(404, json={"message": "404 Not Found"})
        self.cpu += time.process_time() - started
        return response

    def count(self, since: float, until: float) -> Counter[str]:
        """Requests by kind (``get``, ``list``) received in ``[since, until)``."""
        return Counter(kind for at, kind in self.log if since <= at < until)


async def per_trigger_wait(project: int, pipeline_id: int, interval: float) -> dict[str, Any]:
    """The pre-0.3 trigger loop: read the pipeline, sleep ``interval`` +-10 %, until it finishes."""
    from airflow_provider_dataops.api.statuses import ManualPolicy, Outcome, classify_pipeline_status
    from airflow_provider_dataops.hooks.dataops_async import DataOpsAsyncHook
    from airflow_provider_dataops.triggers.pipeline import DataOpsPipelineTrigger

    # the triggerer holds a trigger object per wait in both modes
    trigger = DataOpsPipelineTrigger(project=project, pipeline_id=pipeline_id, poll_interval=interval)
    hook = DataOpsAsyncHook(trigger.dataops_conn_id)
    while True:
        pipeline = await hook.get_pipeline(project, pipeline_id)
        outcome = classify_pipeline_status(pipeline["status"], ManualPolicy.FAIL)
        if outcome is not Outcome.RUNNING:
            return {"status": outcome.value, "pipeline_id": pipeline_id}
        await asyncio.sleep(interval * random.uniform(0.9, 1.1))


async def shared_wait(
    project: int, pipeline_id: int, interval: float, known_state: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The current trigger, over the shared poller (handed the state read before deferring, if given)."""
    from airflow_provider_dataops.triggers.pipeline import DataOpsPipelineTrigger

    trigger = DataOpsPipelineTrigger(
        project=project, pipeline_id=pipeline_id, poll_interval=interval, known_state=known_state
    )
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("the trigger yielded no event")


Wait = Callable[[int, int, float], Awaitable[dict[str, Any]]]
MODES: dict[str, Wait] = {"per-trigger": per_trigger_wait, "shared": shared_wait}


@dataclass
class Run:
    """What one mode's run saw."""

    api: FakeApi
    started: float
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    #: ``(woke at, lag)`` of each tick, on ``time.perf_counter``.
    ticks: list[tuple[float, float]] = field(default_factory=list)
    #: ``(started at, seconds)`` of each full (generation 2) garbage collection.
    full_gcs: list[tuple[float, float]] = field(default_factory=list)
    cpu: float = 0.0
    wall: float = 0.0

    @property
    def client_cpu(self) -> float:
        """CPU seconds of the run without the fake API's."""
        return max(0.0, self.cpu - self.api.cpu)

    def lag_outside_full_gcs(self) -> float:
        """The worst tick lag among ticks whose wait saw no full garbage collection."""
        clean = [
            lag
            for woke, lag in self.ticks
            if not any(woke - TICK - lag <= started <= woke for started, _ in self.full_gcs)
        ]
        return max(clean, default=0.0)

    def latencies(self, finish: dict[int, float]) -> list[float]:
        """Seconds from each pipeline's finish to its event."""
        return [at - finish[int(payload["pipeline_id"])] for at, payload in self.events]


async def _drive(api: FakeApi, waits: Iterable[Awaitable[dict[str, Any]]], stop_after: float | None) -> Run:
    """Run the waits with a 50 ms ticker; cancel them after ``stop_after`` seconds if given."""
    import httpx

    from airflow_provider_dataops.hooks import dataops_async

    client = httpx.AsyncClient(transport=httpx.MockTransport(api))
    original = dataops_async.shared_client
    dataops_async.shared_client = lambda settings: client
    loop = asyncio.get_running_loop()
    run = Run(api, time.time())
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            expected = loop.time() + TICK
            await asyncio.sleep(TICK)
            lag = max(0.0, loop.time() - expected)
            run.lags.append(lag)
            run.ticks.append((time.perf_counter(), lag))

    async def one(wait: Awaitable[dict[str, Any]]) -> None:
        payload = await wait
        run.events.append((time.time(), payload))

    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            run.full_gcs.append((gc_started[0], time.perf_counter() - gc_started[0]))

    gc.callbacks.append(on_gc)
    tick = asyncio.create_task(ticker())
    cpu_before = cpu_seconds()
    try:
        with Stopwatch() as watch:
            tasks = []
            for wait in waits:  # as Airflow's trigger runner starts them: yielding after each
                tasks.append(asyncio.ensure_future(one(wait)))
                await asyncio.sleep(0)
            if stop_after is None:
                await asyncio.gather(*tasks)
            else:
                await asyncio.sleep(stop_after)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        run.wall = watch.elapsed
        run.cpu = cpu_seconds() - cpu_before
    finally:
        done.set()
        await tick
        gc.callbacks.remove(on_gc)
        dataops_async.shared_client = original
        await client.aclose()
    return run


def _api(projects: int, waits: int, first_finish: float, last_finish: float) -> tuple[FakeApi, list[tuple[int, int]]]:
    """``waits`` pipelines spread over ``projects``, finishing uniformly in [first, last] from now."""
    now = time.time()
    api = FakeApi({project: FakeProject(now - 60.0) for project in range(1, projects + 1)})
    rng = random.Random(11)
    targets = []
    for index in range(waits):
        project, pipeline_id = 1 + index % projects, 1000 + index
        api.projects[project].add(pipeline_id, now + rng.uniform(first_finish, last_finish))
        targets.append((project, pipeline_id))
    return api, targets


def _rate(report: Report, mode: str, projects: int, waits: int, interval: float, scale: float) -> float:
    """Part 1 for one mode: requests a minute at the unscaled interval, printed; returns it."""
    api, targets = _api(projects, waits, interval, SPREAD_INTERVALS * interval)
    wait = MODES[mode]
    run = asyncio.run(_drive(api, [wait(p, i, interval) for p, i in targets], (1 + WINDOW_INTERVALS) * interval))
    window = api.count(run.started + interval, run.started + (1 + WINDOW_INTERVALS) * interval)
    first = api.count(run.started, run.started + interval)
    per_minute = sum(window.values()) / WINDOW_INTERVALS * (60.0 / (interval * scale))
    finished = sum(
        1
        for project in api.projects.values()
        for finish in project.finish.values()
        if run.started + interval <= finish < run.started + (1 + WINDOW_INTERVALS) * interval
    )
    report.figure(
        f"{mode}, {projects} project(s): requests/min at {interval * scale:g} s",
        f"{per_minute:,.1f}  (window: {_counts(window)}; {finished} pipelines finished in it)",
    )
    report.figure(f"{mode}, {projects} project(s): first interval (one-off)", _counts(first))
    return per_minute


def _scale_poller(scale: float) -> Callable[[], None]:
    """Scale the poller's fixed durations like the interval; returns the undo."""
    from airflow_provider_dataops.follow import project_poll

    saved = (project_poll.LATE_COMMIT_WINDOW, project_poll.MIN_STALE_SECONDS)
    project_poll.LATE_COMMIT_WINDOW, project_poll.MIN_STALE_SECONDS = saved[0] / scale, saved[1] / scale

    def undo() -> None:
        project_poll.LATE_COMMIT_WINDOW, project_poll.MIN_STALE_SECONDS = saved

    return undo


@dataclass(frozen=True)
class Summary:
    """What part 2 keeps of one mode's run: the next run's heap must not hold this one's events."""

    events_ok: bool
    events: int
    client_cpu: float
    worst_lag: float
    worst_lag_outside_full_gcs: float
    worst_latency: float


def _many(report: Report, mode: str, waits: int, interval: float) -> Summary:
    """Part 2 for one mode."""
    gc.collect()  # start from the same heap in both modes
    api, targets = _api(1, waits, 0.5 * interval, interval)
    finish = api.projects[1].finish
    wait = MODES[mode]
    run = asyncio.run(_drive(api, [wait(p, i, interval) for p, i in targets], None))
    latencies = run.latencies(finish)
    report.figure(f"{mode}: wall time until all {fmt_int(waits)} events", fmt_seconds(run.wall))
    report.figure(
        f"{mode}: loop stall (50 ms ticker) p50 / p99 / max",
        f"{fmt_seconds(percentile(run.lags, 0.5))} / {fmt_seconds(percentile(run.lags, 0.99))} / "
        f"{fmt_seconds(max(run.lags, default=0.0))}",
    )
    report.figure(
        f"{mode}: full garbage collections, longest / worst stall outside them",
        f"{len(run.full_gcs)}, {fmt_seconds(max((pause for _, pause in run.full_gcs), default=0.0))} / "
        f"{fmt_seconds(run.lag_outside_full_gcs())} (heap {fmt_int(len(gc.get_objects()))} objects after)",
    )
    report.figure(
        f"{mode}: client CPU per wait (total)",
        f"{run.client_cpu / waits * 1000:.3f} ms ({fmt_seconds(run.client_cpu)}; fake API {fmt_seconds(api.cpu)})",
    )
    report.figure(
        f"{mode}: event latency after finish p50 / p95 / max",
        f"{fmt_seconds(percentile(latencies, 0.5))} / {fmt_seconds(percentile(latencies, 0.95))} / "
        f"{fmt_seconds(max(latencies, default=0.0))}",
    )
    report.figure(f"{mode}: requests", _counts(api.count(0.0, float("inf"))))
    statuses = Counter(payload["status"] for _, payload in run.events)
    return Summary(
        events_ok=statuses == Counter({"success": waits})
        and len({payload["pipeline_id"] for _, payload in run.events}) == waits,
        events=len(run.events),
        client_cpu=run.client_cpu,
        worst_lag=max(run.lags, default=0.0),
        worst_lag_outside_full_gcs=run.lag_outside_full_gcs(),
        worst_latency=max(latencies, default=0.0),
    )


def _burst(report: Report, waits: int, handover: bool) -> tuple[int, bool]:
    """Part 3, the burst, one mode: returns the requests sent until the last event, and whether all succeeded."""
    now = time.time()
    api = FakeApi({1: FakeProject(now - 1.0)})
    for index in range(waits):
        api.projects[1].add(1000 + index, now + BURST_PIPELINE_SECONDS)
    project = api.projects[1]
    run = asyncio.run(
        _drive(
            api,
            [
                shared_wait(1, pid, BURST_INTERVAL, project.row(pid, now) if handover else None)
                for pid in project.finish
            ],
            None,
        )
    )
    counts = api.count(0.0, float("inf"))
    mode = "handover" if handover else "first reads"
    report.figure(f"burst, {mode}: requests until the last event", f"{sum(counts.values())} ({_counts(counts)})")
    ok = Counter(payload["status"] for _, payload in run.events) == Counter({"success": waits})
    return sum(counts.values()), ok


def _restart(report: Report, waits: int, interval: float, scale: float, handover: bool) -> int:
    """Part 3, the restart, one mode: returns the requests of the restarted triggerer's first minute."""
    now = time.time()
    deferred_at = now - 600.0 / scale  # ten (scaled) minutes before the restart
    api = FakeApi({1: FakeProject(deferred_at)})
    rng = random.Random(18)
    for index in range(waits):
        api.projects[1].add(1000 + index, now + rng.uniform(interval, SPREAD_INTERVALS * interval))
    project = api.projects[1]
    minute = 60.0 / scale
    asyncio.run(
        _drive(
            api,
            [
                shared_wait(1, pid, interval, project.row(pid, deferred_at) if handover else None)
                for pid in project.finish
            ],
            minute,
        )
    )
    counts = api.count(0.0, now + minute)
    mode = "handover" if handover else "first reads"
    report.figure(f"restart, {mode}: requests in the first minute", f"{sum(counts.values())} ({_counts(counts)})")
    return sum(counts.values())


def _throttled(report: Report, waits: int, handover: bool) -> tuple[Counter[str], Counter[int]]:
    """Part 3 against the throttled emulator, one mode: event statuses, and answers by HTTP status."""
    from airflow_provider_dataops.hooks.dataops import DataOpsHook
    from benchmarks._support import EmulatorProcess

    with EmulatorProcess(pipeline_seconds=10.0) as emulator:
        hook = DataOpsHook()
        started = [
            hook.trigger_pipeline(1, "main", variables={"DATAOPS_EMULATOR_SECONDS": f"{10.0 * (1 + i / waits):.3f}"})
            for i in range(waits)
        ]
        hook.close()
        emulator.clear_requests()
        emulator.control("POST", "/rate-limit", {"requests_per_minute": GITLAB_COM_REQUESTS_PER_MINUTE})
        run = asyncio.run(
            _drive_real([shared_wait(1, int(p["id"]), BURST_INTERVAL, p if handover else None) for p in started])
        )
        answers = Counter(int(entry["status"]) for entry in emulator.requests())
    statuses = Counter(str(payload["status"]) for payload in run)
    mode = "handover" if handover else "first reads"
    report.figure(
        f"throttled emulator, {mode}: events / answers",
        f"{_counts(statuses)} / " + ", ".join(f"HTTP {code} x {n}" for code, n in sorted(answers.items())),
    )
    return statuses, answers


async def _drive_real(waits: list[Awaitable[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Run the waits against the real shared client (the emulator); their events, in order."""
    results: list[dict[str, Any]] = []

    async def one(wait: Awaitable[dict[str, Any]]) -> None:
        try:
            results.append(await wait)
        except Exception as error:  # a failed task, as Airflow would see it
            results.append({"status": f"crashed: {type(error).__name__}"})

    tasks = []
    for wait in waits:
        tasks.append(asyncio.ensure_future(one(wait)))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    return results


def _first_reads(report: Report, burst: int, restart: int, throttled: int, interval: float, scaled: float) -> None:
    """Part 3: the handover against the first reads it replaces, with issue 18's targets."""
    report.section(
        f"part 3: no burst of first reads: {fmt_int(burst)} waits started together, a restart with "
        f"{fmt_int(restart)}, {fmt_int(throttled)} against the throttled emulator"
    )
    burst_requests = {handover: _burst(report, burst, handover) for handover in (False, True)}
    for handover, (_, ok) in burst_requests.items():
        report.check(f"burst, {'handover' if handover else 'first reads'}: one success per wait", ok)
    report.figure(
        "burst: handover / first reads requests",
        f"{burst_requests[True][0] / max(burst_requests[False][0], 1):.3f}",
    )
    report.target(
        f"burst of {burst} waits: <= {MAX_BURST_REQUESTS} requests in all",
        burst_requests[True][0] <= MAX_BURST_REQUESTS,
        str(burst_requests[True][0]),
    )
    scale = interval / scaled
    undo = _scale_poller(scale)
    try:
        restarts = {handover: _restart(report, restart, scaled, scale, handover) for handover in (False, True)}
    finally:
        undo()
    report.figure("restart: handover / first reads requests", f"{restarts[True] / max(restarts[False], 1):.3f}")
    report.target(
        f"restart with {restart} waits: <= {MAX_RESTART_REQUESTS_FIRST_MINUTE} requests in the first minute",
        restarts[True] <= MAX_RESTART_REQUESTS_FIRST_MINUTE,
        str(restarts[True]),
    )
    baseline, baseline_answers = _throttled(report, throttled, False)
    statuses, answers = _throttled(report, throttled, True)
    report.figure(
        "throttled: handover / first reads requests",
        f"{sum(answers.values()) / max(sum(baseline_answers.values()), 1):.3f}",
    )
    report.check(f"throttled, first reads: {throttled} events", sum(baseline.values()) == throttled)
    report.target(
        f"{throttled} waits, emulator at {GITLAB_COM_REQUESTS_PER_MINUTE} requests/min: no task fails",
        statuses == Counter({"success": throttled}),
        f"{_counts(statuses)}; {answers.get(429, 0)} x 429",
    )


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{kind} x {fmt_int(count)}" for kind, count in sorted(counter.items())) or "none"


def run(
    waits: int,
    many: int,
    interval: float,
    scaled_interval: float,
    *,
    parts: frozenset[int] = frozenset({1, 2, 3}),
    burst: int = 200,
    restart: int = 1000,
    throttled: int = 1000,
) -> Report:
    """The chosen parts, every mode.

    :param waits: waits of part 1 (1,000 in the issue).
    :param many: waits of part 2 (10,000 in the issue).
    :param interval: the real poll interval of part 2, and what part 1's scaled interval stands for.
    :param scaled_interval: the interval part 1 (and part 3's restart) actually runs at.
    :param parts: which parts to run.
    :param burst: part 3's waits started together (200 in issue 18).
    :param restart: part 3's waits of a restarted triggerer (1,000 in issue 18).
    :param throttled: part 3's waits against the throttled emulator (1,000 in issue 18).
    """
    report = Report("polling")
    os.environ[CONNECTION_ENV] = json.dumps(
        {"conn_type": "dataops", "host": "https://dataops.invalid", "password": "glpat-benchmark-not-a-token"}
    )
    scale = interval / scaled_interval
    report.heading(f"per-trigger vs shared polling, in-process fake API (no sockets), poll_interval {interval:g} s")
    if 1 in parts:
        report.section(
            f"part 1: {fmt_int(waits)} waits, interval scaled to {scaled_interval:g} s (x{scale:g}), "
            f"{WINDOW_INTERVALS} intervals counted"
        )
        undo = _scale_poller(scale)
        try:
            rates = {
                (mode, projects): _rate(report, mode, projects, waits, scaled_interval, scale)
                for projects in (1, 10)
                for mode in MODES
            }
        finally:
            undo()
        from airflow_provider_dataops.follow.project_poll import RECHECKS_PER_POLL

        quiet = RECHECKS_PER_POLL * 60.0 / interval
        worst_one = rates[("shared", 1)] + quiet
        report.note(
            f"waits quiet for 20 intervals are re-read, at most {RECHECKS_PER_POLL} per poll: up to {quiet:g} more "
            f"requests/min per project, not reached in the window; counted in the target below"
        )
        report.figure(
            "shared / per-trigger requests, one project",
            f"{rates[('shared', 1)] / max(rates[('per-trigger', 1)], 1e-9):.4f}",
        )
        report.figure(
            "shared / per-trigger requests, ten projects",
            f"{rates[('shared', 10)] / max(rates[('per-trigger', 10)], 1e-9):.4f}",
        )
        report.target(
            f"shared, one project: <= {MAX_REQUESTS_PER_MINUTE_ONE_PROJECT} requests/min incl. re-reads",
            worst_one <= MAX_REQUESTS_PER_MINUTE_ONE_PROJECT,
            f"{worst_one:.1f}",
        )
    if 2 in parts:
        report.section(f"part 2: {fmt_int(many)} waits on one project in one event loop, interval {interval:g} s")
        runs = {mode: _many(report, mode, many, interval) for mode in MODES}
        for mode, result in runs.items():
            report.check(f"{mode}: one success event per wait", result.events_ok, f"{result.events} events")
        shared = runs["shared"]
        report.figure(
            "shared / per-trigger client CPU",
            f"{shared.client_cpu / max(runs['per-trigger'].client_cpu, 1e-9):.3f}",
        )
        report.note(
            "a full garbage collection walks the whole heap (Airflow's modules, every trigger): its pause is "
            "the process's, in both modes; the provider's own work is what stalls the loop outside them"
        )
        report.target(
            f"shared: loop stall outside full garbage collections < {MAX_STALL * 1000:.0f} ms",
            shared.worst_lag_outside_full_gcs < MAX_STALL,
            f"{fmt_seconds(shared.worst_lag_outside_full_gcs)}; with them {fmt_seconds(shared.worst_lag)}",
        )
        report.target(
            f"shared: event latency <= interval + {MAX_EXTRA_LATENCY:g} s",
            shared.worst_latency <= interval + MAX_EXTRA_LATENCY,
            fmt_seconds(shared.worst_latency),
        )
    if 3 in parts:
        _first_reads(report, burst, restart, throttled, interval, scaled_interval)
    report.finish()
    return report
