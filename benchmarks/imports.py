"""``imports``: what importing the provider's task modules adds to ``import airflow.sdk``.

A worker or a DAG processor imports ``airflow.sdk`` anyway; the provider's operators, sensor,
trigger, hooks and links should add little to it. Each repetition starts two fresh interpreters
side by side, in alternating order: one imports ``airflow.sdk``, the other ``airflow.sdk`` and then
the task modules. Both time their imports in-process as CPU time (``time.process_time``):
start-up is left out, and time spent waiting for a busy machine's CPU does not count. Byte code
is cached as for an installed package (``PYTHONDONTWRITEBYTECODE`` is dropped for the probes, so
the warm-up run writes it).

Two ratios are printed: the ratio of the two medians, and the ratio within each interpreter that
imported both (its whole import time over its ``airflow.sdk`` part). On a busy machine
``airflow.sdk`` alone varies by more than the 1.5% target between interpreters, which buries a
1.5% difference between medians; the same interpreter's two parts share its CPU state, so the
target is judged on the second ratio.

The checks: importing the task modules loads no HTTP library that ``airflow.sdk`` did not already
load (``requests``/``urllib3`` are imported when a hook first connects), and no trigger machinery
(``airflow.triggers.base``, the provider's triggers: a task imports its trigger when it defers). Optionally
(``--importtime``), the modules the provider adds are listed by ``python -X importtime`` self time.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass

from benchmarks._support import Report, fmt_seconds

#: What a DAG file imports for its tasks. The triggers are not among them: the triggerer imports
#: them, and a task imports one only when it defers.
TASK_MODULES = (
    "airflow_provider_dataops.operators.pipeline",
    "airflow_provider_dataops.operators.project",
    "airflow_provider_dataops.operators.jobs",
    "airflow_provider_dataops.operators.artifacts",
    "airflow_provider_dataops.operators.schedules",
    "airflow_provider_dataops.operators.pipeline_job",
    "airflow_provider_dataops.operators.task_group",
    "airflow_provider_dataops.sensors.pipeline",
    "airflow_provider_dataops.hooks.dataops",
    "airflow_provider_dataops.hooks.dataops_async",
    "airflow_provider_dataops.links",
)
HTTP_STACK = ("requests", "urllib3", "charset_normalizer", "httpx", "httpcore", "tenacity")
#: Trigger machinery a task needs only once it defers: Airflow's trigger base and the provider's triggers.
TRIGGER_MODULES = ("airflow.triggers.base", "airflow_provider_dataops.triggers.")
#: The provider may add this much to ``import airflow.sdk``.
TARGET_RATIO = 1.015
PROBE_TIMEOUT = 120.0

_PROBE = """
import json, sys, time
start = time.process_time()
import airflow.sdk
sdk_done = time.process_time()
for name in {modules!r}:
    __import__(name)
end = time.process_time()
print(json.dumps({{"total": end - start, "provider": end - sdk_done, "modules": sorted(sys.modules)}}))
"""


@dataclass(frozen=True)
class Probe:
    """One fresh interpreter's timings.

    :param total: CPU seconds from before ``import airflow.sdk`` to after the last module.
    :param provider: CPU seconds spent on the task modules alone (0 for the baseline).
    :param modules: Every module loaded at the end.
    """

    total: float
    provider: float
    modules: frozenset[str]


def _probe(modules: tuple[str, ...], *flags: str) -> tuple[Probe, str]:
    """Run one fresh interpreter importing ``airflow.sdk`` then ``modules``; returns it and its stderr."""
    # An installed wheel has its byte code compiled; without it each run would time the compiler.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    result = subprocess.run(
        [sys.executable, *flags, "-c", _PROBE.format(modules=modules)],
        env=env,
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT,
        check=True,
    )
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return Probe(data["total"], data["provider"], frozenset(data["modules"])), result.stderr


def _top_self_times(stderr: str, skip: frozenset[str], count: int) -> list[tuple[str, int]]:
    """The ``count`` modules not in ``skip`` with the largest ``-X importtime`` self time (µs)."""
    rows: list[tuple[str, int]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if name not in skip:
            rows.append((name, int(self_us)))
    return sorted(rows, key=lambda row: -row[1])[:count]


def run(repetitions: int, importtime: bool = False) -> Report:
    """Time ``import airflow.sdk`` with and without the task modules, ``repetitions`` times each.

    :param repetitions: Pairs of fresh interpreters (alternating which one starts first).
    :param importtime: Also list the provider's largest imports by ``python -X importtime``.
    :returns: the printed report.
    """
    report = Report("imports")
    report.heading(f"import airflow.sdk vs airflow.sdk + {len(TASK_MODULES)} task modules, {repetitions} pairs")
    _probe(TASK_MODULES)  # warm up: byte-code caches and the file system cache for both
    baseline: list[Probe] = []
    provider: list[Probe] = []
    for repetition in range(repetitions):
        order = ((), TASK_MODULES) if repetition % 2 == 0 else (TASK_MODULES, ())
        for modules in order:
            (provider if modules else baseline).append(_probe(modules)[0])

    base_median = statistics.median(probe.total for probe in baseline)
    with_median = statistics.median(probe.total for probe in provider)
    quartiles = statistics.quantiles([probe.total for probe in baseline], n=4) if len(baseline) > 1 else [0, 0, 0]
    spread = (quartiles[2] - quartiles[0]) / base_median
    ratio = with_median / base_median
    own_median = statistics.median(probe.provider for probe in provider)
    # Within one interpreter: its airflow.sdk import and the task modules, on the same CPU state.
    own_ratio = statistics.median(probe.total / (probe.total - probe.provider) for probe in provider)
    report.figure("import airflow.sdk (median)", f"{fmt_seconds(base_median)} (interquartile spread {spread:.1%})")
    report.figure("import airflow.sdk + task modules (median)", fmt_seconds(with_median))
    report.figure("ratio of the medians (separate interpreters)", f"{ratio:.3f} ({(ratio - 1) * 100:+.1f}%)")
    report.figure("task modules alone, same interpreter (median)", fmt_seconds(own_median))
    report.figure("ratio within the same interpreter (median)", f"{own_ratio:.3f} ({(own_ratio - 1) * 100:+.1f}%)")
    report.note("CPU time in each fresh interpreter; start-up excluded")
    if spread > TARGET_RATIO - 1:
        report.note(
            f"the baseline varies by {spread:.1%} between interpreters, more than the target's margin: the "
            "ratio of the medians is within noise here, so the target is judged within each interpreter"
        )

    baseline_modules = frozenset.intersection(*(probe.modules for probe in baseline))
    added = frozenset.union(*(probe.modules for probe in provider)) - baseline_modules
    http_added = sorted(name for name in added if name.split(".")[0] in HTTP_STACK)
    report.check(
        "task modules import no HTTP library airflow.sdk did not",
        not http_added,
        ", ".join(http_added[:5]) or f"{len(added)} modules added, none of {', '.join(HTTP_STACK)}",
    )
    trigger_added = sorted(name for name in added if name == TRIGGER_MODULES[0] or name.startswith(TRIGGER_MODULES[1]))
    report.check(
        "task modules import no trigger machinery until they defer",
        not trigger_added,
        ", ".join(trigger_added[:5]) or "neither airflow.triggers.base nor a provider trigger",
    )
    report.target(
        f"task modules add <= {(TARGET_RATIO - 1) * 100:g}% to import airflow.sdk (same interpreter)",
        own_ratio <= TARGET_RATIO,
        f"{own_ratio:.3f}",
    )

    if importtime:
        report.section("largest imports the task modules add (python -X importtime, self time)")
        _, stderr = _probe(TASK_MODULES, "-X", "importtime")
        for name, self_us in _top_self_times(stderr, baseline_modules, 10):
            report.figure(name, fmt_seconds(self_us / 1e6))
    report.finish()
    return report
