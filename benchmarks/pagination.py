"""``pagination``: list every project through the synchronous hook, keyset and offset.

The emulator (a subprocess) is seeded with N projects, plus the ones it always has. Each mode lists
them all twice with one :class:`~airflow_provider_dataops.hooks.dataops.DataOpsHook`:

1. a timed pass (no tracing): wall time, items/s, pages and requests (emulator request log), TCP
   connections opened (``socket.connect`` audit event) and the urllib3 pool's own counters;
2. a memory pass under ``tracemalloc``, counting items without keeping them, sampling the traced
   heap every 100 items: the peak, and how much the heap still grows between 10 % and 100 % of
   the listing (a lazy iterator should stay flat; anything it retains per item shows up there).
"""

from __future__ import annotations

import math
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from benchmarks import client_baselines
from benchmarks._support import (
    ConnectCounter,
    EmulatorProcess,
    Report,
    Stopwatch,
    established_connections,
    fmt_bytes,
    fmt_int,
    fmt_seconds,
    peak_rss_bytes,
    rss_bytes,
    status_histogram,
)

PER_PAGE = 100
#: Targets, scaled from "10,000 projects in < 10 s" (1 ms per item) with a floor for tiny runs.
SECONDS_PER_ITEM = 0.001
MIN_SECONDS = 2.0
#: The traced heap may peak at a few pages' worth; fixed, so it does not grow with N.
PEAK_HEAP_LIMIT = 8 * 1024 * 1024
SAMPLE_EVERY = 100


@dataclass
class MemoryProfile:
    """Traced heap figures of one lazy listing, relative to the heap before it started.

    The heap is sampled as each page's first item arrives, when the iterator holds exactly one
    decoded page, so samples from different pages compare like with like.
    """

    items: int
    peak: int
    page_samples: list[tuple[int, int]]
    after: int

    def at_fraction(self, fraction: float) -> tuple[int, int]:
        """The page-start sample nearest to ``fraction`` of the full pages: ``(item number, bytes)``."""
        full = [sample for sample in self.page_samples if sample[0] + PER_PAGE - 1 <= self.items]
        samples = full or self.page_samples or [(0, 0)]
        return samples[min(len(samples) - 1, int(fraction * len(samples)))]


def _profile_memory(listing: Callable[[], Iterator[dict[str, Any]]]) -> MemoryProfile:
    """Run ``listing`` under tracemalloc, keeping nothing but a count and heap samples."""
    samples: list[tuple[int, int]] = []
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        count = 0
        for _ in listing():
            count += 1
            if count % PER_PAGE == 1 or PER_PAGE == 1:
                samples.append((count, tracemalloc.get_traced_memory()[0] - base))
        peak = tracemalloc.get_traced_memory()[1] - base
        # The generator is finished and dropped here: what it held is released.
        after = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    return MemoryProfile(count, peak, samples, after)


def _timed_pass(listing: Callable[[], Iterator[dict[str, Any]]], keyset: bool) -> tuple[int, int, bool, float]:
    """Count items, check ids are unique (and ascending for keyset); returns count, unique, ordered, seconds."""
    ids: set[int] = set()
    ordered = True
    previous = -1
    count = 0
    with Stopwatch() as watch:
        for item in listing():
            count += 1
            item_id = int(item["id"])
            ids.add(item_id)
            if keyset and item_id <= previous:
                ordered = False
            previous = item_id
    return count, len(ids), ordered, watch.elapsed


def run(projects: int, rounds: int = client_baselines.ROUNDS) -> Report:
    """Seed ``projects`` projects and list them all, keyset then offset.

    :param projects: how many projects to seed.
    :param rounds: rounds of the comparison with hand-written loops (:mod:`benchmarks.client_baselines`).
    :returns: the printed report.
    """
    from airflow_provider_dataops.hooks.dataops import DataOpsHook

    report = Report("pagination")
    report.heading(f"{fmt_int(projects)} seeded projects, per_page={PER_PAGE}, emulator in a subprocess")
    with EmulatorProcess() as emulator:
        with Stopwatch() as seeding:
            total = emulator.seed_projects(projects)
        report.figure("projects visible (these + the emulator's own)", fmt_int(total))
        report.figure("seeding time (control API)", fmt_seconds(seeding.elapsed))
        report.note(
            "TCP connections = connect() calls to the emulator seen by a socket.connect audit hook in this"
            " process, cross-checked with urllib3's pool counters and the kernel's ESTABLISHED sockets"
        )
        time_limit = max(MIN_SECONDS, total * SECONDS_PER_ITEM)
        full_pages = math.ceil(total / PER_PAGE)
        modes: list[tuple[str, str, bool, int]] = [
            # keyset ends with an empty page when the last page is full; offset stops on x-next-page.
            ("keyset", "hook.list_projects()", True, full_pages + (1 if total % PER_PAGE == 0 else 0)),
            ("offset", 'hook.paginate("/projects")', False, full_pages),
        ]
        for mode, call, keyset, expected_pages in modes:
            hook = DataOpsHook()

            def listing(hook: DataOpsHook = hook, keyset: bool = keyset) -> Iterator[dict[str, Any]]:
                return hook.list_projects() if keyset else hook.paginate("/projects")

            report.section(f"{mode}: {call}")
            emulator.clear_requests()
            with ConnectCounter(emulator.port) as connects:
                count, unique, ordered, elapsed = _timed_pass(listing, keyset)
                with connects.paused():
                    log = [entry for entry in emulator.requests() if entry["path"] == "/api/v4/projects"]
                memory = _profile_memory(listing)
            established = established_connections(emulator.port)
            opened, pooled_requests = _pool_counters(hook)
            hook.close()

            report.figure("items", fmt_int(count))
            report.figure("wall time", fmt_seconds(elapsed))
            report.figure("items/s", fmt_int(count / elapsed if elapsed else 0))
            report.figure("requests (emulator log, first pass)", f"{fmt_int(len(log))} ({status_histogram(log)})")
            report.figure("ms per request (client wall / server mean)", _per_request(elapsed, log))
            report.figure("TCP connections opened (both passes)", fmt_int(connects.connects))
            report.figure("urllib3 pools: connections / requests", f"{opened} / {fmt_int(pooled_requests)}")
            report.figure("ESTABLISHED to emulator after both passes", str(established))
            report.figure("traced heap peak (memory pass)", fmt_bytes(memory.peak))
            (first_item, first), (_, middle), (last_item, last) = (memory.at_fraction(f) for f in (0.1, 0.5, 1.0))
            report.figure(
                "traced heap at page start ~10% / 50% / 100%",
                f"{fmt_bytes(first)} / {fmt_bytes(middle)} / {fmt_bytes(last)}",
            )
            growth = last - first
            per_item = growth / max(1, last_item - first_item)
            report.figure(
                f"heap growth item {fmt_int(first_item)} -> {fmt_int(last_item)}",
                f"{fmt_bytes(growth)} ({per_item:.0f} B retained per item)",
            )
            report.figure("traced heap after the iterator is done", fmt_bytes(memory.after))
            report.figure(
                "process RSS now / peak (ru_maxrss)", f"{fmt_bytes(rss_bytes())} / {fmt_bytes(peak_rss_bytes())}"
            )

            report.check(
                f"{mode}: every project listed once",
                count == total == unique,
                f"{fmt_int(count)} items, {fmt_int(unique)} ids",
            )
            if keyset:
                report.check("keyset: ids strictly ascending", ordered)
            report.check(
                f"{mode}: one request per page",
                len(log) == expected_pages,
                f"{len(log)} requests, {expected_pages} pages",
            )
            report.check(f"{mode}: memory pass listed the same items", memory.items == total, fmt_int(memory.items))
            report.check(
                f"{mode}: one TCP connection for both passes (Session reused)",
                connects.connects == 1 and opened == 1 and established == 1,
                f"{connects.connects} connect() calls, urllib3 opened {opened}, {established} established",
            )
            report.target(f"{mode}: wall time < {time_limit:.1f} s", elapsed < time_limit, fmt_seconds(elapsed))
            report.target(
                f"{mode}: traced heap peak < {fmt_bytes(PEAK_HEAP_LIMIT)}",
                memory.peak < PEAK_HEAP_LIMIT,
                fmt_bytes(memory.peak),
            )
        client_baselines.compare(report, emulator, total, rounds)
    report.finish()
    return report


def _pool_counters(hook: Any) -> tuple[int, int]:
    """Connections opened and requests sent, summed over the hook's urllib3 pools (``num_connections``)."""
    pools = hook.get_conn().get_adapter(hook.api_url).poolmanager.pools
    opened = requests = 0
    for key in pools.keys():  # noqa: SIM118 - urllib3's RecentlyUsedContainer refuses plain iteration
        pool = pools[key]
        opened += pool.num_connections
        requests += pool.num_requests
    return opened, requests


def _per_request(elapsed: float, log: list[dict[str, Any]]) -> str:
    """Client wall time per request next to the server's own mean handling time."""
    if not log:
        return "n/a"
    server = sum(float(entry.get("duration_ms") or 0.0) for entry in log) / len(log)
    return f"{elapsed * 1000 / len(log):.1f} / {server:.1f}"
