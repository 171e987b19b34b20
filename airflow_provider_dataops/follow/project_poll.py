"""One poll per project for every trigger of a triggerer process that watches its pipelines.

Triggers that watch pipelines of the same project through the same connection (same read timeout
and retry policy) share one :class:`ProjectPoller`: one asyncio task that reads
``GET /projects/:id/pipelines?updated_after=...&order_by=updated_at&sort=asc`` (paged) at the
shortest poll interval of its subscribers and fans each changed pipeline out to them.

Subscribing::

    with subscribe(dataops_conn_id="dataops_default", project=42, poll_interval=30.0) as sub:
        sub.watch(pipeline_id)              # one pipeline (read once now, then from the listing)
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
* **Updates while paging and more than a page per interval**: pages advance by moving the
  ``updated_after`` bound to the last row read (a pipeline updated meanwhile moves behind the
  bound and is read later), falling back to the next offset page only when a whole page shares one
  second; at most :data:`MAX_PAGES_PER_POLL` pages per poll, the rest next poll.
* **The listing only shows changes**: a newly watched pipeline is read once by
  ``GET /pipelines/:id`` (or from the poller's last copy of it); one not seen for
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
import random
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from airflow_provider_dataops.api import retry
from airflow_provider_dataops.api.connection import DEFAULT_CONN_ID
from airflow_provider_dataops.api.retry import RetryPolicy, is_retryable
from airflow_provider_dataops.api.timestamps import api_epoch, format_api_time
from airflow_provider_dataops.errors import DataOpsError
from airflow_provider_dataops.hooks.dataops_async import DataOpsAsyncHook

log = logging.getLogger(__name__)

#: Seconds each listing reaches back behind the newest ``updated_at`` seen, for updates the server
#: committed late (a transaction that set ``updated_at`` before a later one became visible).
LATE_COMMIT_WINDOW = 30.0
#: Rows per page (GitLab's maximum).
PER_PAGE = 100
#: Pages one poll reads at most (20,000 changes); the rest waits for the next poll.
MAX_PAGES_PER_POLL = 200
#: When moving the bound to the last row of a full page, step back this much: GitLab's
#: ``updated_after`` is exclusive and shows milliseconds, so rows sharing the last row's millisecond
#: on the next page are still read.
PAGE_STEP_BACK = 0.001
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


def _shape_error(what: str) -> DataOpsError:
    """A well-formed JSON answer of the wrong shape: retrying cannot fix it, so it is delivered."""
    return DataOpsError(f"The API answered {what}; this provider cannot follow that server's pipelines.")


def _row_key(row: Any) -> tuple[int, str, str, float]:
    """``(id, updated_at, status, updated epoch)`` of a listing row."""
    try:
        return int(row["id"]), str(row["updated_at"]), str(row["status"]), api_epoch(row["updated_at"])
    except (TypeError, KeyError, ValueError) as error:
        raise _shape_error(
            f"a pipeline listing row without a valid id, status or updated_at ({type(error).__name__})"
        ) from None


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

    def watch(self, pipeline_id: int) -> None:
        """Receive this pipeline's updates; it is read once soon, since the listing shows changes only."""
        if not self.closed and pipeline_id not in self.pipeline_ids:
            self.pipeline_ids.add(pipeline_id)
            self._poller.watch(self, pipeline_id)

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
        self._offset: float | None = None  # lower bound of the server's clock minus the loop's
        self._seen: dict[tuple[int, str, str], float] = {}
        self._wake = asyncio.Event()
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

    def watch(self, subscription: Subscription, pipeline_id: int) -> None:
        """Route ``pipeline_id``'s updates to ``subscription``; give it the pipeline's current state."""
        self._by_id.setdefault(pipeline_id, set()).add(subscription)
        if pipeline_id in self._latest:
            subscription.put(PipelineUpdate(self._latest[pipeline_id], current=True))
            return
        if pipeline_id not in self._last_seen:
            self._last_seen[pipeline_id] = asyncio.get_running_loop().time()
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

    def _take(self, rows: Iterable[Any], *, current: bool = False) -> None:
        """Deliver the rows not delivered before; advance the cursor."""
        for row in rows:
            pipeline_id, updated_at, status, updated = _row_key(row)
            key = (pipeline_id, updated_at, status)
            if key in self._seen:
                continue
            self._seen[key] = updated
            self._observe_server_clock(updated)
            self._sighted(pipeline_id, row)
            self._deliver(pipeline_id, PipelineUpdate(row, current), to_watch_all=True)

    # -- the task -----------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._read_unread()
                await asyncio.sleep(0)  # let subscribers that just got their answer leave first
                await self._poll()
                polled_at = loop.time()
                delay = self.interval * random.uniform(1 - POLL_JITTER, 1)
                while await self._pause(delay):  # woken: new pipelines to read, or a shorter interval
                    await self._read_unread()
                    delay = min(delay, self.interval) - (loop.time() - polled_at)
                    if delay <= 0:
                        break
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a bug must reach the triggers as an event, not hang them
            log.exception("The poller of project %s failed.", self.key.project)
            self._fail_all(DataOpsError(f"The shared poller failed: {type(error).__name__}: {error}"))
            if self._registry.get(self.key) is self:
                del self._registry[self.key]

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
            if self._bound is None:
                await self._bootstrap()
            else:
                await self._list_changes()
        except DataOpsError as error:
            if not is_retryable(error):
                self._fail_all(error)
                return
            log.warning(
                "Listing the pipelines of project %s failed (%s); trying again next poll.", self.key.project, error
            )
        await self._recheck_stale()

    async def _list(self, updated_after: float | None, page: int, *, newest_first: bool = False) -> list[Any]:
        self.requests["list"] += 1
        bound = None if updated_after is None else format_api_time(updated_after)
        rows = await self.hook.updated_pipelines(
            self.key.project, bound, page=page, per_page=PER_PAGE, newest_first=newest_first
        )
        self._observe_server_clock(self.hook.server_time)
        return rows

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
        rows = await self._list(None, 1, newest_first=True)
        self._take(rows, current=True)
        # rows older than the page are current state too: waiters read theirs on their own
        self._bound = self._horizon(started, default=0.0)  # 0.0: an empty project without Date

    async def _list_changes(self) -> None:
        """Read every update after the bound, page by page; then move the bound as far as is safe.

        Updates committed late are stamped at most :data:`LATE_COMMIT_WINDOW` seconds before the server's
        clock, so after a complete listing that started at loop time ``started`` every update
        stamped before ``server clock at started - LATE_COMMIT_WINDOW`` has been read. The server's clock is
        estimated from its own answers plus time elapsed here; this machine's clock is never read.
        """
        assert self._bound is not None
        started = asyncio.get_running_loop().time()
        first = bound = self._bound
        page = 1
        for _ in range(MAX_PAGES_PER_POLL):
            rows = await self._list(bound, page)
            self._take(rows)
            await asyncio.sleep(0)  # the subscribers woken by this page run before the next page
            if len(rows) < PER_PAGE:
                break
            step = _row_key(rows[-1])[3] - PAGE_STEP_BACK
            if step > bound:
                bound, page = step, 1
            else:
                page += 1
        else:
            log.warning(
                "Project %s changed more than %d pages in one poll; reading on next poll.",
                self.key.project,
                MAX_PAGES_PER_POLL,
            )
            self._bound = bound  # resume where this listing stopped
            return
        self._bound = self._horizon(started, default=first)
        horizon = self._bound - PAGE_STEP_BACK
        self._seen = {key: updated for key, updated in self._seen.items() if updated >= horizon}

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
            if not isinstance(pipeline, Mapping) or "status" not in pipeline:
                raise _shape_error(f"pipeline {pipeline_id} without a status")
        except DataOpsError as error:
            if is_retryable(error):
                log.warning("Reading pipeline %s failed (%s); trying again next poll.", pipeline_id, error)
                return False
            self._deliver(pipeline_id, PollError(error, pipeline_id), to_watch_all=False)
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
