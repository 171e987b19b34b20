"""``retries``: how the shared retry policy behaves against injected faults, sync hook and async hook.

1. ``GET /projects/1`` meets N consecutive 503s (emulator faults), then succeeds. The policy allows
   N + 1 attempts with a small backoff (10 ms doubling to at most 100 ms, with jitter), so the
   figures are the retry machinery's own cost: attempts (from the request log), total time, and
   the time not explained by the backoff waits.
2. ``GET /projects/1`` meets one 429 with ``Retry-After: 1``, then succeeds. The backoff is still
   10 ms, so a wait of about one second can only come from honouring the header; it is measured
   on the server, between the arrival of the two attempts (request log timestamps, 1 ms resolution).

The waits are real (``retry.sleep`` / ``retry.async_sleep`` are not patched).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from benchmarks._support import EmulatorProcess, Report, Stopwatch, fmt_seconds, status_histogram

PATH = "/api/v4/projects/1"
BACKOFF_INITIAL = 0.01
BACKOFF_MAX = 0.1
RETRY_AFTER = 1.0
#: Allowed time on top of the waits: the attempts themselves plus scheduling.
SLACK_PER_ATTEMPT = 0.05
MAX_OVERSHOOT = 0.5


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class RetryLog(logging.Handler):
    """Collects the retry module's "Attempt n of m failed ...; retrying in s" records.

    Their arguments carry the exact wait the policy chose, so the waits are known precisely.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.waits: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the wait announced by one record."""
        args = record.args if isinstance(record.args, tuple) else ()
        if len(args) == 4 and isinstance(args[3], int | float):
            self.waits.append(float(args[3]))


def _within(waits: list[float], ceilings: list[float]) -> bool:
    """Whether each wait lies between half its ceiling and its ceiling (the jitter's range)."""
    pairs = zip(waits, ceilings, strict=True)
    return all(ceiling / 2 - 1e-9 <= wait <= ceiling + 1e-9 for wait, ceiling in pairs)


@contextmanager
def _captured_retry_log() -> Iterator[RetryLog]:
    """Route ``airflow_provider_dataops.api.retry`` records to a :class:`RetryLog` (not the console)."""
    logger = logging.getLogger("airflow_provider_dataops.api.retry")
    handler = RetryLog()
    saved = logger.propagate, logger.level
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate, logger.level = saved


def _backoff_ceilings(failures: int) -> list[float]:
    """The longest wait after each failed attempt (jitter draws each from half of it to all of it)."""
    return [min(BACKOFF_MAX, BACKOFF_INITIAL * 2 ** (attempt - 1)) for attempt in range(1, failures + 1)]


def _get_sync(policy: Any) -> Callable[[], dict[str, Any]]:
    from airflow_provider_dataops.hooks.dataops import DataOpsHook

    def call() -> dict[str, Any]:
        hook = DataOpsHook(retry_policy=policy)
        try:
            return hook.get_project(1)
        finally:
            hook.close()

    return call


def _get_async(policy: Any) -> Callable[[], dict[str, Any]]:
    from airflow_provider_dataops.hooks import dataops_async
    from airflow_provider_dataops.hooks.dataops_async import DataOpsAsyncHook

    async def get() -> dict[str, Any]:
        hook = DataOpsAsyncHook(retry_policy=policy)
        try:
            return dict(await hook.request_json("GET", "/projects/1"))
        finally:
            for client in dataops_async.loop_shared().clients.values():
                await client.aclose()

    return lambda: asyncio.run(get())


def run(failures: int) -> Report:
    """Retry through ``failures`` 503s, then through a 429 with ``Retry-After: 1``.

    :param failures: consecutive 503s before the request succeeds.
    :returns: the printed report.
    """
    from airflow_provider_dataops.api.retry import RetryPolicy

    report = Report("retries")
    report.heading(
        f"{failures} x 503 then success; 429 with Retry-After: {RETRY_AFTER:g}; "
        f"backoff {BACKOFF_INITIAL * 1000:.0f} ms doubling to {BACKOFF_MAX * 1000:.0f} ms, jitter on"
    )
    policy = RetryPolicy(
        max_attempts=failures + 1, max_total_wait=60.0, backoff_initial=BACKOFF_INITIAL, backoff_max=BACKOFF_MAX
    )
    ceilings = _backoff_ceilings(failures)
    low, high = sum(ceilings) / 2, sum(ceilings)
    with EmulatorProcess() as emulator:
        for client, make in (("sync DataOpsHook", _get_sync), ("async DataOpsAsyncHook", _get_async)):
            call = make(policy)
            call()  # warm up: connection lookup, imports, first connection
            label = client.split()[0]

            report.section(f"{client}: {failures} x 503, then 200")
            emulator.clear_requests()
            if failures:
                emulator.inject_fault(action="status", method="GET", path=f"^{PATH}$", times=failures, status=503)
            with _captured_retry_log() as retry_log, Stopwatch() as watch:
                project = call()
            log = [entry for entry in emulator.requests() if entry["path"] == PATH]
            waited = sum(retry_log.waits)
            report.figure("attempts (emulator log)", f"{len(log)} ({status_histogram(log)})")
            report.figure("total time", fmt_seconds(watch.elapsed))
            report.figure("backoff waits allowed by the policy", f"{fmt_seconds(low)} to {fmt_seconds(high)}")
            report.figure(
                "backoff waits taken (retry log records)", f"{fmt_seconds(waited)} in {len(retry_log.waits)} waits"
            )
            report.figure(
                "time beyond the waits / per attempt",
                f"{fmt_seconds(watch.elapsed - waited)} / {fmt_seconds((watch.elapsed - waited) / max(1, len(log)))}",
            )
            statuses = [entry["status"] for entry in log]
            report.check(
                f"{label}: {failures + 1} attempts, {failures} x 503 then 200",
                statuses == [503] * failures + [200] and project.get("id") == 1,
                f"{len(log)} attempts",
            )
            report.check(
                f"{label}: {failures} waits, each within the policy's backoff",
                len(retry_log.waits) == failures and _within(retry_log.waits, ceilings),
                f"{len(retry_log.waits)} waits, {fmt_seconds(waited)}",
            )
            limit = high + SLACK_PER_ATTEMPT * (failures + 1)
            report.target(
                f"{label}: total < {fmt_seconds(limit)} (waits + {SLACK_PER_ATTEMPT * 1000:.0f} ms per attempt)",
                watch.elapsed < limit,
                fmt_seconds(watch.elapsed),
            )

            report.section(f"{client}: 429 with Retry-After: {RETRY_AFTER:g}, then 200")
            emulator.clear_requests()
            emulator.inject_fault(
                action="status",
                method="GET",
                path=f"^{PATH}$",
                times=1,
                status=429,
                body="Retry later\n",
                content_type="text/plain",
                headers={"Retry-After": f"{RETRY_AFTER:g}"},
            )
            with _captured_retry_log() as retry_log, Stopwatch() as watch:
                project = call()
            log = [entry for entry in emulator.requests() if entry["path"] == PATH]
            gap = _epoch(log[1]["time"]) - _epoch(log[0]["time"]) if len(log) >= 2 else 0.0
            report.figure("attempts (emulator log)", f"{len(log)} ({status_histogram(log)})")
            report.figure("total time", fmt_seconds(watch.elapsed))
            report.figure("wait announced (retry log record)", ", ".join(f"{wait:.3f} s" for wait in retry_log.waits))
            report.figure("server-side gap between the two attempts", fmt_seconds(gap))
            report.check(
                f"{label}: 429 then 200", [entry["status"] for entry in log] == [429, 200] and project.get("id") == 1
            )
            # The log's timestamps have millisecond resolution.
            report.check(
                f"{label}: Retry-After honoured (gap >= {RETRY_AFTER:g} s)",
                gap >= RETRY_AFTER - 0.002,
                fmt_seconds(gap),
            )
            report.target(
                f"{label}: gap < {RETRY_AFTER + MAX_OVERSHOOT:g} s", gap < RETRY_AFTER + MAX_OVERSHOOT, fmt_seconds(gap)
            )
    report.finish()
    return report
