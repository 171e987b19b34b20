"""List what changed in a project since a bound: the one listing the shared poller and the event trigger use.

``GET /projects/:id/pipelines?updated_after=...&order_by=updated_at&sort=asc``, page by page, with
every rule about trusting the answer in one place:

* **Each row on its own**: a row whose ``id`` is not a positive integer, whose ``status`` is not a
  string or whose ``updated_at`` is not a plausible timestamp
  (:class:`~airflow_provider_dataops.api.timestamps.ServerClock`) is skipped with one WARNING
  naming the project, the field and the row (redacted), and counted; the other rows of the page
  are used. A skipped row with a readable id is reported to the caller (a waiter on that
  pipeline reads it on its own).
* **Pages**: each is cut to ``per_page`` and a repeated one ends the listing with an error
  (:class:`~airflow_provider_dataops.api.pages.PageGuard`), except in a millisecond dense enough
  to need offset pages: a server ignoring ``page`` cannot show more of it, so the listing goes on
  after it with a warning. At most ``max_pages`` pages per listing.
* **Moving the bound**: a full page moves the ``updated_after`` bound to its last valid row less
  :data:`PAGE_STEP_BACK` (a pipeline updated while paging moves behind the bound and is read
  later), falling back to the next offset page when a whole page shares one millisecond (moving
  the bound would read the same page again).
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_dataops.api.pages import PageGuard, PageRepeatError
from airflow_provider_dataops.api.paths import api_path, resource_id
from airflow_provider_dataops.api.timestamps import ServerClock, format_api_time
from airflow_provider_dataops.errors import DataOpsMalformedResponseError, truncate
from airflow_provider_dataops.hooks.dataops_async import DataOpsAsyncHook

log = logging.getLogger(__name__)

#: Rows per page (GitLab's maximum).
LISTING_PER_PAGE = 100
#: Pages one listing reads at most (20,000 changes); a caller continues from :attr:`ChangeListing.bound`.
MAX_PAGES_PER_LISTING = 200
#: When moving the bound to the last row of a full page, step back this much: GitLab's
#: ``updated_after`` is exclusive and shows milliseconds, so rows sharing the last row's millisecond
#: on the next page are still read.
PAGE_STEP_BACK = 0.001
#: Largest id accepted (PostgreSQL's bigint); anything larger is not an id GitLab made.
MAX_ID = 2**63 - 1
#: Malformed rows remembered so each is warned about once.
WARNED_ROWS = 1000
#: Characters of a malformed row shown in its warning.
ROW_TEXT_CHARS = 300


class MalformedRow(ValueError):
    """A listing row or pipeline that cannot be trusted.

    :param field: The first field that failed (``row`` when it is not an object at all).
    :param reason: What was wrong with it.
    :param pipeline_id: The row's id when that much was readable, else None.
    """

    def __init__(self, field: str, reason: str, pipeline_id: int | None = None) -> None:
        super().__init__(f"{field} {reason}")
        self.field = field
        self.reason = reason
        self.pipeline_id = pipeline_id


def pipeline_id_of(value: Any) -> int:
    """A pipeline id as the API writes it: a positive integer (not a bool, float or string).

    :raises MalformedRow: naming the field ``id``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise MalformedRow("id", f"is not a positive integer: {type(value).__name__}")
    return value


@dataclass(frozen=True)
class PipelineRow:
    """A listing row (or single read) that passed the checks.

    :ivar pipeline_id: Its id.
    :ivar status: Its status.
    :ivar updated_at: ``updated_at`` as the server wrote it (part of the row's identity).
    :ivar updated: ``updated_at`` in epoch seconds, plausible.
    :ivar pipeline: The row itself.
    """

    pipeline_id: int
    status: str
    updated_at: str
    updated: float
    pipeline: Mapping[str, Any] = field(repr=False)


def check_pipeline(pipeline: Any, clock: ServerClock) -> PipelineRow:
    """The checked form of a pipeline from a listing or a ``GET``.

    ``finished_at``, when present and set, must be a plausible timestamp too (the event trigger
    saves it).

    :raises MalformedRow: naming the first field that failed.
    """
    if not isinstance(pipeline, Mapping):
        raise MalformedRow("row", f"is not an object: {type(pipeline).__name__}")
    pipeline_id = pipeline_id_of(pipeline.get("id"))
    try:
        status = pipeline.get("status")
        if not isinstance(status, str) or not status:
            raise MalformedRow("status", f"is not a status: {type(status).__name__}")
        updated_at = pipeline.get("updated_at")
        try:
            updated = clock.read(updated_at)
        except ValueError as error:
            raise MalformedRow("updated_at", f"is {error}") from None
        finished_at = pipeline.get("finished_at")
        if finished_at is not None:
            try:
                clock.read(finished_at)
            except ValueError as error:
                raise MalformedRow("finished_at", f"is {error}") from None
    except MalformedRow as error:
        error.pipeline_id = pipeline_id
        raise
    return PipelineRow(pipeline_id, status, str(updated_at), updated, pipeline)


def check_read(pipeline: Any, pipeline_id: int, clock: ServerClock) -> Mapping[str, Any]:
    """A pipeline read on its own (``GET``): the one asked for, with a status and plausible times.

    Unlike a listing row it may lack ``updated_at`` (no bound is taken from it).

    :raises MalformedRow: naming the first field that failed.
    """
    if not isinstance(pipeline, Mapping):
        raise MalformedRow("row", f"is not an object: {type(pipeline).__name__}", pipeline_id)
    stamped = pipeline if pipeline.get("updated_at") is not None else {**pipeline, "updated_at": format_api_time(0.0)}
    if check_pipeline(stamped, clock).pipeline_id != pipeline_id:
        raise MalformedRow("id", "is not the id asked for", pipeline_id)
    return pipeline


#: Malformed rows warned about, per project, in the whole process: the poller and the event
#: triggers of a project list the same rows, and one warning per row is enough.
_WARNED: OrderedDict[tuple[str, str], None] = OrderedDict()


class RowChecker:
    """Checks rows for one watcher of one project, warns once per malformed row, and counts them.

    :param project: The project (for messages).
    :param hook: The hook the rows came through: its clock judges times, its secrets are redacted.
    """

    def __init__(self, project: int | str, hook: DataOpsAsyncHook) -> None:
        self.project = project
        self.hook = hook
        #: Malformed rows skipped so far.
        self.skipped = 0

    def check(self, row: Any) -> PipelineRow | MalformedRow:
        """The checked row, or (after the warning) what was wrong with it."""
        try:
            return check_pipeline(row, self.hook.clock)
        except MalformedRow as error:
            self.skip(row, error)
            return error

    def skip(self, row: Any, error: MalformedRow) -> None:
        """Count a malformed row; warn about it unless it was warned about recently."""
        self.skipped += 1
        text = truncate(_row_text(row), self.hook.secrets, ROW_TEXT_CHARS)
        key = (str(self.project), text)
        if key in _WARNED:
            _WARNED.move_to_end(key)
            return
        _WARNED[key] = None
        if len(_WARNED) > WARNED_ROWS:
            _WARNED.popitem(last=False)
        log.warning("Skipping a malformed pipeline of project %s: %s; row: %s", self.project, error, text)

    def malformed_error(self, pipeline_id: int, error: MalformedRow) -> DataOpsMalformedResponseError:
        """The error a waiter on ``pipeline_id`` fails with when its own pipeline cannot be read."""
        path = api_path("projects", resource_id(self.project, "project"), "pipelines", str(pipeline_id))
        return DataOpsMalformedResponseError(
            f"GET {path}: pipeline {pipeline_id} of project {self.project} is malformed: field {error}",
            status=200,
            method="GET",
            path=path,
        )


def _row_text(row: Any) -> str:
    try:
        return repr(dict(row) if isinstance(row, Mapping) else row)
    except Exception:  # a row is JSON, so this is unreachable; a warning must never raise
        return f"<{type(row).__name__}>"


@dataclass
class Page:
    """One page of a listing: its trusted rows, oldest update first, and the ids of skipped rows."""

    rows: list[PipelineRow]
    suspect_ids: list[int]


def listing_guard(project: int | str) -> PageGuard:
    """The page rules of one listing of ``project``'s pipelines."""
    return PageGuard(api_path("projects", resource_id(project, "project"), "pipelines"), LISTING_PER_PAGE)


async def read_page(
    checker: RowChecker,
    updated_after: float | None,
    page: int,
    *,
    guard: PageGuard | None = None,
    newest_first: bool = False,
) -> tuple[Page, bool]:
    """One checked page; returns it and whether the server sent a full page (more may follow).

    :param guard: The page rules of the listing this page belongs to (a one-page listing if None).
    """
    guard = guard or listing_guard(checker.project)
    bound = None if updated_after is None else format_api_time(updated_after)
    listing = await checker.hook.updated_pipelines(
        checker.project, bound, page=page, per_page=guard.per_page, newest_first=newest_first
    )
    listing = guard.check(listing)
    checked = Page([], [])
    for row in listing:
        result = checker.check(row)
        if isinstance(result, PipelineRow):
            checked.rows.append(result)
        elif result.pipeline_id is not None:
            checked.suspect_ids.append(result.pipeline_id)
    return checked, len(listing) >= guard.per_page


class ChangeListing:
    """One listing of what changed since ``bound`` (epoch seconds, the server's clock).

    Iterate :meth:`pages`; afterwards :attr:`complete` says whether it reached the end, and
    :attr:`bound` is where a listing that stopped at ``max_pages`` continues.

    :param checker: The watcher's row checker (its hook sends the requests).
    :param bound: ``updated_after`` of the first page.
    :param max_pages: Pages read at most.
    """

    def __init__(self, checker: RowChecker, bound: float, *, max_pages: int = MAX_PAGES_PER_LISTING) -> None:
        self.checker = checker
        self.bound = bound
        self.max_pages = max_pages
        self.complete = False
        #: Requests sent.
        self.requests = 0

    async def pages(self) -> AsyncIterator[Page]:
        """Each checked page, oldest update first; ends early (incomplete) after ``max_pages``.

        :raises DataOpsError: when a request fails, or the server repeats a page.
        """
        guard = listing_guard(self.checker.project)
        page = 1
        dense: float | None = None  # the millisecond offset pages are walking through
        for _ in range(self.max_pages):
            self.requests += 1
            try:
                checked, full = await read_page(self.checker, self.bound, page, guard=guard)
            except PageRepeatError:
                if dense is None:
                    raise
                # The server ignores ``page``: the rest of that millisecond cannot be read from it.
                log.warning(
                    "Project %s: the server ignores `page`, so pipelines updated at %s beyond the first "
                    "%d may be missed; listing on after that millisecond.",
                    self.checker.project,
                    format_api_time(dense),
                    LISTING_PER_PAGE,
                )
                self.bound, page, dense = dense, 1, None
                continue
            yield checked
            if not full:
                self.complete = True
                return
            first, last = (checked.rows[0].updated, checked.rows[-1].updated) if checked.rows else (0.0, -math.inf)
            if first < last and last - PAGE_STEP_BACK > self.bound:
                self.bound, page, dense = last - PAGE_STEP_BACK, 1, None
            else:  # a whole page within one millisecond (or none valid): the next offset page
                page, dense = page + 1, (last if checked.rows else None)
        log.warning(
            "Project %s changed more than %d pages since %s; reading on from there next time.",
            self.checker.project,
            self.max_pages,
            format_api_time(self.bound),
        )
