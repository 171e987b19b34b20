"""Start, restart and always stop the deployment's processes (and everything they spawn).

Each process gets its own session (process group), its output goes to a log file, and it is
registered before anything can fail, so ``stop_all`` (fixture finalizer, ``atexit``, SIGTERM)
ends it and every descendant: LocalExecutor workers and task processes included.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil


def free_port() -> int:
    """A free loopback TCP port (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServiceDied(RuntimeError):
    """A process the deployment needs has exited: waiting longer cannot help."""


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.5) -> object:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except ServiceDied:
            raise
        except Exception as error:  # the service may not be up yet
            last_error = error
        else:
            if result:
                return result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error!r})")


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal_all(processes: Sequence[psutil.Process], sig: int) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(sig)


class Processes:
    """The deployment's long-running processes, by name."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._running: dict[str, subprocess.Popen[bytes]] = {}
        self._generation: dict[str, int] = {}
        self._cleanups: list[Callable[[], None]] = []
        atexit.register(self.stop_all)

    def start(self, name: str, argv: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> Path:
        """Start ``argv`` in a new session; returns its log file (one per start, so restarts keep history)."""
        if name in self._running:
            raise RuntimeError(f"{name} is already running")
        generation = self._generation[name] = self._generation.get(name, 0) + 1
        log_path = self.log_dir / (f"{name}.log" if generation == 1 else f"{name}.{generation}.log")
        with log_path.open("ab") as log:
            self._running[name] = subprocess.Popen(
                list(argv),
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return log_path

    def pid(self, name: str) -> int:
        return self._running[name].pid

    def is_running(self, name: str) -> bool:
        process = self._running.get(name)
        return process is not None and process.poll() is None

    def logs(self, name: str) -> str:
        """Everything every start of ``name`` has logged."""
        texts = []
        for path in sorted(self.log_dir.glob(f"{name}*.log")):
            texts.append(path.read_text(errors="replace"))
        return "\n".join(texts)

    def graceful_stop(self, name: str, timeout: float) -> None:
        """SIGTERM to the main process only, as a service manager's stop does; wait for it to exit."""
        process = self._running.pop(name)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._running[name] = process
            self.stop(name)
            raise

    def stop(self, name: str, grace: float = 10.0) -> None:
        """SIGTERM the process's whole tree and group, then SIGKILL whatever is left after ``grace``."""
        process = self._running.pop(name, None)
        if process is None:
            return
        tree = _tree(process.pid)
        _signal_all(tree, signal.SIGTERM)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        _gone, alive = psutil.wait_procs(tree, timeout=grace)
        # Children spawned during the grace period are caught by the group kill.
        _signal_all(alive + _tree(process.pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)

    def crash(self, name: str) -> None:
        """SIGKILL the process's whole tree and group at once: no shutdown code runs."""
        process = self._running.pop(name)
        _signal_all(_tree(process.pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)

    def on_stop(self, cleanup: Callable[[], None]) -> None:
        """Run ``cleanup`` after every process is stopped (e.g. stop the database cluster)."""
        self._cleanups.append(cleanup)

    def stop_all(self) -> None:
        """Stop everything, newest first; safe to call more than once."""
        for name in reversed(list(self._running)):
            with contextlib.suppress(Exception):
                self.stop(name)
        while self._cleanups:
            with contextlib.suppress(Exception):
                self._cleanups.pop()()
