"""The hook's listing of every project against the loops a user would otherwise write, in one run.

Each round lists every project with each client, in a rotated order so that none always runs
first or last on a machine whose load drifts:

* ``hook``: ``DataOpsHook().list_projects()`` (keyset, 100 per page), a new hook each time;
* ``bare requests.get``: the plainest loop, ``requests.get`` per page following ``Link: next``;
* ``bare requests.Session``: the same loop through one ``requests.Session``;
* ``python-gitlab``: ``gl.projects.list(iterator=True)`` with the same keyset parameters.

The figures are medians over the rounds; ratios are the median time of the hook against the median
time of a baseline (below 1: the hook is faster). This process's CPU time per listing is printed
too: on a loaded machine the wall times mostly measure the wait for the server's share of the CPU.
The target compares the wall time of the hook with the plain ``requests.get`` loop; the
``Session`` loop and python-gitlab are printed for reference.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable

from benchmarks._support import EmulatorProcess, Report, fmt_seconds

PER_PAGE = 100
#: Rounds by default; each lists every project once with every client.
ROUNDS = 5
#: The hook may take at most this share of the plain ``requests.get`` loop's time.
TARGET_RATIO = 0.9
KEYSET: dict[str, str] = {"pagination": "keyset", "order_by": "id", "sort": "asc", "per_page": str(PER_PAGE)}


def _bare_get(url: str, token: str) -> int:
    import requests

    count, params = 0, dict(KEYSET)
    page_url: str | None = f"{url}/api/v4/projects"
    while page_url:
        response = requests.get(page_url, params=params, headers={"PRIVATE-TOKEN": token}, timeout=30)
        response.raise_for_status()
        count += len(response.json())
        page_url, params = response.links.get("next", {}).get("url"), {}
    return count


def _bare_session(url: str, token: str) -> int:
    import requests

    count, params = 0, dict(KEYSET)
    page_url: str | None = f"{url}/api/v4/projects"
    with requests.Session() as session:
        session.headers["PRIVATE-TOKEN"] = token
        while page_url:
            response = session.get(page_url, params=params, timeout=30)
            response.raise_for_status()
            count += len(response.json())
            page_url, params = response.links.get("next", {}).get("url"), {}
    return count


def _python_gitlab(url: str, token: str) -> int:
    import gitlab

    client = gitlab.Gitlab(url, private_token=token, pagination="keyset", order_by="id", per_page=PER_PAGE)
    try:
        return sum(1 for _ in client.projects.list(iterator=True, sort="asc"))
    finally:
        client.session.close()


def _hook(url: str, token: str) -> int:
    from airflow_provider_dataops.hooks.dataops import DataOpsHook

    hook = DataOpsHook()
    try:
        return sum(1 for _ in hook.list_projects())
    finally:
        hook.close()


CLIENTS: dict[str, Callable[[str, str], int]] = {
    "hook": _hook,
    "bare requests.get": _bare_get,
    "bare requests.Session": _bare_session,
    "python-gitlab": _python_gitlab,
}


def compare(report: Report, emulator: EmulatorProcess, total: int, rounds: int) -> None:
    """List all ``total`` projects ``rounds`` times with every client and report the ratios.

    :param report: where the figures, checks and target go.
    :param emulator: the running emulator, seeded.
    :param total: how many projects it lists.
    :param rounds: how many rounds (each client once per round).
    """
    token = json.loads(emulator.connection_json)["password"]
    names = list(CLIENTS)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    counts: dict[str, set[int]] = {name: set() for name in names}
    report.section(f"the hook against hand-written loops: {rounds} rounds, rotated order")
    load_before = os.getloadavg()[0]
    for name in names:  # a warm-up pass each: imports and the first connection are not timed
        CLIENTS[name](emulator.url, token)
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            start, start_cpu = time.perf_counter(), time.process_time()
            counts[name].add(CLIENTS[name](emulator.url, token))
            seconds[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    load_after = os.getloadavg()[0]
    report.figure("1-minute load average before / after", f"{load_before:.2f} / {load_after:.2f}")
    medians = {name: statistics.median(times) for name, times in seconds.items()}
    for name in names:
        spread = f"{fmt_seconds(min(seconds[name]))}-{fmt_seconds(max(seconds[name]))}"
        report.figure(f"{name}: median wall time (range)", f"{fmt_seconds(medians[name])} ({spread})")
    cpu_medians = {name: statistics.median(times) for name, times in cpu.items()}
    for name in names:
        report.figure(f"{name}: median client CPU time", fmt_seconds(cpu_medians[name]))
    for name in names[1:]:
        report.figure(f"client CPU, hook / {name}", f"{cpu_medians['hook'] / cpu_medians[name]:.2f}")
    for name in names[1:]:
        per_round = [hook / other for hook, other in zip(seconds["hook"], seconds[name], strict=True)]
        report.figure(
            f"hook / {name} (median times; per round)",
            f"{medians['hook'] / medians[name]:.2f} ({min(per_round):.2f}-{max(per_round):.2f})",
        )
    for name in names:
        report.check(f"{name}: every project listed, every round", counts[name] == {total}, str(sorted(counts[name])))
    ratio = medians["hook"] / medians["bare requests.get"]
    report.target(f"hook / bare requests.get loop <= {TARGET_RATIO}", ratio <= TARGET_RATIO, f"{ratio:.2f}")
