"""What every benchmark needs: an emulator in a subprocess, honest counters and a uniform report.

* :class:`EmulatorProcess` runs ``python -m airflow_provider_dataops.emulator --port 0`` in its own
  process, so the client under test never shares a GIL or an event loop with the server, and the
  client's heap figures contain no server allocations. It is steered through the control API.
* :class:`ConnectCounter` counts the TCP connections this process opens to the emulator, from the
  interpreter's own ``socket.connect`` audit event (PEP 578): every ``connect()`` call of any client
  (``requests``/urllib3, httpx/anyio, asyncio) raises it, and nothing in the client is patched.
* :func:`established_connections` asks the kernel (through psutil) how many TCP connections to the
  emulator are open right now.
* :class:`Report` prints figures, ``CHECK`` lines (correctness) and ``TARGET`` lines (performance).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar

import psutil

CONNECTION_ENV = "AIRFLOW_CONN_DATAOPS_DEFAULT"
STARTUP_TIMEOUT = 30.0


# -- formatting -----------------------------------------------------------------------------------


def fmt_int(value: float) -> str:
    """A count with thousands separators, e.g. ``10,001``.

    :param value: the number (rounded to an integer).
    """
    return f"{round(value):,}"


def fmt_bytes(value: float) -> str:
    """A size in KiB or MiB, e.g. ``1.25 MiB``.

    :param value: bytes (may be negative, for a shrinking heap).
    """
    if abs(value) >= 1024 * 1024:
        return f"{value / (1024 * 1024):.2f} MiB"
    return f"{value / 1024:.1f} KiB"


def fmt_seconds(value: float) -> str:
    """Seconds, or milliseconds below one second, e.g. ``3.21 s`` / ``12.4 ms``.

    :param value: seconds.
    """
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.1f} ms"


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (0 for an empty sequence).

    :param values: the samples.
    :param fraction: e.g. ``0.99``.
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


# -- report ---------------------------------------------------------------------------------------


@dataclass
class Report:
    """The printed block of one benchmark: figures, then ``CHECK`` and ``TARGET`` verdicts.

    ``CHECK`` lines are correctness (right item counts, every event ``success``, one client...);
    a failed check is a bug. ``TARGET`` lines compare a measured figure with a stated target; a
    miss is a performance regression or a slow machine.

    :param name: the benchmark's name, e.g. ``pagination``.
    """

    name: str
    checks: list[tuple[str, bool]] = field(default_factory=list)
    targets: list[tuple[str, bool]] = field(default_factory=list)

    WIDTH: ClassVar[int] = 50

    def heading(self, text: str) -> None:
        """Print a section heading.

        :param text: the heading.
        """
        print(f"\n== {self.name}: {text} ==", flush=True)

    def section(self, text: str) -> None:
        """Print a sub-heading inside the block.

        :param text: the sub-heading.
        """
        print(f"-- {text}", flush=True)

    def figure(self, label: str, value: str) -> None:
        """Print one measured figure.

        :param label: what was measured.
        :param value: the formatted value.
        """
        print(f"   {label:<{self.WIDTH}} {value}", flush=True)

    def note(self, text: str) -> None:
        """Print a free-text remark (how something was measured).

        :param text: the remark.
        """
        print(f"   ({text})", flush=True)

    def check(self, label: str, ok: bool, detail: str = "") -> bool:
        """Record and print a correctness verdict.

        :param label: what must hold.
        :param ok: whether it holds.
        :param detail: the observed value.
        :returns: ``ok``.
        """
        self.checks.append((label, ok))
        suffix = f" ({detail})" if detail else ""
        print(f"   CHECK  {label}: {'PASS' if ok else 'FAIL'}{suffix}", flush=True)
        return ok

    def target(self, label: str, ok: bool, detail: str = "") -> bool:
        """Record and print a performance verdict against a stated target.

        :param label: the target, e.g. ``wall time < 10 s``.
        :param ok: whether it was met.
        :param detail: the measured value.
        :returns: ``ok``.
        """
        self.targets.append((label, ok))
        suffix = f" ({detail})" if detail else ""
        print(f"   TARGET {label}: {'PASS' if ok else 'FAIL'}{suffix}", flush=True)
        return ok

    @property
    def checks_passed(self) -> bool:
        """Whether every correctness check passed."""
        return all(ok for _, ok in self.checks)

    @property
    def targets_met(self) -> bool:
        """Whether every performance target was met."""
        return all(ok for _, ok in self.targets)

    def finish(self) -> None:
        """Print the benchmark's ``RESULT`` line."""
        if self.checks_passed and self.targets_met:
            verdict = "PASS"
        elif not self.checks_passed:
            failed = [label for label, ok in self.checks if not ok]
            verdict = f"FAIL (checks: {'; '.join(failed)})"
        else:
            missed = [label for label, ok in self.targets if not ok]
            verdict = f"FAIL (targets: {'; '.join(missed)})"
        print(f"RESULT {self.name}: {verdict}", flush=True)


# -- the emulator in a subprocess -----------------------------------------------------------------


class EmulatorProcess:
    """``python -m airflow_provider_dataops.emulator --port 0`` in a child process.

    On entry it waits for the ``KEY=value`` lines the CLI prints once listening and sets
    ``AIRFLOW_CONN_DATAOPS_DEFAULT`` for hooks created afterwards; on exit it stops the server
    (SIGTERM, then SIGKILL) and restores the variable.

    :param pipeline_seconds: the server's default pipeline duration.
    """

    def __init__(self, *, pipeline_seconds: float = 10.0) -> None:
        self.pipeline_seconds = pipeline_seconds
        self.url = ""
        self.port = 0
        self.connection_json = ""
        self._process: subprocess.Popen[str] | None = None
        self._saved_env: str | None = None

    @property
    def pid(self) -> int:
        """The server's process id."""
        if self._process is None:
            raise RuntimeError("the emulator is not running")
        return self._process.pid

    def __enter__(self) -> EmulatorProcess:
        command = [
            sys.executable,
            "-m",
            "airflow_provider_dataops.emulator",
            "--port",
            "0",
            "--pipeline-seconds",
            str(self.pipeline_seconds),
        ]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        settings = self._read_settings(self._process)
        self.url = settings["DATAOPS_EMULATOR_URL"]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.connection_json = settings[CONNECTION_ENV]
        self._saved_env = os.environ.get(CONNECTION_ENV)
        os.environ[CONNECTION_ENV] = self.connection_json
        return self

    def _read_settings(self, process: subprocess.Popen[str]) -> dict[str, str]:
        """The CLI's ``KEY=value`` lines, read until the connection line (the last one)."""
        settings: dict[str, str] = {}
        found = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                key, _, value = line.strip().partition("=")
                if key:
                    settings[key] = shlex.split(value)[0] if value else ""
                if key == CONNECTION_ENV:
                    found.set()
                    return

        reader = threading.Thread(target=read, name="emulator-stdout", daemon=True)
        reader.start()
        if not found.wait(STARTUP_TIMEOUT):
            self._stop()
            raise RuntimeError(f"the emulator subprocess did not start within {STARTUP_TIMEOUT:.0f} s")
        return settings

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()
        if self._saved_env is None:
            os.environ.pop(CONNECTION_ENV, None)
        else:
            os.environ[CONNECTION_ENV] = self._saved_env

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    # -- control API (never throttled, faulted or logged by the emulator) ---------------------

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call the control API under ``/-/emulator`` and return its decoded JSON (None if empty).

        :param method: HTTP method.
        :param path: path after ``/-/emulator``, e.g. ``/requests``.
        :param body: JSON body.
        """
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/-/emulator{path}",
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def seed_projects(self, count: int) -> int:
        """Add ``count`` projects; returns how many projects the emulator now has in total.

        :param count: how many to add.
        """
        return int(self.control("POST", "/projects/seed", {"count": count})["total"])

    def requests(self) -> list[dict[str, Any]]:
        """The emulator's request log, oldest first."""
        return list(self.control("GET", "/requests"))

    def clear_requests(self) -> None:
        """Empty the request log."""
        self.control("DELETE", "/requests")

    def pipelines(self) -> list[dict[str, Any]]:
        """Every pipeline the emulator knows, with its current status."""
        return list(self.control("GET", "/pipelines"))

    def inject_fault(self, **spec: Any) -> dict[str, Any]:
        """Plan a fault (fields as in ``docs/emulator-reference.rst``); returns it with its id.

        :param spec: ``action``, ``method``, ``path``, ``times``, ``status``, ``headers``...
        """
        return dict(self.control("POST", "/faults", spec))

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)


def status_histogram(entries: Iterable[dict[str, Any]]) -> str:
    """``"200 x 101"`` style summary of request-log statuses.

    :param entries: request-log entries.
    """
    counts = Counter(str(entry.get("status")) for entry in entries)
    return ", ".join(f"{status} x {fmt_int(count)}" for status, count in sorted(counts.items())) or "none"


# -- connection counting --------------------------------------------------------------------------


class ConnectCounter:
    """Counts ``connect()`` calls from this process to ``127.0.0.1:port`` while active.

    It listens to the interpreter's ``socket.connect`` audit event, which every Python socket
    raises when it starts connecting, blocking or not. Audit hooks cannot be removed, so one hook
    is installed once and dispatches to the counters that are active.

    :param port: the emulator's port.
    """

    _active: ClassVar[list[ConnectCounter]] = []
    _installed: ClassVar[bool] = False

    def __init__(self, port: int) -> None:
        self.port = port
        self.connects = 0
        self._paused = False

    @classmethod
    def _audit(cls, event: str, args: tuple[Any, ...]) -> None:
        if event != "socket.connect" or not cls._active:
            return
        address = args[1] if len(args) > 1 else None
        if isinstance(address, tuple) and len(address) >= 2:
            for counter in cls._active:
                if address[1] == counter.port and not counter._paused:
                    counter.connects += 1

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Do not count inside this block (for the benchmark's own control API calls)."""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False

    def __enter__(self) -> ConnectCounter:
        if not ConnectCounter._installed:
            sys.addaudithook(ConnectCounter._audit)
            ConnectCounter._installed = True
        ConnectCounter._active.append(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        ConnectCounter._active.remove(self)


def established_connections(port: int) -> int:
    """TCP connections from this process to the emulator that the kernel shows as ESTABLISHED.

    :param port: the emulator's port.
    """
    return sum(
        1
        for conn in psutil.Process().net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == port and conn.status == psutil.CONN_ESTABLISHED
    )


class ConnectionSampler:
    """Samples :func:`established_connections` on a background thread; keeps the maximum.

    A thread rather than a task, so the kernel query (a few ms of parsing ``/proc``) is never
    counted as event-loop lag.

    :param port: the emulator's port.
    :param interval: seconds between samples.
    """

    def __init__(self, port: int, interval: float = 0.2) -> None:
        self.port = port
        self.interval = interval
        self.maximum = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="connection-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.maximum = max(self.maximum, established_connections(self.port))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()


# -- memory ---------------------------------------------------------------------------------------


def rss_bytes() -> int:
    """The resident set size of this process now."""
    return int(psutil.Process().memory_info().rss)


def peak_rss_bytes() -> int:
    """The peak resident set size of this process since it started (``ru_maxrss``).

    Linux updates its high-water mark lazily, so the current RSS is taken into account too.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(rss_bytes(), int(peak if sys.platform == "darwin" else peak * 1024))


def cpu_seconds() -> float:
    """CPU time (user + system) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Stopwatch:
    """Wall time of a ``with`` block (``time.perf_counter``)."""

    def __init__(self) -> None:
        self.start = 0.0
        self.elapsed = 0.0

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.elapsed = time.perf_counter() - self.start
