"""A real HTTP server on 127.0.0.1 (one thread per request) that answers pipeline reads as told, hostile included.

It serves one project's pipelines as GitLab does (``updated_after`` exclusive, ``order_by=updated_at``,
``sort``, ``page``, ``per_page``, a ``Date`` header from the server's clock) and, on demand:

* ``extra_rows``: raw rows put first in every listing, whatever the filters (a row of another
  pipeline that stays in every window);
* ``gets``: the raw body a ``GET .../pipelines/:id`` answers instead of the pipeline;
* ``date``: the ``Date`` header sent instead of the server's clock;
* ``ignore_per_page`` / ``ignore_page``: a server that ignores those parameters;
* ``project_status``: every request about the project answered with this status (404, 403);
* ``jobs`` with ``next_link_to_self`` / ``x_next_page``: a job listing whose paging never ends.

Bodies are written by :func:`json.dumps`, so a float infinity goes out as ``Infinity``, as a
broken server would send it.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .pipelines_api import iso

PROJECT = "1"
LIST = re.compile(rf"^/api/v4/projects/{PROJECT}/pipelines$")
ONE = re.compile(rf"^/api/v4/projects/{PROJECT}/pipelines/(\d+)$")
JOBS = re.compile(rf"^/api/v4/projects/{PROJECT}/pipelines/(\d+)/jobs$")


class HostileApi:
    """The server's state; every field may be changed by a test while the server runs."""

    def __init__(self) -> None:
        self.now = round(time.time(), 3)
        self.lock = threading.Lock()
        self.pipelines: dict[int, dict[str, Any]] = {}
        self.extra_rows: list[Any] = []
        self.gets: dict[int, Any] = {}
        self.date: str | None = None
        self.ignore_per_page = False
        self.ignore_page = False
        self.project_status: int | None = None
        self.jobs: list[dict[str, Any]] = []
        self.next_link_to_self = False
        self.x_next_page: str | None = None
        #: ``(path, query)`` of each request, in order.
        self.requests: list[tuple[str, dict[str, str]]] = []

    def set(self, pipeline_id: int, status: str, *, tick: float = 0.001, **fields: Any) -> dict[str, Any]:
        """Pipeline ``pipeline_id`` changes to ``status`` at the server's clock (moved on by ``tick``)."""
        with self.lock:
            self.now = round(self.now + tick, 3)
            pipeline = {
                "id": pipeline_id,
                "iid": pipeline_id,
                "project_id": 1,
                "status": status,
                "ref": "main",
                "sha": "abc",
                "web_url": f"http://127.0.0.1/p/-/pipelines/{pipeline_id}",
                "created_at": iso(self.now),
                "updated_at": iso(self.now),
                "finished_at": iso(self.now) if status in ("success", "failed", "canceled", "skipped") else None,
                **fields,
            }
            self.pipelines[pipeline_id] = pipeline
            return pipeline

    def count(self, pattern: re.Pattern[str]) -> int:
        return sum(1 for path, _ in self.requests if pattern.search(path))

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            self.requests.append((path, query))
            headers = {"Date": self.date or formatdate(self.now, usegmt=True)}
            if self.project_status is not None:
                return self.project_status, {"message": f"{self.project_status} Project Not Found"}, headers
            if match := ONE.match(path):
                pipeline_id = int(match.group(1))
                if pipeline_id in self.gets:
                    return 200, self.gets[pipeline_id], headers
                pipeline = self.pipelines.get(pipeline_id)
                return (200, pipeline, headers) if pipeline else (404, {"message": "404 Not found"}, headers)
            if LIST.match(path):
                return 200, self._listing(query), headers
            if JOBS.match(path):
                return 200, self.jobs, {**headers, **self._job_paging(path, query)}
            return 404, {"message": "404 Not found"}, headers

    def _listing(self, query: dict[str, str]) -> list[Any]:
        rows = list(self.pipelines.values())
        if "updated_after" in query:
            bound = datetime.fromisoformat(query["updated_after"].replace("Z", "+00:00")).timestamp()
            rows = [row for row in rows if _epoch(row) > round(bound, 3)]
        rows.sort(key=lambda row: (_epoch(row), row["id"]), reverse=query.get("sort") != "asc")
        short = ("id", "iid", "project_id", "status", "ref", "sha", "web_url", "created_at", "updated_at")
        listed: list[Any] = [*self.extra_rows, *({key: row[key] for key in short} for row in rows)]
        if self.ignore_per_page:
            return listed
        per_page = int(query.get("per_page", 20))
        start = 0 if self.ignore_page else (int(query.get("page", 1)) - 1) * per_page
        return listed[start : start + per_page]

    def _job_paging(self, path: str, query: dict[str, str]) -> dict[str, str]:
        if self.next_link_to_self:
            return {"Link": f'<http://127.0.0.1{path}?page=1&per_page={query.get("per_page", 20)}>; rel="next"'}
        if self.x_next_page is not None:
            return {"X-Next-Page": self.x_next_page}
        return {}


def _epoch(row: dict[str, Any]) -> float:
    return datetime.fromisoformat(row["updated_at"].replace("Z", "+00:00")).timestamp()


class _Handler(BaseHTTPRequestHandler):
    api: HostileApi

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        status, body, headers = self.api.answer(url.path, query)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            if name.lower() == "date":
                self._headers_buffer.append(f"Date: {value}\r\n".encode())  # type: ignore[attr-defined]
            else:
                self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (a test ended)
            self.wfile.write(data)

    def date_time_string(self, timestamp: float | None = None) -> str:
        return ""  # the Date header is the API's own (see do_GET)

    def send_response(self, code: int, message: str | None = None) -> None:
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Server", "hostile")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve() -> Iterator[tuple[HostileApi, str]]:
    """Run a :class:`HostileApi` on a free loopback port; yields it and its base URL."""
    api = HostileApi()
    handler = type("Handler", (_Handler,), {"api": api})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
