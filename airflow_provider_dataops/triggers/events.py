"""DataOpsPipelineEventTrigger: an ``AssetWatcher`` trigger that fires when pipelines finish.

Whoever starts a pipeline (a schedule, a push, the UI, another tool, this provider), the trigger
yields one event when it reaches one of the watched statuses, and keeps watching. What it has
reported lives in the watched asset's state store (Airflow 3.3), saved only once Airflow confirmed
the events stored (the triggerer's shared-stream ack mode, :class:`PipelineEventProducer`), so a
triggerer stop, crash or DAG re-parse skips no pipeline. See ``docs/events.rst`` for the
guarantees and limits (a duplicate if a stop falls between the store and its confirmation).

Airflow 2 has no ``AssetWatcher``: the class exists there (importing the provider must work) but
refuses to be built.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

from airflow.triggers.base import TriggerEvent

from airflow_provider_dataops.api import retry
from airflow_provider_dataops.api.connection import DEFAULT_CONN_ID
from airflow_provider_dataops.api.limits import MAX_POLL_INTERVAL, check_seconds
from airflow_provider_dataops.api.paths import check_ref, pipeline_path, resource_id
from airflow_provider_dataops.api.redaction import redact_value
from airflow_provider_dataops.api.statuses import PipelineStatus
from airflow_provider_dataops.api.timestamps import format_api_time
from airflow_provider_dataops.api.variables import PIPELINE_FILE_VARIABLE, check_pipeline_file
from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsError, truncate
from airflow_provider_dataops.follow.backoff import ErrorBackoff
from airflow_provider_dataops.follow.event_watch import WatchState
from airflow_provider_dataops.follow.listing import ChangeListing, MalformedRow, RowChecker, check_read
from airflow_provider_dataops.follow.project_poll import PipelineUpdate, PollError, Subscription, subscribe
from airflow_provider_dataops.hooks.dataops_async import DataOpsAsyncHook
from airflow_provider_dataops.triggers.state_store import StateStore, StoreNotLentError, lend, lent

try:  # Airflow 3.0+
    from airflow.triggers.base import BaseEventTrigger as _EventTriggerBase

    HAS_EVENT_TRIGGERS = True
except ImportError:  # Airflow 2: no event-driven scheduling
    from airflow.triggers.base import BaseTrigger as _EventTriggerBase  # type: ignore[assignment]

    HAS_EVENT_TRIGGERS = False

try:  # Airflow 3.3+: shared streams with persistence-gated advance ("ack mode")
    from airflow.triggers.shared_stream import AdvanceItem, SharedStreamProducer
except ImportError:  # older: the triggerer never asks for a producer; run() watches
    AdvanceItem = Any  # type: ignore[misc,assignment]
    SharedStreamProducer = object  # type: ignore[misc,assignment]

#: Seconds between two looks for the store a subscribing trigger lends the ack-mode producer (it
#: comes within moments of the producer's start; a whole poll interval delayed every restart).
LENDER_WAIT = 0.25
#: Prefix of the asset state store key; the rest identifies what is watched.
STATE_KEY_PREFIX = "dataops_pipeline_events"
#: Pipeline fields copied into each event, as the API gives them (all JSON-safe).
EVENT_FIELDS = (
    "id",
    "iid",
    "project_id",
    "status",
    "source",
    "ref",
    "sha",
    "web_url",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "duration",
)


def utcnow() -> datetime:
    """The triggerer's clock (a function so tests can move it)."""
    return datetime.now(timezone.utc)


async def pause_after_error(seconds: float) -> None:
    """The wait before reading again after an error (a function so tests can drive it)."""
    await retry.async_sleep(seconds)


def check_statuses(statuses: Any) -> list[str]:
    """Pipeline statuses to watch: a non-empty list of GitLab statuses, returned sorted and unique.

    :raises DataOpsConfigError: for a bare string, an empty list or an unknown status.
    """
    known = sorted(status.value for status in PipelineStatus)
    expected = f"a non-empty list of pipeline statuses from {known}"
    if isinstance(statuses, str) or not isinstance(statuses, Iterable):
        raise DataOpsConfigError(f"statuses must be {expected}, got {statuses!r}")
    values = list(statuses)
    unknown = [value for value in values if value not in known]
    if not values or unknown:
        raise DataOpsConfigError(f"statuses must be {expected}, got {statuses!r}")
    return sorted(set(values))


class Report(NamedTuple):
    """One step of a watch: a pipeline to report, and the state to save once it is safely delivered.

    ``payload`` is None for a step that only moves the watermark.
    """

    payload: dict[str, Any] | None
    state: WatchState


@dataclass
class Watch:
    """Where a running watch stands.

    :ivar state: What has been decided so far (ahead of what is saved in ack mode).
    :ivar behind: The next read lists the window since the watermark rather than the shared poll.
    :ivar epoch: Counts rewinds; reports of an earlier epoch are superseded.
    """

    state: WatchState
    behind: bool = True
    epoch: int = 0

    def rewind(self, state: WatchState) -> None:
        """Go back to ``state`` (the last one saved): what came after is decided and reported again."""
        self.state, self.behind, self.epoch = state, True, self.epoch + 1


class DataOpsPipelineEventTrigger(_EventTriggerBase):
    """Fire once for every pipeline of a project that reaches one of ``statuses``; for ``AssetWatcher``.

    Each event's payload is the pipeline (``id``, ``iid``, ``project_id``, ``status``, ``source``,
    ``ref``, ``sha``, ``web_url``, ``created_at``, ``updated_at``, ``started_at``, ``finished_at``,
    ``duration``) plus ``project`` as given here and ``pipeline_file`` when filtered on. Pipelines
    that got there before the watcher first started are not reported.

    :param project: Project id or full path.
    :param ref: Only pipelines on this branch or tag; None for every ref.
    :param statuses: Statuses that fire an event (default ``["success"]``).
    :param pipeline_file: Only pipelines whose ``_PIPELINE_FILE_NAME`` variable is this file. Costs one
        ``GET .../pipelines/:id/variables`` per pipeline reaching a watched status; pipelines started
        without the variable (the project's default file) never match.
    :param dataops_conn_id: A ``dataops`` connection with an access token.
    :param poll_interval: Seconds between two reads of the pipeline list; the project's shared poller
        reads at the shortest interval of its subscribers.
    :raises DataOpsConfigError: for a bad argument, or on Airflow 2 (no ``AssetWatcher``).
    """

    def __init__(
        self,
        *,
        project: int | str,
        ref: str | None = None,
        statuses: Sequence[str] = ("success",),
        pipeline_file: str | None = None,
        dataops_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 60.0,
    ) -> None:
        if not HAS_EVENT_TRIGGERS:
            raise DataOpsConfigError("DataOpsPipelineEventTrigger needs Airflow 3 (AssetWatcher); this is Airflow 2")
        super().__init__()
        resource_id(project, "project")
        self.project = project
        self.ref = None if ref is None else check_ref(ref)
        self.statuses = check_statuses(statuses)
        self.pipeline_file = None if pipeline_file is None else check_pipeline_file(pipeline_file)
        if not isinstance(dataops_conn_id, str) or not dataops_conn_id.strip():
            raise DataOpsConfigError(f"dataops_conn_id must be a connection id, got {dataops_conn_id!r}")
        self.dataops_conn_id = dataops_conn_id
        self.poll_interval = check_seconds(poll_interval, "poll_interval", maximum=MAX_POLL_INTERVAL)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and JSON-safe keyword arguments (``statuses`` sorted, so order does not matter)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "project": self.project,
                "ref": self.ref,
                "statuses": list(self.statuses),
                "pipeline_file": self.pipeline_file,
                "dataops_conn_id": self.dataops_conn_id,
                "poll_interval": self.poll_interval,
            },
        )

    @property
    def state_key(self) -> str:
        """Key of this watcher's state in the asset's state store.

        Made of what decides which pipelines are reported, not of ``poll_interval``: a re-parse that
        only changes the interval continues where the old trigger stopped; one that changes what
        is watched is a new watcher.
        """
        identity = [self.dataops_conn_id, str(self.project), self.ref, self.statuses, self.pipeline_file]
        digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]
        return f"{STATE_KEY_PREFIX}.{digest}"

    def shared_stream_key(self) -> Hashable | None:
        """The state key when the triggerer gave this trigger a state store (ack mode), else None.

        Airflow 3.3 then runs the watch once per key in a
        :class:`~airflow_provider_dataops.triggers.events.PipelineEventProducer`, and saves what was
        reported only once Airflow confirmed the events stored. Without a store, :meth:`run`
        watches on its own (state in memory).
        """
        return self.state_key if getattr(self, "asset_state_store", None) is not None else None

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> PipelineEventProducer:
        """The ack-mode producer of the watch these arguments describe (Airflow 3.3)."""
        return PipelineEventProducer(cls(**kwargs))

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """One event per reported pipeline of the shared stream; progress-only items yield nothing.

        While it follows the stream the trigger lends its state store to the producer, which saves
        there what Airflow confirmed stored.
        """
        with lend(self.state_key, self.asset_state_store):
            async for payload in shared_stream:
                if payload is not None:
                    yield TriggerEvent(payload)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Watch for ever on its own: yield one event per pipeline reaching a watched status.

        The path without ack mode (no state store, or a direct call): the state is saved right after
        each event is handed to the triggerer, which may not have stored it yet.
        """
        started = utcnow()  # before the first read of the state store, which can take seconds
        store = StateStore.of(getattr(self, "asset_state_store", None), self.state_key, self.log)
        watch = Watch(await self._load(store, started))
        async for report in self.follow(watch):
            if report.payload is not None:
                yield TriggerEvent(report.payload)
            await store.save(report.state)

    async def follow(self, watch: Watch) -> AsyncIterator[Report]:
        """Report, for ever, what the decisions on the watched pipelines produce, starting at ``watch``.

        Pipeline updates come from the process's shared poller of the project
        (:mod:`~airflow_provider_dataops.follow.project_poll`), which shows what changes from the
        moment of subscribing. What changed before, since the watermark, the trigger lists itself at
        the start, after any error and after a :meth:`Watch.rewind`, so nothing falls between them.
        """
        hook = DataOpsAsyncHook(self.dataops_conn_id)
        checker = RowChecker(self.project, hook)
        backoff = ErrorBackoff(self.poll_interval)
        with subscribe(
            project=self.project, poll_interval=self.poll_interval, dataops_conn_id=self.dataops_conn_id, watch_all=True
        ) as feed:
            while True:
                try:
                    if watch.behind:
                        watch.behind = False
                        async for report in self._catch_up(hook, checker, watch):
                            yield report
                    else:
                        async for report in self._take(hook, checker, watch, await self._updates(feed)):
                            yield report
                    backoff.succeeded()
                except Exception as error:  # no answer may end a watch: malformed rows were skipped already
                    # It lists the window since its watermark again, after a longer wait each time.
                    watch.behind = True
                    text = str(error) if isinstance(error, DataOpsError) else f"{type(error).__name__}: {error}"
                    what = f"Reading pipelines of {self.project}"
                    await pause_after_error(backoff.failed(self.log, what, error, truncate(text, hook.secrets)))

    async def _load(self, store: StateStore, started: datetime) -> WatchState:
        """The saved state, or a first start saved at once; waits while the store cannot be read.

        Subscribing only after this keeps the shared poller from queueing updates for a watcher
        that cannot take them yet.
        """
        lender_waits = 0
        while True:
            try:
                state = await store.load()
                break
            except StoreNotLentError:
                # ack mode: the producer starts a moment before the trigger that lends it the store
                if lender_waits * LENDER_WAIT < self.poll_interval:
                    lender_waits += 1
                    await pause_after_error(LENDER_WAIT)
                    continue
                self.log.warning("No asset state store lent yet; trying again in %g s.", self.poll_interval)
                await pause_after_error(self.poll_interval)
            except DataOpsError as error:
                self.log.warning("%s; trying again in %g s.", error, self.poll_interval)
                await pause_after_error(self.poll_interval)
        if state is None:  # a first start: remember it at once, or a restart would move it
            state = WatchState.fresh(started)
            await store.save(state)
        self.log.info("Watching pipelines of %s updated after %s.", self.project, format_api_time(state.since))
        return state

    async def _updates(self, feed: Subscription) -> list[dict[str, Any]]:
        """What the shared poller delivered: waits up to ``poll_interval`` for the first, then drains.

        :raises DataOpsError: what the shared poll could not read; the watch then catches up on its own.
        """
        items = [await feed.get(timeout=self.poll_interval)]
        while feed.items:
            items.append(feed.items.popleft())
        for item in items:
            if isinstance(item, PollError):
                raise item.error
        return [dict(item.pipeline) for item in items if isinstance(item, PipelineUpdate)]

    async def _catch_up(self, hook: DataOpsAsyncHook, checker: RowChecker, watch: Watch) -> AsyncIterator[Report]:
        """Report what changed since the watermark, page by page (memory: one page of rows)."""
        epoch = watch.epoch
        listing = ChangeListing(checker, watch.state.since.timestamp())
        async for page in listing.pages():
            async for report in self._take(hook, checker, watch, [dict(row.pipeline) for row in page.rows]):
                yield report
            if watch.epoch != epoch:
                return  # rewound: the rewound watch lists again
        if not listing.complete:
            watch.behind = True  # more than a listing's pages: go on from the new watermark

    async def _take(
        self, hook: DataOpsAsyncHook, checker: RowChecker, watch: Watch, rows: list[dict[str, Any]]
    ) -> AsyncIterator[Report]:
        """Report the new pipelines among ``rows`` (checked listing rows, oldest update first), then the progress.

        Stops early when the watch is rewound meanwhile: the rewound state lists these rows again.
        A pipeline whose own read is malformed is skipped (with the checker's warning) and decided,
        so it is not read again until it changes.
        """
        state, epoch = watch.state, watch.epoch
        since = state.since
        secrets = (await hook.get_settings()).secrets  # read already by the listing: no request
        for row in rows:
            if row.get("status") not in self.statuses or (self.ref is not None and row.get("ref") != self.ref):
                continue
            if state.is_decided(row):
                continue
            pipeline = await hook.get_pipeline(self.project, row["id"])  # the list has no finished_at
            if watch.epoch != epoch:
                return
            try:
                check_read(pipeline, row["id"], hook.clock)
            except MalformedRow as malformed:
                checker.skip(pipeline, malformed)
                state.decide(row)
                continue
            if pipeline.get("status") not in self.statuses or not state.is_new(pipeline, since):
                state.decide(pipeline)
                continue
            matches = await self._file_matches(hook, pipeline)
            if watch.epoch != epoch:
                return
            state.decide(pipeline)
            if matches:
                yield Report(self._payload(pipeline, secrets), state.snapshot())
                if watch.epoch != epoch:
                    return
        if state.advance(rows):
            yield Report(None, state.snapshot())

    async def _file_matches(self, hook: DataOpsAsyncHook, pipeline: dict[str, Any]) -> bool:
        if self.pipeline_file is None:
            return True
        variables = await hook.request_json("GET", pipeline_path(self.project, pipeline["id"], "variables"))
        file_names = [
            item.get("value")
            for item in variables or []
            if isinstance(item, dict) and item.get("key") == PIPELINE_FILE_VARIABLE
        ]
        return self.pipeline_file in file_names

    def _payload(self, pipeline: dict[str, Any], secrets: tuple[str, ...]) -> dict[str, Any]:
        """The event (the asset event's extra): JSON values only, the connection's secrets redacted."""
        payload = {name: pipeline.get(name) for name in EVENT_FIELDS}
        payload["project"] = self.project
        if self.pipeline_file is not None:
            payload["pipeline_file"] = self.pipeline_file
        # Only JSON values reach the asset event, whatever the server sent.
        return dict(redact_value(json.loads(json.dumps(payload, default=str)), secrets))


class PipelineEventProducer(SharedStreamProducer):
    """The ack-mode side of one watch (Airflow 3.3), shared by the triggers with the same state key.

    The triggerer hands each reported pipeline to the subscribing triggers, waits until every
    event they made of it is confirmed stored in its database, then calls :meth:`advance` in
    order; only there is the state saved. A report Airflow could not confirm (the ack timeout)
    rewinds the watch to the last saved state, so the pipeline is reported again.
    """

    def __init__(self, trigger: DataOpsPipelineEventTrigger) -> None:
        self.trigger = trigger
        self.store = StateStore(lambda: lent(trigger.state_key), trigger.state_key, trigger.log, required=True)
        self.watch: Watch | None = None
        self.saved: WatchState | None = None

    async def open_stream(self) -> AsyncIterator[tuple[Any, Any]]:
        """Load the saved state, catch up from its watermark, then follow the shared poll, for ever.

        Yields ``(payload or None, (epoch, state to save))``; None items only carry progress.
        """
        started = utcnow()
        state = await self.trigger._load(self.store, started)
        self.saved, self.watch = state.snapshot(), Watch(state)
        async for report in self.trigger.follow(self.watch):
            yield report.payload, (self.watch.epoch, report.state)

    async def advance(self, batch: Sequence[AdvanceItem]) -> None:
        """Save the state of the last report of ``batch`` confirmed stored; rewind at one that was not."""
        if self.watch is None or self.saved is None:
            return
        confirmed: WatchState | None = None
        for item in batch:
            epoch, state = item.broker_payload
            if epoch != self.watch.epoch:
                continue  # reported before a rewind: the rewound watch decides it again
            if item.outcome.is_clean:
                confirmed = state
            else:
                self.trigger.log.warning(
                    "An event of the watch of %s was not confirmed stored (%s); reporting again from the "
                    "last saved state.",
                    self.trigger.project,
                    item.outcome,
                )
                self.watch.rewind((confirmed or self.saved).snapshot())
        if confirmed is not None:
            await self.store.save(confirmed)
            self.saved = confirmed
