"""``deferral``: N pipeline triggers running concurrently in one event loop, as in the triggerer.

Setup (not timed): the emulator runs in a subprocess, so it has its own GIL and event loop; N
pipelines are started through the synchronous hook with durations spread evenly over
``[pipeline_seconds, 2 * pipeline_seconds]``, so they settle while the triggers watch them.

Then N :class:`~airflow_provider_dataops.triggers.pipeline.DataOpsPipelineTrigger` instances run
as N tasks of one fresh ``asyncio`` loop (real poll sleeps, nothing patched), twice:

1. the timed pass, without tracing:

   * wall time until every trigger has yielded its one event; events by status; errors, crashes;
   * how late each event came after its pipeline settled (detection delay), and how long it took
     until every trigger had made its first poll (the start-up burst);
   * requests (the emulator's request log), their statuses and the request rate;
   * httpx clients: the distinct shared clients seen in ``dataops_async.loop_shared()`` during the run
     and the ``httpx.AsyncClient`` objects alive at the end (``gc``);
   * TCP: ``connect()`` calls to the emulator (audit hook), the most ESTABLISHED sockets the
     kernel showed at once (a sampling thread, every 200 ms), and the most connections and
     requests held by the shared httpcore pool (sampled by the ticker);
   * event-loop responsiveness: a task that asks to wake every 50 ms records how late it wakes;
     any long synchronous stretch in the loop (a blocking call, or CPU-bound work) shows as lag;
   * RSS before/after, CPU time of this process and of the emulator;

2. the heap pass, the same run on fresh pipelines under ``tracemalloc`` (which slows every
   allocation, so its timings are not reported): Python heap growth and peak, and peak RSS.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from benchmarks._support import (
    ConnectCounter,
    ConnectionSampler,
    EmulatorProcess,
    Report,
    Stopwatch,
    cpu_seconds,
    fmt_bytes,
    fmt_int,
    fmt_seconds,
    peak_rss_bytes,
    percentile,
    rss_bytes,
    status_histogram,
)

PROJECT = 1
TICK = 0.05
#: The target for the loop's worst wake-up delay, relative to this machine's speed: at most this
#: many times the client CPU time one poll costs, measured in the same pass. (An absolute 250 ms
#: failed on 2-core machines where one poll costs ~4.4 ms; the worst stall there is 40-70 polls.)
MAX_LAG_IN_POLLS = 100


def _epoch(iso: str) -> float:
    """Epoch seconds of an emulator timestamp such as ``2026-01-01T00:00:00.000Z``."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@dataclass
class Watched:
    """One pipeline under watch."""

    pipeline_id: int
    settles_at: float


@dataclass
class LoopFigures:
    """What the event loop saw while the triggers ran."""

    events: list[tuple[int, dict[str, Any], float]] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    lags: list[tuple[float, float]] = field(default_factory=list)
    wall: float = 0.0
    clients_seen: set[int] = field(default_factory=set)
    clients_alive: int = 0
    pools_alive: int = 0
    max_pool_connections: int = 0
    max_pool_requests: int = 0

    @property
    def lag_values(self) -> list[float]:
        """The ticker's lags, in seconds."""
        return [lag for _, lag in self.lags]

    @property
    def worst_lag(self) -> tuple[float, float]:
        """``(seconds after start, lag)`` of the worst tick."""
        return max(self.lags, key=lambda sample: sample[1], default=(0.0, 0.0))


@dataclass
class PassResult:
    """One run of N triggers over N fresh pipelines."""

    watched: list[Watched]
    setup_seconds: float
    started_at: float
    loop: LoopFigures
    connects: int
    max_established: int
    established_samples: int
    cpu: float
    server_cpu: float
    rss_before: int
    rss_after: int
    heap_growth: int
    heap_peak: int
    log: list[dict[str, Any]]
    #: Listings of the project's pipelines (the shared poller's polls).
    listings: int
    final_statuses: dict[int, str]

    @property
    def settles(self) -> dict[int, float]:
        """Epoch second at which each pipeline settles."""
        return {item.pipeline_id: item.settles_at for item in self.watched}

    @property
    def statuses(self) -> Counter[str]:
        """Events by ``status``."""
        return Counter(str(payload["status"]) for _, payload, _ in self.loop.events)

    @property
    def errors(self) -> list[str]:
        """Messages of ``error`` events, then crashes of ``run()``."""
        messages = [str(payload["message"]) for _, payload, _ in self.loop.events if payload["status"] == "error"]
        return messages + self.loop.crashes

    def one_event_per_trigger(self) -> bool:
        """Whether every pipeline got exactly one event, and no other event came."""
        seen = Counter(int(payload["pipeline_id"]) for _, payload, _ in self.loop.events)
        return set(seen) == set(self.settles) and all(count == 1 for count in seen.values())


def _pool_of(client: Any) -> Any:
    """The httpcore connection pool behind an ``httpx.AsyncClient`` (private attributes; None if moved)."""
    return getattr(getattr(client, "_transport", None), "_pool", None)


async def _drive(triggers: list[Any]) -> LoopFigures:
    """Run every trigger to its event in this loop, with a 50 ms ticker alongside."""
    import httpcore
    import httpx

    from airflow_provider_dataops.hooks import dataops_async

    loop = asyncio.get_running_loop()
    figures = LoopFigures()
    done = asyncio.Event()
    began = loop.time()

    async def ticker() -> None:
        while not done.is_set():
            expected = loop.time() + TICK
            await asyncio.sleep(TICK)
            now = loop.time()
            figures.lags.append((now - began, max(0.0, now - expected)))
            for client in dataops_async.loop_shared().clients.values():
                figures.clients_seen.add(id(client))
                pool = _pool_of(client)
                if pool is not None:
                    figures.max_pool_connections = max(figures.max_pool_connections, len(pool.connections))
                    figures.max_pool_requests = max(figures.max_pool_requests, len(getattr(pool, "_requests", ())))

    async def watch(index: int, trigger: Any) -> None:
        try:
            async for event in trigger.run():
                figures.events.append((index, dict(event.payload), time.time()))
        except Exception as error:  # run() promises an event, never a crash: count it
            figures.crashes.append(f"{type(error).__name__}: {error}")

    tick = asyncio.create_task(ticker())
    with Stopwatch() as watch_all:
        await asyncio.gather(*(watch(index, trigger) for index, trigger in enumerate(triggers)))
    figures.wall = watch_all.elapsed
    done.set()
    await tick

    shared = list(dataops_async.loop_shared().clients.values())
    figures.clients_seen.update(id(client) for client in shared)
    gc.collect()
    live = gc.get_objects()
    figures.clients_alive = sum(isinstance(obj, httpx.AsyncClient) for obj in live)
    figures.pools_alive = sum(isinstance(obj, httpcore.AsyncConnectionPool) for obj in live)
    del live
    for client in shared:  # as the triggerer's shutdown would
        await client.aclose()
    return figures


def _start_pipelines(count: int, pipeline_seconds: float) -> tuple[list[Watched], float]:
    """Start ``count`` pipelines of project 1; returns them and the seconds it took."""
    from airflow_provider_dataops.hooks.dataops import DataOpsHook

    hook = DataOpsHook()
    watched: list[Watched] = []
    with Stopwatch() as watch:
        for index in range(count):
            seconds = pipeline_seconds * (1 + index / count)
            pipeline = hook.trigger_pipeline(PROJECT, "main", variables={"DATAOPS_EMULATOR_SECONDS": f"{seconds:.3f}"})
            watched.append(Watched(int(pipeline["id"]), _epoch(pipeline["created_at"]) + seconds))
    hook.close()
    return watched, watch.elapsed


def _one_pass(
    emulator: EmulatorProcess, triggers: int, poll_interval: float, pipeline_seconds: float, *, trace_heap: bool
) -> PassResult:
    """Start N pipelines, then watch them with N triggers in a fresh event loop."""
    from airflow_provider_dataops.triggers.pipeline import DataOpsPipelineTrigger

    watched, setup = _start_pipelines(triggers, pipeline_seconds)
    instances = [
        DataOpsPipelineTrigger(project=PROJECT, pipeline_id=item.pipeline_id, poll_interval=poll_interval)
        for item in watched
    ]
    emulator.clear_requests()
    gc.collect()
    rss_before = rss_bytes()
    cpu_before, server_cpu_before = cpu_seconds(), emulator.cpu_seconds()
    started_at = time.time()
    heap_growth = heap_peak = 0
    if trace_heap:
        tracemalloc.start()
    try:
        heap_base = tracemalloc.get_traced_memory()[0]
        with ConnectCounter(emulator.port) as connects, ConnectionSampler(emulator.port) as sampler:
            figures = asyncio.run(_drive(instances))
        if trace_heap:
            heap_now, peak = tracemalloc.get_traced_memory()
            heap_growth, heap_peak = heap_now - heap_base, peak - heap_base
    finally:
        if trace_heap:
            tracemalloc.stop()
    cpu, server_cpu = cpu_seconds() - cpu_before, emulator.cpu_seconds() - server_cpu_before
    rss_after = rss_bytes()
    wanted = {f"/api/v4/projects/{PROJECT}/pipelines/{item.pipeline_id}" for item in watched}
    everything = emulator.requests()
    log = [entry for entry in everything if entry["path"] in wanted]
    listings = sum(1 for entry in everything if entry["path"] == f"/api/v4/projects/{PROJECT}/pipelines")
    final = {int(record["id"]): str(record["status"]) for record in emulator.pipelines()}
    return PassResult(
        watched=watched,
        setup_seconds=setup,
        started_at=started_at,
        loop=figures,
        connects=connects.connects,
        max_established=sampler.maximum,
        established_samples=sampler.samples,
        cpu=cpu,
        server_cpu=server_cpu,
        rss_before=rss_before,
        rss_after=rss_after,
        heap_growth=heap_growth,
        heap_peak=heap_peak,
        log=log,
        listings=listings,
        final_statuses={item.pipeline_id: final.get(item.pipeline_id, "missing") for item in watched},
    )


def run(triggers: int, poll_interval: float, pipeline_seconds: float) -> Report:
    """Watch ``triggers`` pipelines with as many concurrent triggers in one event loop.

    :param triggers: how many triggers (and pipelines).
    :param poll_interval: each trigger's ``poll_interval``.
    :param pipeline_seconds: the shortest pipeline duration; the longest is twice that.
    :returns: the printed report.
    """
    from airflow_provider_dataops.hooks.dataops_async import LOOP_POOL_SIZE

    report = Report("deferral")
    report.heading(
        f"{fmt_int(triggers)} DataOpsPipelineTrigger in one event loop, poll_interval={poll_interval:g} s, "
        f"emulator in a subprocess"
    )
    with EmulatorProcess(pipeline_seconds=pipeline_seconds) as emulator:
        timed = _one_pass(emulator, triggers, poll_interval, pipeline_seconds, trace_heap=False)
        heap = _one_pass(emulator, triggers, poll_interval, pipeline_seconds, trace_heap=True)

    report.section("timed pass (no tracing)")
    _report_timed(report, timed, triggers, poll_interval, pipeline_seconds, LOOP_POOL_SIZE)
    report.section("heap pass (same run on fresh pipelines, under tracemalloc; its timings are not reported)")
    report.figure("traced Python heap growth / peak", f"{fmt_bytes(heap.heap_growth)} / {fmt_bytes(heap.heap_peak)}")
    report.note("the growth includes the benchmark's own record of every event and ticker sample")
    report.figure("traced heap peak per trigger", fmt_bytes(heap.heap_peak / triggers))
    report.figure("RSS before / after this pass", f"{fmt_bytes(heap.rss_before)} / {fmt_bytes(heap.rss_after)}")
    report.figure("peak RSS of the process (ru_maxrss)", fmt_bytes(peak_rss_bytes()))

    for label, result in (("timed", timed), ("heap", heap)):
        report.check(
            f"{label}: one event per trigger ({fmt_int(triggers)})",
            len(result.loop.events) == triggers and result.one_event_per_trigger(),
            f"{fmt_int(len(result.loop.events))} events",
        )
        report.check(
            f"{label}: every event is success",
            result.statuses == Counter({"success": triggers}),
            _counts(result.statuses),
        )
        report.check(
            f"{label}: no error events, no crashes", not result.errors, result.errors[0] if result.errors else ""
        )
        report.check(
            f"{label}: emulator agrees, every pipeline success",
            Counter(result.final_statuses.values()) == Counter({"success": triggers}),
            _counts(Counter(result.final_statuses.values())),
        )
        report.check(
            f"{label}: one shared httpx client for the loop",
            len(result.loop.clients_seen) == 1 and result.loop.clients_alive == 1,
            f"{len(result.loop.clients_seen)} seen, {result.loop.clients_alive} alive",
        )
        report.check(
            f"{label}: simultaneous connections <= pool size ({LOOP_POOL_SIZE})",
            result.max_established <= LOOP_POOL_SIZE and result.loop.max_pool_connections <= LOOP_POOL_SIZE,
            f"kernel max {result.max_established}, pool max {result.loop.max_pool_connections}",
        )
    _, worst = timed.loop.worst_lag
    per_poll = timed.cpu / max(1, len(timed.log))
    report.target(
        f"timed: loop lag max < {MAX_LAG_IN_POLLS} x client CPU per poll",
        worst < MAX_LAG_IN_POLLS * per_poll,
        f"{fmt_seconds(worst)} = {worst / per_poll:.0f} x {fmt_seconds(per_poll)}" if per_poll else fmt_seconds(worst),
    )
    report.finish()
    return report


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{key} x {fmt_int(value)}" for key, value in sorted(counter.items())) or "none"


def _report_timed(
    report: Report, result: PassResult, triggers: int, poll_interval: float, pipeline_seconds: float, pool_size: int
) -> None:
    """Print the figures of the timed pass."""
    loop = result.loop
    settles = result.settles
    delays = [at - settles[int(payload["pipeline_id"])] for _, payload, at in loop.events]
    polls = Counter(entry["path"] for entry in result.log)
    first_polls: dict[str, float] = {}
    for entry in result.log:
        first_polls.setdefault(entry["path"], _epoch(entry["time"]))
    burst = max(first_polls.values(), default=result.started_at) - result.started_at
    expected_polls = sum(
        1 + max(0, math.ceil((settle - result.started_at) / poll_interval)) for settle in settles.values()
    )
    worst_at, worst = loop.worst_lag
    wall = loop.wall or 1e-9

    report.figure(
        "pipelines started (sync hook, setup)", f"{fmt_int(len(result.watched))} in {fmt_seconds(result.setup_seconds)}"
    )
    report.figure("pipeline durations", f"{pipeline_seconds:g} s to {2 * pipeline_seconds:g} s, spread evenly")
    report.figure(
        "pipelines settled before triggers started",
        fmt_int(sum(1 for settle in settles.values() if settle <= result.started_at)),
    )
    report.figure("last pipeline settles after start", fmt_seconds(max(settles.values()) - result.started_at))
    report.figure("wall time until all events", fmt_seconds(loop.wall))
    report.figure("events by status", _counts(result.statuses))
    report.figure(
        "error events / crashed run() calls", f"{len(result.errors) - len(loop.crashes)} / {len(loop.crashes)}"
    )
    report.figure(
        "detection delay after settle p50 / p95 / max",
        f"{fmt_seconds(percentile(delays, 0.5))} / {fmt_seconds(percentile(delays, 0.95))} / "
        f"{fmt_seconds(max(delays, default=0.0))}",
    )
    report.figure("every trigger's first poll done after", fmt_seconds(burst))
    report.figure("pipeline reads (emulator log)", f"{fmt_int(len(result.log))} ({status_histogram(result.log)})")
    report.figure("project listings (the shared poller's polls and pages)", fmt_int(result.listings))
    report.figure("pipeline reads had each trigger polled alone (approx.)", fmt_int(expected_polls))
    report.figure("requests/s over the run", f"{(len(result.log) + result.listings) / wall:,.1f}")
    report.figure(
        "pipeline reads per trigger mean / max",
        f"{len(result.log) / max(1, len(polls)):.1f} / {max(polls.values(), default=0)}",
    )
    report.figure("shared httpx clients seen in the loop", str(len(loop.clients_seen)))
    report.figure("httpx.AsyncClient / httpcore pools alive at end", f"{loop.clients_alive} / {loop.pools_alive}")
    report.figure("TCP connect() calls to the emulator", fmt_int(result.connects))
    report.figure(
        "max simultaneous TCP connections (kernel)",
        f"{result.max_established} ({fmt_int(result.established_samples)} samples)",
    )
    report.figure(
        "max pool connections / requests held by the pool",
        f"{loop.max_pool_connections} / {fmt_int(loop.max_pool_requests)} (LOOP_POOL_SIZE {pool_size})",
    )
    report.figure(
        "loop lag of a 50 ms ticker p50 / p99 / max",
        f"{fmt_seconds(percentile(loop.lag_values, 0.5))} / {fmt_seconds(percentile(loop.lag_values, 0.99))} / "
        f"{fmt_seconds(worst)} ({fmt_int(len(loop.lags))} ticks)",
    )
    report.figure("worst lag happened at", f"{fmt_seconds(worst_at)} after start")
    report.figure(
        "CPU: this process / emulator",
        f"{result.cpu:.1f} s ({result.cpu / wall:.0%}) / {result.server_cpu:.1f} s ({result.server_cpu / wall:.0%})",
    )
    report.figure("client CPU per request", fmt_seconds(result.cpu / max(1, len(result.log))))
    report.figure("RSS before / after", f"{fmt_bytes(result.rss_before)} / {fmt_bytes(result.rss_after)}")
    report.figure(
        "RSS growth per trigger (incl. one-time imports)", fmt_bytes((result.rss_after - result.rss_before) / triggers)
    )
    if result.connects > result.max_established:
        report.note(
            "more connect() calls than simultaneous connections: connections were closed and reopened (idle "
            "keep-alive expiry on the server while the client loop was busy, or pool eviction)"
        )
