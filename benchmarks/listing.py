"""``listing``: the emulator's ``GET /projects/:id/pipelines?updated_after=`` as its pipelines pile up.

The shared project poll lists ``updated_after=<last poll>`` every interval; on an emulator that has
run for hours most pipelines settled long ago. An in-process emulator on a manual clock gets N
settled pipelines, then a recent one; each size is timed over HTTP (median of repeated requests) for
the listing that returns only the recent pipeline, and for the first page of the whole listing.
The figure to watch is the ratio between the sizes: with the horizon index the ``updated_after``
listing costs what it returns, not what the emulator holds.
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
from typing import Any

import requests

from airflow_provider_dataops.emulator import DataOpsEmulator
from airflow_provider_dataops.emulator.clock import iso
from benchmarks._support import Report, fmt_bytes, fmt_seconds

#: The default large size; the small one is a tenth of it.
DEFAULT_PIPELINES = 10_000
REPEATS = 15
#: The updated_after listing at 10x the pipelines may cost at most this much more.
MAX_GROWTH = 3.0
PROJECT = "demo/dataops-project"


def _fill(emulator: DataOpsEmulator, count: int) -> None:
    state = emulator.state
    project = state.find_project(PROJECT)
    assert project is not None
    for _ in range(count):
        state.create_pipeline(project, ref="main", variables=(), source="api")
    emulator.advance(3600)  # every one settles


def _median_get(session: requests.Session, url: str, params: dict[str, Any]) -> tuple[float, list[Any]]:
    times, body = [], []
    for _ in range(REPEATS):
        start = time.perf_counter()
        response = session.get(url, params=params, timeout=60)
        times.append(time.perf_counter() - start)
        response.raise_for_status()
        body = response.json()
    return statistics.median(times), body


def _measure(count: int, report: Report) -> float:
    report.section(f"{count:,} settled pipelines")
    tracemalloc.start()
    with DataOpsEmulator(clock="manual", pipeline_seconds=1) as emulator:
        before = tracemalloc.get_traced_memory()[0]
        _fill(emulator, count)
        per_pipeline = (tracemalloc.get_traced_memory()[0] - before) / count
        tracemalloc.stop()
        since = iso(emulator.state.now())
        emulator.advance(1)
        project = emulator.state.find_project(PROJECT)
        assert project is not None
        recent = emulator.state.create_pipeline(project, ref="main", variables=(), source="api")
        url = f"{emulator.api_url}/projects/demo%2Fdataops-project/pipelines"
        with requests.Session() as session:
            session.headers["PRIVATE-TOKEN"] = emulator.access_token
            latency, body = _median_get(session, url, {"updated_after": since, "per_page": 100})
            first_page, page = _median_get(session, url, {"per_page": 20})
    report.figure("updated_after listing (1 match), median", fmt_seconds(latency))
    report.figure("first page of the whole listing, median", fmt_seconds(first_page))
    report.figure("emulator heap per pipeline", fmt_bytes(per_pipeline))
    report.check(
        f"{count:,}: the updated_after listing returns only the recent pipeline",
        [row["id"] for row in body] == [recent.id],
        f"{len(body)} rows",
    )
    report.check(f"{count:,}: the first page has 20 rows", len(page) == 20, f"{len(page)} rows")
    return latency


def run(pipelines: int = DEFAULT_PIPELINES) -> Report:
    """Measure and print the listing at a tenth of ``pipelines`` and at ``pipelines`` (1,000 and 10,000).

    :param pipelines: the large size.
    :returns: the report.
    """
    report = Report("listing")
    report.heading("updated_after listing vs. pipelines kept")
    sizes = (max(pipelines // 10, 1), pipelines)
    latencies = [_measure(count, report) for count in sizes]
    growth = latencies[1] / latencies[0]
    report.figure(f"latency ratio {sizes[1]:,} / {sizes[0]:,}", f"{growth:.2f}x")
    report.target(f"10x the pipelines costs < {MAX_GROWTH:.0f}x the latency", growth < MAX_GROWTH, f"{growth:.2f}x")
    report.finish()
    return report
