"""Pagination: lazy, Link first then X-Next-Page, no reliance on totals, keyset and the 405 switch."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests_mock as rm

from airflow_provider_dataops.errors import DataOpsAPIError
from airflow_provider_dataops.hooks.dataops import DataOpsHook

from .conftest import API

OFFSET_LIMIT = (
    "Offset pagination has a maximum allowed offset of 50000 for requests that return objects of type "
    "Project. Remaining records can be retrieved using keyset pagination."
)


def _query(request: Any) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(urlsplit(request.url).query).items()}


def offset_server(total: int, *, with_totals: bool, link: bool, next_header: bool, limit: int | None = None):
    """A GitLab-like offset listing of ``total`` items with ids 1..total."""

    def respond(request: Any, context: Any) -> Any:
        query = _query(request)
        if query.get("pagination") == "keyset":
            per_page = int(query["per_page"])
            after = int(query.get("id_after", 0))
            items = [{"id": i} for i in range(after + 1, min(after + per_page, total) + 1)]
            if items:
                context.headers["Link"] = (
                    f'<{API}/projects?pagination=keyset&per_page={per_page}&order_by=id&sort=asc&id_after={items[-1]["id"]}>; rel="next"'
                )
            return items
        page, per_page = int(query.get("page", 1)), int(query.get("per_page", 20))
        if limit is not None and page * per_page > limit:
            context.status_code = 405
            return {"message": OFFSET_LIMIT}
        start = (page - 1) * per_page
        items = [{"id": i} for i in range(start + 1, min(start + per_page, total) + 1)]
        has_next = start + per_page < total
        context.headers["X-Page"] = str(page)
        context.headers["X-Per-Page"] = str(per_page)
        if next_header:
            context.headers["X-Next-Page"] = str(page + 1) if has_next else ""
        if with_totals and total <= 10_000:
            context.headers["X-Total"] = str(total)
            context.headers["X-Total-Pages"] = str(-(-total // per_page))
        if link and has_next:
            context.headers["Link"] = f'<{API}/projects?page={page + 1}&per_page={per_page}>; rel="next"'
        return items

    return respond


def test_pagination_past_10000_records_without_totals(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{API}/projects", json=offset_server(12_345, with_totals=True, link=True, next_header=True))
    ids = [item["id"] for item in hook.paginate("/projects")]
    assert ids == list(range(1, 12_346))
    assert requests_mock.call_count == 124
    assert "X-Total" not in requests_mock.request_history[0].headers
    assert all(_query(r)["per_page"] == "100" for r in requests_mock.request_history)


def test_link_only_pages_are_followed(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{API}/projects", json=offset_server(250, with_totals=False, link=True, next_header=False))
    assert len(list(hook.paginate("/projects"))) == 250
    assert requests_mock.call_count == 3


def test_x_next_page_only_pages_are_followed(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{API}/projects", json=offset_server(250, with_totals=False, link=False, next_header=True))
    assert len(list(hook.paginate("/projects", params={"search": "x"}))) == 250
    assert [_query(r).get("page") for r in requests_mock.request_history] == [None, "2", "3"]
    assert all(_query(r)["search"] == "x" for r in requests_mock.request_history)


def test_pagination_is_lazy_and_capped(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{API}/projects", json=offset_server(1000, with_totals=False, link=True, next_header=True))
    iterator = hook.paginate("/projects", per_page=10)
    assert requests_mock.call_count == 0
    assert next(iterator) == {"id": 1}
    assert requests_mock.call_count == 1
    assert len(list(hook.paginate("/projects", per_page=10, max_pages=3))) == 30


def test_offset_limit_405_switches_to_keyset_without_duplicates(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(
        f"{API}/projects", json=offset_server(650, with_totals=False, link=True, next_header=True, limit=500)
    )
    ids = [item["id"] for item in hook.paginate("/projects")]
    assert ids == list(range(1, 651))
    keyset_requests = [r for r in requests_mock.request_history if _query(r).get("pagination") == "keyset"]
    assert keyset_requests
    assert _query(keyset_requests[0])["order_by"] == "id"


def test_other_405_errors_are_raised(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{API}/projects/1/pipelines", status_code=405, json={"message": "405 Method Not Allowed"})
    with pytest.raises(DataOpsAPIError, match="405"):
        list(hook.list_pipelines(1))


def test_list_projects_uses_keyset_by_id(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{API}/projects", json=offset_server(230, with_totals=False, link=True, next_header=True))
    projects = list(hook.list_projects(membership=True, simple=True))
    assert len(projects) == 230
    first = _query(requests_mock.request_history[0])
    assert first["pagination"] == "keyset"
    assert (first["order_by"], first["sort"], first["membership"], first["simple"]) == ("id", "asc", "true", "true")
    assert "page" not in first


def test_link_to_another_host_is_rewritten_to_ours(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(
        f"{API}/projects/1/pipelines",
        [
            {
                "json": [{"id": 1}],
                "headers": {
                    "Link": '<http://internal-node:8080/api/v4/projects/1/pipelines?page=2&per_page=100>; rel="next"'
                },
            },
            {"json": [{"id": 2}]},
        ],
    )
    assert [p["id"] for p in hook.list_pipelines(1)] == [1, 2]
    assert requests_mock.request_history[1].netloc == "dataops.example.com"


def test_list_pipelines_filters(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    import datetime

    requests_mock.get(f"{API}/projects/g%2Fp/pipelines", json=[])
    when = datetime.datetime(2026, 11, 28, 8, 0, tzinfo=datetime.timezone.utc)
    list(hook.list_pipelines("g/p", ref="main", status="running", updated_after=when))
    query = _query(requests_mock.last_request)
    assert (query["ref"], query["status"], query["updated_after"]) == ("main", "running", "2026-11-28T08:00:00+00:00")


def test_an_offset_listing_keeps_rows_whose_id_cannot_be_remembered(
    hook: DataOpsHook, requests_mock: rm.Mocker
) -> None:
    # Offset walks remember ids to drop repeats; an id the server made a list or an object is kept
    # (the caller's row checks judge it), and the rows after it still arrive.
    rows = [{"id": [1]}, {"id": {"x": 1}}, {"name": "no id"}, {"id": 4}, {"id": 4}, "text"]
    requests_mock.get(f"{API}/projects", json=rows)
    assert list(hook.paginate("/projects")) == [rows[0], rows[1], rows[2], rows[3], "text"]
