"""One DataOpsHook shared by many threads, against a real loopback HTTP server."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_provider_dataops.hooks.dataops import SESSION_POOL_SIZE, DataOpsHook

from .conftest import set_connection

#: More threads than the pool holds: the extra ones must wait for a connection, not open and drop one.
THREADS = SESSION_POOL_SIZE + 10


class _Pipelines(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the client pools its connections

    def do_GET(self) -> None:
        time.sleep(0.02)  # long enough for the threads' requests to overlap
        body = json.dumps({"id": 7, "status": "running"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Pipelines)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_hook_shared_by_many_threads_never_discards_pooled_connections(
    server: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    set_connection(monkeypatch, host=server)
    hook = DataOpsHook()
    start = threading.Barrier(THREADS)

    def poll(_: int) -> list[str]:
        start.wait()
        return [hook.get_pipeline(1, 7)["status"] for _ in range(3)]

    with caplog.at_level(logging.WARNING, logger="urllib3"), ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(poll, range(THREADS)))
    hook.close()
    assert results == [["running"] * 3] * THREADS
    assert not [r for r in caplog.records if "Connection pool is full" in r.getMessage()]
