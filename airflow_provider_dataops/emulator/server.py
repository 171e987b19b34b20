"""``DataOpsEmulator``: the emulator served by uvicorn on a background thread of your process."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import uvicorn

from airflow_provider_dataops.emulator.app import create_app
from airflow_provider_dataops.emulator.clock import ClockMode
from airflow_provider_dataops.emulator.state import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_PIPELINE_FILES,
    DEFAULT_PIPELINE_SECONDS,
    DEFAULT_TRIGGER_TOKEN,
    EmulatorState,
)

#: Room for 1,000+ clients connecting at once.
BACKLOG = 2048
STARTUP_TIMEOUT = 10.0


class DataOpsEmulator:
    """A local DataOps.live (GitLab v4) API, started and stopped with a ``with`` block.

    The control methods act on the state directly (no HTTP round trip).

    :param host: the interface to listen on.
    :param port: the port; ``0`` picks a free one.
    :param pipeline_seconds: how long a pipeline takes to settle (``DATAOPS_EMULATOR_SECONDS`` overrides).
    :param access_token: the seeded personal access token.
    :param trigger_token: the seeded pipeline trigger token of ``demo/dataops-project``.
    :param rate_limit: requests per minute per token (or per IP without one); ``None`` for none.
    :param clock: ``"real"`` (wall time) or ``"manual"`` (moves only on :meth:`advance`).
    :param pipeline_files: pipeline files every project has; the first is the default.
    :param log_level: uvicorn's and the request log's level; ``info`` prints a redacted access log.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        pipeline_seconds: float = DEFAULT_PIPELINE_SECONDS,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        trigger_token: str = DEFAULT_TRIGGER_TOKEN,
        rate_limit: int | None = None,
        clock: ClockMode = "real",
        pipeline_files: Sequence[str] = DEFAULT_PIPELINE_FILES,
        log_level: str = "warning",
    ) -> None:
        self.state = EmulatorState(
            pipeline_seconds=pipeline_seconds,
            access_token=access_token,
            trigger_token=trigger_token,
            rate_limit=rate_limit,
            clock=clock,
            pipeline_files=pipeline_files,
        )
        self.host = host
        self._requested_port = port
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # -- serving ----------------------------------------------------------------------------------

    def start(self) -> DataOpsEmulator:
        """Bind, start uvicorn on a daemon thread and wait until it accepts connections.

        :returns: ``self``.
        :raises RuntimeError: if the server does not come up within 10 seconds.
        """
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        # Bind here, not in uvicorn, so the port is known (port=0) and connections queue from now on.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
            sock.listen(BACKLOG)
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.state, self.host),
            log_level=self._log_level,
            log_config=None,  # leave the host process's logging alone
            access_log=False,  # uvicorn's access log would show tokens passed in query strings
            date_header=False,  # the app dates its answers by the emulator's clock
            backlog=BACKLOG,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="dataops-emulator", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            self.stop()
            sock.close()
            raise RuntimeError("the DataOps.live emulator did not start")
        return self

    def stop(self) -> None:
        """Stop the server and wait for its thread (idempotent)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> DataOpsEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses and credentials ----------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port it listens on (known once started)."""
        if self._port is None:
            raise RuntimeError("the emulator has not been started")
        return self._port

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (the connection's host)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        """``url + "/api/v4"``."""
        return f"{self.url}/api/v4"

    @property
    def access_token(self) -> str:
        """The seeded personal access token (scope ``api``)."""
        return self.state.access_token

    @property
    def trigger_token(self) -> str:
        """The seeded pipeline trigger token of ``demo/dataops-project``."""
        return self.state.trigger_token

    def airflow_connection(self, trigger_only: bool = False) -> dict[str, Any]:
        """The Airflow connection for this emulator, as a dict.

        :param trigger_only: leave out the access token (a connection that can only trigger).
        :returns: ``{"conn_type": "dataops", "host": url, "password": token, "extra": {"trigger_token": ...}}``.
        """
        connection: dict[str, Any] = {"conn_type": "dataops", "host": self.url}
        if not trigger_only:
            connection["password"] = self.access_token
        connection["extra"] = {"trigger_token": self.trigger_token}
        return connection

    def airflow_connection_json(self, trigger_only: bool = False) -> str:
        """The value for ``AIRFLOW_CONN_DATAOPS_DEFAULT``.

        :param trigger_only: leave out the access token.
        """
        return json.dumps(self.airflow_connection(trigger_only=trigger_only))

    # -- control ----------------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the seeded state: faults, request log, pipelines and extra projects are cleared."""
        self.state.reset()

    def seed_projects(self, count: int, namespace: str = "demo") -> int:
        """Add ``count`` projects (``<namespace>/seeded-project-<id>``).

        :param count: how many.
        :param namespace: the group's full path; created if missing.
        :returns: how many were added.
        """
        return self.state.seed_projects(count, namespace)

    def inject_fault(
        self,
        action: str = "status",
        *,
        method: str = "*",
        path: str = ".*",
        times: int | None = 1,
        status: int | None = None,
        body: str | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        seconds: float | None = None,
    ) -> dict[str, Any]:
        """Plan a fault for matching requests (see the fault schema in ``docs/emulator-reference.rst``).

        :param action: ``status``, ``latency``, ``drop_before``, ``drop_after`` or ``drop_mid``.
        :param method: the HTTP method, or ``*``.
        :param path: a regular expression searched in the raw request path.
        :param times: how many matching requests; ``None`` or ``0`` for all.
        :param status: the status code (``status``).
        :param body: the body (``status``); defaults to GitLab's style for the status.
        :param content_type: e.g. ``text/plain`` or ``text/html`` (``status``).
        :param headers: extra headers such as ``Retry-After`` (``status``).
        :param seconds: the delay (``latency``).
        :returns: the fault's JSON form, with its ``id``.
        """
        spec: dict[str, Any] = {"action": action, "method": method, "path": path, "times": times}
        if action == "status":
            spec.update(status=status, body=body, content_type=content_type, headers=headers or {})
        if action == "latency":
            spec["seconds"] = seconds
        return self.state.add_fault(spec).to_dict()

    def clear_faults(self) -> None:
        """Remove every planned fault."""
        self.state.clear_faults()

    def requests(self) -> list[dict[str, Any]]:
        """The request log (method, path, query with tokens redacted, status, time, duration_ms, fault)."""
        return self.state.requests()

    def clear_requests(self) -> None:
        """Empty the request log."""
        self.state.clear_requests()

    def storage_downloads(self) -> list[dict[str, Any]]:
        """Each request to the object storage that artifact downloads redirect to.

        ``{"job_id", "host", "status", "credentials"}``; ``credentials`` is True when the request
        carried an access token, i.e. a client forwarded its token to another host.
        """
        with self.state.lock:
            return [dict(entry) for entry in self.state.storage_log]

    def pipelines(self) -> list[dict[str, Any]]:
        """Every pipeline since the last reset, with its project, ref, source, status and variables."""
        return self.state.pipeline_records(self.url if self._port is not None else "")

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward (also in real-time mode).

        :param seconds: how far.
        """
        self.state.advance(seconds)

    def set_clock_mode(self, mode: ClockMode) -> None:
        """Freeze (``"manual"``) or release (``"real"``) the clock until the next :meth:`reset`.

        :param mode: ``"real"`` or ``"manual"``.
        """
        self.state.set_clock_mode(mode)

    def set_rate_limit(self, requests_per_minute: int | None) -> None:
        """Change the throttle until the next :meth:`reset`.

        :param requests_per_minute: per token (or IP); ``None`` switches it off.
        """
        self.state.rate_limiter.limit = requests_per_minute
        self.state.rate_limiter.clear()
