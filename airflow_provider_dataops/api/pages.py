"""The rules every paged listing applies to each page, sync or async, whatever it lists.

A server (or a proxy in front of it) that ignores ``per_page`` would make each page as large as it
likes, and one that ignores ``page`` or sends a ``next`` link to the page just read would make a
listing loop for ever. So each page is cut to the size asked for (with a warning), and a page
that repeats (the same next link or page number, or the same rows as the page before) ends the
listing with :class:`~airflow_provider_dataops.errors.DataOpsMalformedResponseError`. Memory per
listing is then bounded by pages x ``per_page``.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_dataops.errors import DataOpsMalformedResponseError

log = logging.getLogger(__name__)


class PageRepeatError(DataOpsMalformedResponseError):
    """The server sent a page already read: it ignores the paging parameters."""


def _row_key(row: Any) -> Any:
    """What identifies a row for spotting a repeated page: id and update time (the row if no id).

    Only compared for equality with the previous page's keys, never hashed, so any row will do.
    """
    if isinstance(row, dict) and "id" in row:
        return (row["id"], row.get("updated_at"))
    return row


class PageGuard:
    """One listing's page rules; make one per listing (it remembers the pages read).

    :param path: The listing's API path (for messages; it never holds a token).
    :param per_page: The page size asked for.
    """

    def __init__(self, path: str, per_page: int) -> None:
        self.path = path
        self.per_page = per_page
        self.pages = 0
        self._markers: set[str] = set()
        self._last: list[Any] | None = None

    def _repeat(self, what: str) -> PageRepeatError:
        return PageRepeatError(
            f"GET {self.path}: the server sent {what} again after {self.pages} page(s); it ignores paging, "
            "so this listing ends here",
            status=200,
            method="GET",
            path=self.path,
        )

    def check(self, rows: list[Any], marker: str | None = None) -> list[Any]:
        """A page's rows, cut to ``per_page``.

        :param rows: The page as the server sent it.
        :param marker: What names this page (its URL or page number) when the listing follows links.
        :raises PageRepeatError: when the page repeats one already read.
        """
        if marker is not None:
            if marker in self._markers:
                raise self._repeat(f"page {marker!r}")
            self._markers.add(marker)
        if len(rows) > self.per_page:
            log.warning(
                "GET %s answered %d rows for per_page=%d; reading only the first %d.",
                self.path,
                len(rows),
                self.per_page,
                self.per_page,
            )
            rows = rows[: self.per_page]
        keys = [_row_key(row) for row in rows]
        if keys and keys == self._last:
            raise self._repeat("the same rows")
        self._last = keys
        self.pages += 1
        return rows
