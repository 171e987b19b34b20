"""DataOpsPipelineEventTrigger: an ``AssetWatcher`` trigger that fires when pipelines finish.

Whoever starts a pipeline (a schedule, a push, the UI, another tool, this provider), the trigger
yields one event when it reaches one of the watched statuses, and keeps watching. What it has
reported lives in the watched asset's state store (Airflow 3.3), so a triggerer restart or a DAG
re-parse neither replays nor skips a pipeline. See ``docs/events.rst`` for the guarantees and limits.

Airflow 2 has no ``AssetWatcher``: the class exists there (importing the provider must work) but
refuses to be built.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_dataops import retry
from airflow_provider_dataops.api_time import format_api_time, parse_api_time
from airflow_provider_dataops.connection_form import DEFAULT_CONN_ID
from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsError
from airflow_provider_dataops.hooks.dataops_async import DataOpsAsyncHook
from airflow_provider_dataops.limits import MAX_POLL_INTERVAL, check_seconds
from airflow_provider_dataops.paths import check_ref, pipeline_path, resource_id
from airflow_provider_dataops.retry import is_retryable
from airflow_provider_dataops.status import PipelineStatus
from airflow_provider_dataops.triggers._event_watch import WatchState
from airflow_provider_dataops.triggers._state_store import StateStore
from airflow_provider_dataops.triggers.project_poll import PipelineUpdate, PollError, Subscription, subscribe
from airflow_provider_dataops.variables import PIPELINE_FILE_VARIABLE, check_pipeline_file

try:  # Airflow 3.0+
    from airflow.triggers.base import BaseEventTrigger as _EventTriggerBase

    HAS_EVENT_TRIGGERS = True
except ImportError:  # Airflow 2: no event-driven scheduling
    from airflow.triggers.base import BaseTrigger as _EventTriggerBase  # type: ignore[assignment]

    HAS_EVENT_TRIGGERS = False

#: Listing page size (GitLab's maximum).
PER_PAGE = 100
#: Pages one catch-up reads at most; the watermark then stands at the last row read.
MAX_PAGES = 1000
#: How far a full page's bound steps back from its last row (timestamps have milliseconds).
PAGE_STEP_BACK = timedelta(milliseconds=1)
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


async def changed_pipelines(hook: DataOpsAsyncHook, project: int | str, since: datetime) -> list[dict[str, Any]]:
    """Pipelines of ``project`` updated at or after ``since``, oldest update first (every page).

    A full page moves the ``updated_after`` bound to its last row rather than to the next offset,
    as the shared poller does: a pipeline updated while paging then cannot shift another one out of
    sight. Rows may repeat; the watcher's state makes that harmless.
    """
    rows: list[dict[str, Any]] = []
    bound, page = since, 1
    for _ in range(MAX_PAGES):
        listing = await hook.updated_pipelines(project, format_api_time(bound), page=page, per_page=PER_PAGE)
        rows.extend(row for row in listing if isinstance(row, dict) and "id" in row)
        if len(listing) < PER_PAGE:
            break
        last = parse_api_time(listing[-1].get("updated_at") if isinstance(listing[-1], dict) else None)
        if last is not None and last - PAGE_STEP_BACK > bound:
            bound, page = last - PAGE_STEP_BACK, 1
        else:  # a whole page updated within one step: the next offset page
            page += 1
    return rows


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

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Watch for ever: yield one event per pipeline reaching a watched status, saving state after each.

        Pipeline updates come from the process's shared poller of the project
        (:mod:`~airflow_provider_dataops.triggers.project_poll`), which shows what changes from the
        moment of subscribing. What changed before, since the saved watermark, the trigger lists
        itself once at the start, and again after any error, so nothing falls between the two.
        """
        started = utcnow()  # before the first read of the state store, which can take seconds
        hook = DataOpsAsyncHook(self.dataops_conn_id)
        store = StateStore(getattr(self, "asset_state_store", None), self.state_key, self.log)
        state = await self._load(store, started)
        behind = True
        with subscribe(
            project=self.project, poll_interval=self.poll_interval, dataops_conn_id=self.dataops_conn_id, watch_all=True
        ) as feed:
            while True:
                try:
                    if behind:
                        rows = await changed_pipelines(hook, self.project, state.since)
                        behind = False
                    else:
                        rows = await self._updates(feed)
                    async for event in self._take(hook, state, store, rows):
                        yield event
                except DataOpsError as error:
                    # A watcher never gives up; it lists the window since its watermark again.
                    behind = True
                    level = self.log.warning if is_retryable(error) else self.log.error
                    level("Reading pipelines of %s failed (%s); trying again next poll.", self.project, error)
                    await pause_after_error(self.poll_interval)

    async def _load(self, store: StateStore, started: datetime) -> WatchState:
        """The saved state, or a first start saved at once; waits while the store cannot be read.

        Subscribing only after this keeps the shared poller from queueing updates for a watcher
        that cannot take them yet.
        """
        while True:
            try:
                state = await store.load()
                break
            except DataOpsError as error:
                self.log.warning("%s; trying again in %g s.", error, self.poll_interval)
                await pause_after_error(self.poll_interval)
        if state is None:  # a first start: remember it at once, or a restart would move it
            state = WatchState.fresh(started)
            await store.save(state)
        self.log.info("Watching pipelines of %s updated after %s.", self.project, format_api_time(state.since))
        return state

    async def _updates(self, feed: Subscription) -> list[dict[str, Any]]:
        """What the shared poller delivered: waits up to ``poll_interval`` for the first, then drains."""
        items = [await feed.get(timeout=self.poll_interval)]
        while feed.items:
            items.append(feed.items.popleft())
        for item in items:
            if isinstance(item, PollError):  # the poller reads the same window again next poll
                self.log.error("The shared poll of %s failed: %s", self.project, item.error)
        return [dict(item.pipeline) for item in items if isinstance(item, PipelineUpdate)]

    async def _take(
        self, hook: DataOpsAsyncHook, state: WatchState, store: StateStore, rows: list[dict[str, Any]]
    ) -> AsyncIterator[TriggerEvent]:
        """Report the new pipelines among ``rows`` (listing rows, oldest update first), then move on."""
        since = state.since
        for row in rows:
            if row.get("status") not in self.statuses or (self.ref is not None and row.get("ref") != self.ref):
                continue
            if state.is_decided(row):
                continue
            pipeline = await hook.get_pipeline(self.project, row["id"])  # the list has no finished_at
            if pipeline.get("status") not in self.statuses or not state.is_new(pipeline, since):
                state.decide(pipeline)
                continue
            if await self._file_matches(hook, pipeline):
                yield TriggerEvent(self._payload(pipeline))
            state.decide(pipeline)
            await store.save(state)  # after each event, so a restart does not report it again
        if state.advance(rows):
            await store.save(state)

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

    def _payload(self, pipeline: dict[str, Any]) -> dict[str, Any]:
        payload = {name: pipeline.get(name) for name in EVENT_FIELDS}
        payload["project"] = self.project
        if self.pipeline_file is not None:
            payload["pipeline_file"] = self.pipeline_file
        # Only JSON values reach the asset event, whatever the server sent.
        return json.loads(json.dumps(payload, default=str))
