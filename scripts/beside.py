"""Give a process and everything below it the normal CPU and I/O priority again.

``make test`` runs the checks at the lowest priority beside the deployment suite, then calls this
with the checks' process id once the suite has ended. Raising a priority needs root (as in CI); for
anyone else this changes nothing, and the checks go on at the lowest priority.
"""

from __future__ import annotations

import os
import shutil
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


def main(root: int) -> None:
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


if __name__ == "__main__":
    main(int(sys.argv[1]))
