"""GitLab's offset and keyset pagination: page selection, ``x-*`` headers and ``Link``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypeVar

from starlette.datastructures import URL

from airflow_provider_dataops.emulator import errors

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
#: Above this many records GitLab leaves out x-total, x-total-pages and rel="last".
TOTAL_HEADERS_LIMIT = 10_000
#: GitLab's default ``offset_pagination_limit``.
OFFSET_LIMIT = 50_000

T = TypeVar("T")


def _integer(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise errors.param_error(f"{name} is invalid") from None


def page_size(query: Mapping[str, str]) -> int:
    """``per_page``: default 20, at most 100.

    :param query: the query parameters.
    """
    per_page = _integer(query, "per_page", DEFAULT_PER_PAGE)
    return min(per_page, MAX_PER_PAGE) if per_page > 0 else DEFAULT_PER_PAGE


def page_number(query: Mapping[str, str]) -> int:
    """``page``: default 1.

    :param query: the query parameters.
    """
    return max(1, _integer(query, "page", 1))


def check_offset_limit(query: Mapping[str, str], resource: str) -> None:
    """Refuse offsets beyond 50,000 as GitLab does for resources that support keyset pagination.

    :param query: the query parameters.
    :param resource: the object type named in the message, e.g. ``Project``.
    :raises ApiError: 405 ``{"error": ...}`` (GitLab raises it with Grape's ``error!``, hence ``error``).
    """
    if page_number(query) * page_size(query) > OFFSET_LIMIT:
        raise errors.ApiError(
            405,
            {
                "error": f"Offset pagination has a maximum allowed offset of {OFFSET_LIMIT} for requests that return "
                f"objects of type {resource}. Remaining records can be retrieved using keyset pagination."
            },
        )


def offset_page(items: Sequence[T], url: URL, query: Mapping[str, str]) -> tuple[Sequence[T], dict[str, str]]:
    """Cut one page out of ``items`` and build GitLab's pagination headers.

    :param items: every matching item, in order.
    :param url: the request URL (links keep its base URL and its other parameters).
    :param query: the query parameters (``page``, ``per_page``).
    :returns: the page and the headers.
    """
    page, per_page = page_number(query), page_size(query)
    total = len(items)
    total_pages = max(1, math.ceil(total / per_page))
    start = (page - 1) * per_page
    has_next = start + per_page < total
    headers = {
        "x-page": str(page),
        "x-per-page": str(per_page),
        "x-next-page": str(page + 1) if has_next else "",
        "x-prev-page": str(page - 1) if page > 1 else "",
    }
    show_totals = total <= TOTAL_HEADERS_LIMIT
    if show_totals:
        headers["x-total"] = str(total)
        headers["x-total-pages"] = str(total_pages)
    links = []
    if page > 1:
        links.append(_link(url, page - 1, per_page, "prev"))
    if has_next:
        links.append(_link(url, page + 1, per_page, "next"))
    links.append(_link(url, 1, per_page, "first"))
    if show_totals:
        links.append(_link(url, total_pages, per_page, "last"))
    headers["link"] = ", ".join(links)
    return items[start : start + per_page], headers


def keyset_next_link(url: URL, last_id: int, ascending: bool) -> str:
    """The only pagination header of a keyset page: ``<...id_after=N...>; rel="next"``.

    :param url: the request URL.
    :param last_id: the id of the page's last item.
    :param ascending: ``sort=asc`` (``id_after``) or ``desc`` (``id_before``).
    """
    cursor = "id_after" if ascending else "id_before"
    target = url.remove_query_params(["id_after", "id_before", "page"]).include_query_params(**{cursor: last_id})
    return f'<{target}>; rel="next"'


def _link(url: URL, page: int, per_page: int, rel: str) -> str:
    return f'<{url.include_query_params(page=page, per_page=per_page)}>; rel="{rel}"'
