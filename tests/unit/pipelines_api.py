"""A fake of the two pipeline reads the shared poller makes, behind an ``httpx.MockTransport``.

``GET /projects/:id/pipelines`` honours ``updated_after`` (exclusive, as GitLab's), ``order_by=updated_at``,
``sort``, ``page`` and ``per_page``, and sends the server's ``Date``; ``GET /projects/:id/pipelines/:id``
answers one pipeline or 404.
The server's clock (``now``) is its own, so tests can skew it against the client's.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import formatdate
from typing import Any

import httpx

ONE = re.compile(r"/projects/[^/]+/pipelines/(\d+)$")
LIST = re.compile(r"/projects/[^/]+/pipelines$")


def iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class PipelinesApi:
    """Pipelines of one project; ``set`` changes a status at the server's ``now``."""

    def __init__(self, now: float | None = None) -> None:
        self.now = float(round(time.time())) if now is None else now
        self.pipelines: dict[int, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        #: Called with each list request before it is answered (to change pipelines "while paging").
        self.on_list: Callable[[httpx.Request], None] | None = None

    def set(self, pipeline_id: int, status: str, ref: str = "main", *, tick: float = 0.001) -> None:
        self.now += tick
        self.pipelines[pipeline_id] = {
            "id": pipeline_id,
            "status": status,
            "ref": ref,
            "sha": "abc",
            "web_url": f"https://x/-/pipelines/{pipeline_id}",
            "updated_at": iso(self.now),
            "_updated": round(self.now, 3),
        }

    def delete(self, pipeline_id: int) -> None:
        del self.pipelines[pipeline_id]

    @property
    def lists(self) -> list[httpx.Request]:
        return [request for request in self.requests if LIST.search(request.url.raw_path.decode().split("?")[0])]

    @property
    def gets(self) -> list[httpx.Request]:
        return [request for request in self.requests if ONE.search(request.url.raw_path.decode().split("?")[0])]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if match := ONE.search(request.url.raw_path.decode().split("?")[0]):
            pipeline = self.pipelines.get(int(match.group(1)))
            if pipeline is None:
                return httpx.Response(404, json={"message": "404 Not found"})
            return httpx.Response(200, json=_public(pipeline))
        if LIST.search(request.url.raw_path.decode().split("?")[0]):
            if self.on_list is not None:
                self.on_list(request)
            return httpx.Response(
                200, json=self._list(request.url.params), headers={"Date": formatdate(self.now, usegmt=True)}
            )
        return httpx.Response(404, json={"message": "404 Not found"})

    def _list(self, params: httpx.QueryParams) -> list[dict[str, Any]]:
        rows = list(self.pipelines.values())
        if "updated_after" in params:
            bound = datetime.fromisoformat(params["updated_after"].replace("Z", "+00:00")).timestamp()
            rows = [row for row in rows if row["_updated"] > round(bound, 3)]
        if params.get("ref"):
            rows = [row for row in rows if row["ref"] == params["ref"]]
        if params.get("order_by") == "updated_at":
            rows.sort(key=lambda row: (row["_updated"], row["id"]), reverse=params.get("sort") != "asc")
        else:
            rows.sort(key=lambda row: row["id"], reverse=params.get("sort") != "asc")
        per_page = int(params.get("per_page", 20))
        start = (int(params.get("page", 1)) - 1) * per_page
        return [_public(row) for row in rows[start : start + per_page]]


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if not key.startswith("_")}
