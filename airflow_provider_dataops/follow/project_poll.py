"""One poll per project for every trigger of a triggerer process that watches its pipelines.

Triggers that watch pipelines of the same project through the same connection (same read timeout
and retry policy) share one :class:`ProjectPoller`: one asyncio task that reads
``GET /projects/:id/pipelines?updated_after=...&order_by=updated_at&sort=asc`` (paged) at the
shortest poll interval of its subscribers and fans each changed pipeline out to them.

Subscribing::

    with subscribe(dataops_conn_id="dataops_default", project=42, poll_interval=30.0) as sub:
        sub.watch(pipeline_id)              # one pipeline (read once now, then from the listing)
        sub.watch(other_id, known_updated_at=epoch)  # its state as of epoch is known: no read
        item = await sub.get(timeout=60.0)  # a PipelineUpdate, a PollError, or None on timeout

A subscription made with ``watch_all=True`` also receives every pipeline update of the project
the poller reads after it subscribed (what an asset watcher needs); updates marked
:attr:`PipelineUpdate.current` are states found, not changes seen (a new poller's first page).

How it stays right:

* **Clock skew**: the ``updated_after`` bound comes from the *server's* clock, never this
  machine's: from the ``updated_at`` values and ``Date`` headers it returned, plus time elapsed
  here. Each listing reaches :data:`LATE_COMMIT_WINDOW` seconds behind the server's clock (updates committed
  late), and updates already delivered, keyed by ``(id, updated_at, status)``, are not delivered
  again.
* **Updates while paging, more than a page per interval, rows not to trust**: one listing
  algorithm (:mod:`~airflow_provider_dataops.follow.listing`) moves the ``updated_after`` bound
  page by page, reads at most ``MAX_PAGES_PER_LISTING`` pages per poll (the rest next poll),
  checks each row on its own (a malformed one is skipped with a warning and counted; a watched
  pipeline whose row is malformed is read on its own, and its waiters fail only if that read is
  malformed too) and ends a listing whose server repeats pages.
* **The listing only shows changes**: a newly watched pipeline whose state the subscriber already
  read (the operator or sensor did, just before deferring) is not read again: the next listing
  reaches back to that state's ``updated_at``, so it shows any change since. Any other newly
  watched pipeline is read once by ``GET /pipelines/:id`` (or from the poller's last copy of it);
  one not seen for
  :func:`stale_after` seconds is read again (at most :data:`RECHECKS_PER_POLL` per poll), so a
  deleted pipeline ends in a :class:`PollError` carrying the 404.
* **Isolation**: one task per poller, so a failing project or connection only delivers
  :class:`PollError` to its own subscribers. Transient failures are retried by the hook's policy,
  then logged and tried again next poll; errors that retrying cannot fix are delivered.
* **Cost**: dispatching an update is a dict lookup by pipeline id; the task ends when its last
  subscriber leaves.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
from collections import Counter, OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from airflow_provider_dataops.api import retry
from airflow_provider_dataops.api.connection import DEFAULT_CONN_ID
from airflow_provider_dataops.api.retry import RetryPolicy, is_retryable
from airflow_provider_dataops.errors import DataOpsError, truncate
from airflow_provider_dataops.follow.listing import (
    PAGE_STEP_BACK,
    ChangeListing,
    MalformedRow,
    Page,
    PipelineRow,
    RowChecker,
    check_read,
    read_page,
)
from airflow_provider_dataops.hooks.dataops_async import DataOpsAsyncHook

log = logging.getLogger(__name__)

#: Seconds each listing reaches back behind the newest ``updated_at`` seen, for updates the server
#: committed late (a transaction that set ``updated_at`` before a later one became visible).
LATE_COMMIT_WINDOW = 30.0
#: Seconds of listed rows kept for subscribers that hand over a state (see :meth:`Subscription.watch`):
#: one from within this window needs no listing of its own; an older one makes the next listing reach back.
HANDOVER_MEMORY = 3600.0
#: A watched pipeline absent from the listing this many poll intervals is read again ...
STALE_INTERVALS = 20
#: ... but never sooner than this many seconds.
MIN_STALE_SECONDS = 600.0
#: Stale pipelines read again per poll, so that a thousand quiet waits cost a few reads a minute.
RECHECKS_PER_POLL = 2
#: First reads of newly watched pipelines started at once: the hook's request slots
#: (:data:`~airflow_provider_dataops.hooks.dataops_async.LOOP_POOL_SIZE`) would hold more back anyway.
READ_BATCH = 50
#: Each pause is the interval minus up to this fraction, spreading pollers that started together
#: without ever polling later than the interval.
POLL_JITTER = 0.1
#: After a listing failure retrying cannot fix (a project gone or hidden), each poll waits twice as
#: long as the one before, up to this many seconds.
MAX_FAILURE_BACKOFF = 600.0


def stale_after(interval: float) -> float:
    """Seconds a watched pipeline may be missing from the listing before it is read on its own."""
    return max(MIN_STALE_SECONDS, STALE_INTERVALS * interval)


@dataclass(frozen=True)
class PipelineUpdate:
    """A pipeline as the poller read it: a listing row (short form) or a ``GET`` (full form).

    :param pipeline: The pipeline's JSON.
    :param current: True for a read of the current state rather than a change the listing showed:
        the first read of a watched pipeline, or what a new poller's first listing found (which a
        watcher of *new* updates should skip; a waiter may use it).
    """

    pipeline: Mapping[str, Any]
    current: bool = False

    @property
    def pipeline_id(self) -> int:
        """The pipeline's id."""
        return int(self.pipeline["id"])


@dataclass(frozen=True)
class PollError:
    """An error retrying cannot fix.

    :param error: What failed (already free of secrets, as every hook error).
    :param pipeline_id: The pipeline whose read failed (a 404 for a deleted one); None when the
        project's listing failed, which concerns every subscriber of the poller.
    """

    error: DataOpsError
    pipeline_id: int | None = None


PollItem = PipelineUpdate | PollError


@dataclass(frozen=True)
class PollerKey:
    """What triggers must have in common to share a poller."""

    dataops_conn_id: str
    project: str
    timeout: float | None
    retry_policy: RetryPolicy


class Subscription:
    """One subscriber's handle on a :class:`ProjectPoller`: the :data:`PollItem` delivered to it.

    Made by :func:`subscribe`; close it (or leave its ``with`` block) when done, else its poller
    keeps polling. Kept small (a deque and at most one future, no ``asyncio.Queue``): a triggerer
    holds one per waiting trigger, and every object adds to its garbage collector's pauses.
    """

    __slots__ = ("_poller", "_waiter", "closed", "interval", "items", "pipeline_ids", "watch_all")

    def __init__(self, poller: ProjectPoller, interval: float, watch_all: bool) -> None:
        self._poller = poller
        self.interval = interval
        self.watch_all = watch_all
        self.pipeline_ids: set[int] = set()
        #: Items delivered and not yet taken by :meth:`get`, oldest first.
        self.items: deque[PollItem] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False

    def put(self, item: PollItem) -> None:
        """Deliver an item (the poller does)."""
        self.items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def watch(self, pipeline_id: int, known_updated_at: float | None = None) -> None:
        """Receive this pipeline's updates.

        :param known_updated_at: ``updated_at`` (epoch seconds, the server's clock) of the state the
            subscriber already read. The poller then lists from there instead of reading the
            pipeline; without it the pipeline is read once soon, since the listing shows changes only.
        """
        if not self.closed and pipeline_id not in self.pipeline_ids:
            self.pipeline_ids.add(pipeline_id)
            self._poller.watch(self, pipeline_id, known_updated_at)

    def unwatch(self, pipeline_id: int) -> None:
        """Stop receiving this pipeline's updates (those of ``watch_all`` still come)."""
        if pipeline_id in self.pipeline_ids:
            self.pipeline_ids.discard(pipeline_id)
            self._poller.unwatch(self, pipeline_id)

    async def get(self, timeout: float | None = None) -> PollItem | None:
        """The next item, waiting at most ``timeout`` seconds (None: for ever); None on timeout."""
        if not self.items:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                if timeout is None:
                    await waiter
                else:
                    timer = asyncio.ensure_future(retry.async_sleep(max(0.0, timeout)))
                    try:
                        await asyncio.wait({waiter, timer}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        timer.cancel()
            finally:
                self._waiter = None
                waiter.cancel()
            if not self.items:
                return None
        return self.items.popleft()

    def close(self) -> None:
        """Leave the poller; the last subscriber to leave ends its task. Idempotent."""
        if not self.closed:
            self.closed = True
            self._poller.leave(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ProjectPoller:
    """The one task polling a project for its subscribers on one event loop; see the module's notes."""

    def __init__(self, key: PollerKey, registry: dict[PollerKey, ProjectPoller]) -> None:
        self.key = key
        self._registry = registry
        self.hook = DataOpsAsyncHook(key.dataops_conn_id, retry_policy=key.retry_policy, timeout=key.timeout)
        self.subscribers: set[Subscription] = set()
        self._intervals: Counter[float] = Counter()
        self._watch_all: set[Subscription] = set()
        self._by_id: dict[int, set[Subscription]] = {}
        # watched ids, least recently seen first (loop time of the last sighting)
        self._last_seen: OrderedDict[int, float] = OrderedDict()
        self._latest: dict[int, Mapping[str, Any]] = {}
        self._unread: dict[int, None] = {}  # watched ids awaiting their first read, in order
        self._bound: float | None = None  # updated_after of the next listing; None before the first
        self._reach_back: float | None = None  # the oldest state subscribers hand over, not listed yet
        # watched ids whose state was handed over (its updated_at), for the listing that reaches back
        # to them: it delivers their later rows even if an earlier listing read them already
        self._handed: dict[int, float] = {}
        self._replay: dict[int, float] = {}
        # the newest row of each pipeline listed since ``_covered_from`` (every listing since then
        # complete), so that a subscriber handing over a state from then on needs no listing of its own
        self._recent: dict[int, PipelineRow] = {}
        self._covered_from: float | None = None
        self._listing_from: float | None = None  # bound of the listing in progress
        self._offset: float | None = None  # lower bound of the server's clock minus the loop's
        self._seen: dict[tuple[int, str, str], float] = {}
        self._wake = asyncio.Event()
        self._failures = 0  # listings in a row that failed for good (or with a bug)
        #: Checks each row; counts the malformed ones skipped (``checker.skipped``).
        self.checker = RowChecker(key.project, self.hook)
        #: Requests sent, by kind (``list``, ``get``), for benchmarks and tests.
        self.requests: Counter[str] = Counter()
        self._task = asyncio.ensure_future(self._run())

    @property
    def interval(self) -> float:
        """The shortest poll interval of the subscribers."""
        return min(self._intervals) if self._intervals else 0.0

    # -- subscribers --------------------------------------------------------------------------

    def join(self, subscription: Subscription) -> None:
        """Add a subscriber; a shorter interval than the current one takes effect at once."""
        shorter = not self._intervals or subscription.interval < self.interval
        self.subscribers.add(subscription)
        self._intervals[subscription.interval] += 1
        if subscription.watch_all:
            self._watch_all.add(subscription)
        if shorter:
            self._wake.set()

    def leave(self, subscription: Subscription) -> None:
        """Remove a subscriber; the last one out ends the task."""
        if subscription not in self.subscribers:
            return
        for pipeline_id in list(subscription.pipeline_ids):
            self.unwatch(subscription, pipeline_id)
        self.subscribers.discard(subscription)
        self._watch_all.discard(subscription)
        self._intervals[subscription.interval] -= 1
        if not self._intervals[subscription.interval]:
            del self._intervals[subscription.interval]
        if not self.subscribers:
            self._stop()

    def watch(self, subscription: Subscription, pipeline_id: int, known_updated_at: float | None = None) -> None:
        """Route ``pipeline_id``'s updates to ``subscription``; give it the pipeline's current state.

        A subscriber that knows the state as of ``known_updated_at`` needs no read: the next
        listing reaches back to that time, so it shows any change since.
        """
        self._by_id.setdefault(pipeline_id, set()).add(subscription)
        if pipeline_id in self._latest:
            subscription.put(PipelineUpdate(self._latest[pipeline_id], current=True))
            return
        if pipeline_id not in self._last_seen:
            self._last_seen[pipeline_id] = asyncio.get_running_loop().time()
        if known_updated_at is not None and self.hook.clock.plausible(known_updated_at):
            self._handed[pipeline_id] = min(known_updated_at, self._handed.get(pipeline_id, known_updated_at))
            covered = [bound for bound in (self._covered_from, self._listing_from) if bound is not None]
            if covered and known_updated_at >= min(covered):  # listed since: what changed is at hand
                row = self._recent.get(pipeline_id)
                if row is not None and row.updated > known_updated_at:
                    subscription.put(PipelineUpdate(row.pipeline))
                if self._listing_from is None:
                    del self._handed[pipeline_id]  # (kept while a listing runs: replayed if it fails)
                return
            self._reach_back = min(known_updated_at, self._reach_back or known_updated_at)
            return
        self._unread[pipeline_id] = None
        self._wake.set()

    def unwatch(self, subscription: Subscription, pipeline_id: int) -> None:
        """Stop routing ``pipeline_id`` to ``subscription``; forget the pipeline when nobody watches it."""
        watchers = self._by_id.get(pipeline_id)
        if watchers is None:
            return
        watchers.discard(subscription)
        if not watchers:
            del self._by_id[pipeline_id]
            self._last_seen.pop(pipeline_id, None)
            self._latest.pop(pipeline_id, None)
            self._unread.pop(pipeline_id, None)

    def _stop(self) -> None:
        if self._registry.get(self.key) is self:
            del self._registry[self.key]
        self._task.cancel()

    # -- delivery -----------------------------------------------------------------------------

    def _deliver(self, pipeline_id: int, item: PollItem, *, to_watch_all: bool) -> None:
        for subscription in self._by_id.get(pipeline_id, ()):
            if not (to_watch_all and subscription.watch_all):  # it gets the copy below
                subscription.put(item)
        if to_watch_all:
            for subscription in self._watch_all:
                subscription.put(item)

    def _fail_all(self, error: DataOpsError) -> None:
        for subscription in self.subscribers:
            subscription.put(PollError(error))

    def _sighted(self, pipeline_id: int, row: Mapping[str, Any]) -> None:
        if pipeline_id in self._by_id:
            self._latest[pipeline_id] = row
            self._last_seen[pipeline_id] = asyncio.get_running_loop().time()
            self._last_seen.move_to_end(pipeline_id)

    def _take(self, page: Page, *, current: bool = False) -> None:
        """Deliver the rows not delivered before; have watched pipelines of malformed rows read alone."""
        for row in page.rows:
            kept = self._recent.get(row.pipeline_id)
            if kept is None or kept.updated <= row.updated:
                self._recent[row.pipeline_id] = row
            key = (row.pipeline_id, row.updated_at, row.status)
            if key in self._seen:
                if row.updated >= self._replay.get(row.pipeline_id, math.inf):  # news to a new subscriber
                    self._sighted(row.pipeline_id, row.pipeline)
                    self._deliver(row.pipeline_id, PipelineUpdate(row.pipeline), to_watch_all=False)
                continue
            self._seen[key] = row.updated
            self._observe_server_clock(row.updated)
            self._sighted(row.pipeline_id, row.pipeline)
            self._deliver(row.pipeline_id, PipelineUpdate(row.pipeline, current), to_watch_all=True)
        for pipeline_id in page.suspect_ids:
            if pipeline_id in self._by_id:  # its waiters learn the truth from a read of its own
                self._unread[pipeline_id] = None
                self._wake.set()

    # -- the task -----------------------------------------------------------------------------

    def _period(self) -> float:
        """Seconds from one poll to the next: the interval, doubled per failure in a row (bounded)."""
        if not self._failures:
            return self.interval
        return max(self.interval, min(MAX_FAILURE_BACKOFF, self.interval * 2.0**self._failures))

    async def _run(self) -> None:
        while True:
            try:
                await self._cycle()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a bug reaches the subscribers as an error; the poller goes on
                log.exception("The poller of project %s failed; polling again later.", self.key.project)
                self._failures += 1
                detail = truncate(f"{type(error).__name__}: {error}", self.hook.secrets)
                self._fail_all(DataOpsError(f"The shared poller failed: {detail}"))
                await self._pause(self._period())

    async def _cycle(self) -> None:
        """Read what waits for a first read, poll, then pause until the next poll."""
        loop = asyncio.get_running_loop()
        await self._read_unread()
        await asyncio.sleep(0)  # let subscribers that just got their answer leave first
        await self._poll()
        polled_at = loop.time()
        delay = self._period() * random.uniform(1 - POLL_JITTER, 1)
        while await self._pause(delay):  # woken: new pipelines to read, or a shorter interval
            await self._read_unread()
            delay = min(delay, self._period()) - (loop.time() - polled_at)
            if delay <= 0:
                break

    async def _pause(self, delay: float) -> bool:
        """Wait ``delay`` seconds, or less when woken; returns whether it was woken."""
        sleeper = asyncio.ensure_future(retry.async_sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            done, _ = await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
        return sleeper not in done

    async def _poll(self) -> None:
        """Read the listing, then re-read a few pipelines the listing has not shown for long."""
        try:
            if self._bound is None and self._reach_back is None:
                await self._bootstrap()
            else:
                await self._list_changes()
        except DataOpsError as error:
            if not is_retryable(error):
                self._failures += 1  # subscribers decide what it means; polling slows down meanwhile
                self._fail_all(error)
                return
            log.warning(
                "Listing the pipelines of project %s failed (%s); trying again next poll.", self.key.project, error
            )
        else:
            self._failures = 0
        await self._recheck_stale()

    def _observe_server_clock(self, server_time: float | None) -> None:
        """Note a lower bound of the server's clock now (a ``Date`` header, or an ``updated_at`` read)."""
        if server_time is not None:
            offset = server_time - asyncio.get_running_loop().time()
            if self._offset is None or offset > self._offset:
                self._offset = offset

    def _horizon(self, started: float, *, default: float) -> float:
        """The server's clock at loop time ``started`` less :data:`LATE_COMMIT_WINDOW`; ``default`` if later or unknown.

        Every update stamped before it was committed by ``started`` (late commits are stamped at
        most :data:`LATE_COMMIT_WINDOW` seconds early), so a listing made from ``started`` on saw it.
        """
        if self._offset is None:
            return default
        return max(default, started + self._offset - LATE_COMMIT_WINDOW)

    async def _bootstrap(self) -> None:
        """Learn the server's newest ``updated_at``; what the first page shows is ``current``, not news."""
        started = asyncio.get_running_loop().time()
        self.requests["list"] += 1
        page, _ = await read_page(self.checker, None, 1, newest_first=True)
        self._observe_server_clock(self.hook.server_time)
        self._take(page, current=True)
        # rows older than the page are current state too: waiters read theirs on their own
        self._bound = self._horizon(started, default=0.0)  # 0.0: an empty project without Date

    async def _list_changes(self) -> None:
        """Read every update after the bound, page by page; then move the bound as far as is safe.

        Updates committed late are stamped at most :data:`LATE_COMMIT_WINDOW` seconds before the server's
        clock, so after a complete listing that started at loop time ``started`` every update
        stamped before ``server clock at started - LATE_COMMIT_WINDOW`` has been read. The server's clock is
        estimated from its own answers plus time elapsed here; this machine's clock is never read.
        """
        started = asyncio.get_running_loop().time()
        reach_back, self._reach_back = self._reach_back, None
        self._replay, self._handed = self._handed, {}
        if reach_back is not None:  # (a first listing that starts from what subscribers know needs no bootstrap)
            first = (
                reach_back - PAGE_STEP_BACK if self._bound is None else min(self._bound, reach_back - PAGE_STEP_BACK)
            )
        else:
            assert self._bound is not None
            first = self._bound
        listing = ChangeListing(self.checker, first)
        self._listing_from = first
        try:
            async for page in listing.pages():
                self._observe_server_clock(self.hook.server_time)
                self._take(page)
                await asyncio.sleep(0)  # the subscribers woken by this page run before the next page
        except BaseException:
            if reach_back is not None:  # the next listing still reaches back
                self._reach_back = min(reach_back, self._reach_back or reach_back)
                self._handed = {**self._replay, **self._handed}
            raise
        finally:
            self._replay, self._listing_from = {}, None
            self.requests["list"] += listing.requests
        self._covered_from = first if self._covered_from is None else min(self._covered_from, first)
        if not listing.complete:
            self._bound = listing.bound  # resume where this listing stopped
            return
        self._bound = self._horizon(started, default=first)
        horizon = self._bound - PAGE_STEP_BACK
        self._seen = {key: updated for key, updated in self._seen.items() if updated >= horizon}
        keep_from = self._bound - HANDOVER_MEMORY
        if self._covered_from < keep_from:  # older handovers list back on their own
            self._covered_from = keep_from
            self._recent = {pid: row for pid, row in self._recent.items() if row.updated >= keep_from}

    async def _read_unread(self) -> None:
        self._wake.clear()
        while self._unread:
            batch = list(itertools.islice(self._unread, READ_BATCH))
            results = await asyncio.gather(*(self._read_one(pipeline_id) for pipeline_id in batch))
            for pipeline_id, done in zip(batch, results, strict=True):
                if done:
                    self._unread.pop(pipeline_id, None)
            if not all(results):
                return  # transient failures: again after the next poll

    async def _recheck_stale(self) -> None:
        loop = asyncio.get_running_loop()
        oldest = loop.time() - stale_after(self.interval)
        due: list[int] = []
        for pipeline_id, seen_at in self._last_seen.items():
            if seen_at > oldest or len(due) >= RECHECKS_PER_POLL:
                break
            if pipeline_id not in self._unread:
                due.append(pipeline_id)
        for pipeline_id in due:
            self._last_seen[pipeline_id] = loop.time()
            self._last_seen.move_to_end(pipeline_id)
            await self._read_one(pipeline_id)

    async def _read_one(self, pipeline_id: int) -> bool:
        """Read one watched pipeline and deliver it; False when a transient failure left it unread."""
        if pipeline_id not in self._by_id:
            return True
        self.requests["get"] += 1
        try:
            pipeline = await self.hook.get_pipeline(self.key.project, pipeline_id)
        except DataOpsError as error:
            if is_retryable(error):
                log.warning("Reading pipeline %s failed (%s); trying again next poll.", pipeline_id, error)
                return False
            self._deliver(pipeline_id, PollError(error, pipeline_id), to_watch_all=False)
            return True
        try:
            check_read(pipeline, pipeline_id, self.hook.clock)
        except MalformedRow as malformed:  # retrying cannot fix a well-formed answer of the wrong shape
            self.checker.skip(pipeline, malformed)
            failure = self.checker.malformed_error(pipeline_id, malformed)
            self._deliver(pipeline_id, PollError(failure, pipeline_id), to_watch_all=False)
            return True
        self._sighted(pipeline_id, pipeline)
        self._deliver(pipeline_id, PipelineUpdate(pipeline, current=True), to_watch_all=False)
        return True


_POLLERS: dict[asyncio.AbstractEventLoop, dict[PollerKey, ProjectPoller]] = {}


def pollers() -> dict[PollerKey, ProjectPoller]:
    """The running loop's pollers (those of closed loops are dropped)."""
    loop = asyncio.get_running_loop()
    registry = _POLLERS.get(loop)
    if registry is None:
        for closed in [other for other in _POLLERS if other.is_closed()]:
            del _POLLERS[closed]
        registry = _POLLERS[loop] = {}
    return registry


def subscribe(
    *,
    project: int | str,
    poll_interval: float,
    dataops_conn_id: str = DEFAULT_CONN_ID,
    timeout: float | None = None,
    retry_policy: RetryPolicy | Mapping[str, Any] | None = None,
    watch_all: bool = False,
) -> Subscription:
    """Subscribe to the shared poller of ``project`` on the running event loop, starting it if needed.

    Arguments are checked by the caller (the trigger's constructor); this only groups by them.

    :param project: Project id or full path (``42`` and its path get separate pollers).
    :param poll_interval: Seconds between polls this subscriber wants; the poller uses the shortest.
    :param dataops_conn_id: The connection to poll through.
    :param timeout: Read timeout overriding the connection's.
    :param retry_policy: The retry policy (or its :meth:`~RetryPolicy.to_dict` form); None for the defaults.
    :param watch_all: Also receive every pipeline update of the project read from now on.
    """
    key = PollerKey(dataops_conn_id, str(project), timeout, RetryPolicy.of(retry_policy))
    registry = pollers()
    poller = registry.get(key)
    if poller is None:
        poller = registry[key] = ProjectPoller(key, registry)
    subscription = Subscription(poller, float(poll_interval), watch_all)
    poller.join(subscription)
    return subscription
