"""What ``make test`` does to the checks it runs beside the deployment suite, given their process id.

``normal PID``: once the suite has ended, the checks still running get the normal CPU and I/O
priority back. Raising a priority needs root (as in CI); for anyone else this changes nothing, and
the checks go on at the lowest priority.

``stop PID``: on Ctrl-C. A shell starts a background command with SIGINT ignored, so the checks
would not see the Ctrl-C and would run on to their end; this ends them and everything they started.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path


def parents() -> dict[int, int]:
    """Each running process's parent, from /proc."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name (field 2) may hold spaces and parentheses: split after the last ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # it ended meanwhile
        found[int(stat.parent.name)] = int(fields[1])
    return found


def tree(root: int) -> list[int]:
    """``root`` and its descendants."""
    children: dict[int, list[int]] = {}
    for pid, parent in parents().items():
        children.setdefault(parent, []).append(pid)
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def normal(root: int) -> None:
    ionice = shutil.which("ionice")
    for pid in tree(root):
        try:
            os.setpriority(os.PRIO_PROCESS, pid, 0)
        except ProcessLookupError:
            continue  # it ended meanwhile
        except PermissionError:
            return  # only root may raise a priority: leave them as they are
        if ionice:
            subprocess.run([ionice, "-c", "2", "-n", "4", "-p", str(pid)], capture_output=True, check=False)


def stop(root: int) -> None:
    # Frozen first, so that no make or shell among them starts its next step as its child ends.
    processes = _signal(tree(root), signal.SIGSTOP)
    processes += _signal([pid for pid in tree(root) if pid not in processes], signal.SIGSTOP)
    _signal(processes, signal.SIGTERM)
    _signal(processes, signal.SIGCONT)


def _signal(pids: list[int], signum: signal.Signals) -> list[int]:
    """Send ``signum`` to each of ``pids``; returns those that were there to get it."""
    sent = []
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            continue
        sent.append(pid)
    return sent


if __name__ == "__main__":
    {"normal": normal, "stop": stop}[sys.argv[1]](int(sys.argv[2]))
