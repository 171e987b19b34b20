"""``python -m benchmarks [NAME ...]``: run benchmarks, print figures.

NAME is any of pagination, deferral, polling, retries, imports, artifacts, job_reads, listing (default: all).

Exit status: 0 when every ``CHECK`` passed and every ``TARGET`` was met; 1 when a check failed
(wrong results); 2 for a usage error; 3 when only performance targets were missed
(``--targets report`` turns that into 0, for machines too slow or too busy for the targets to
mean anything).
"""

from __future__ import annotations

import os
import shutil
import tempfile

# Airflow reads its home once, at import: a throw-away one, set before anything imports Airflow.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="dataops-benchmarks-airflow-home-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
# The trigger logs one INFO line per poll (tens of thousands at full size); warnings still show.
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402

BENCHMARKS = ("pagination", "deferral", "polling", "retries", "imports", "artifacts", "job_reads", "listing")


def build_parser() -> argparse.ArgumentParser:
    """The command line: benchmark names and size flags."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks of the DataOps.live provider against its emulator (a local subprocess).",
    )
    parser.add_argument(
        "benchmarks",
        nargs="*",
        metavar="BENCHMARK",
        help=f"any of {', '.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument("--projects", type=int, default=10_000, help="pagination: projects to seed (%(default)s)")
    parser.add_argument(
        "--rounds", type=int, default=5, help="pagination: rounds against hand-written loops (%(default)s)"
    )
    parser.add_argument("--triggers", type=int, default=1_000, help="deferral: concurrent triggers (%(default)s)")
    parser.add_argument(
        "--poll-interval", type=float, default=1.0, help="deferral: the triggers' poll_interval (%(default)s s)"
    )
    parser.add_argument(
        "--pipeline-seconds",
        type=float,
        default=10.0,
        help="deferral: shortest pipeline duration; durations spread over [s, 2s] (%(default)s s)",
    )
    parser.add_argument(
        "--failures", type=int, default=20, help="retries: consecutive 503s before success (%(default)s)"
    )
    parser.add_argument(
        "--repetitions", type=int, default=15, help="imports: pairs of fresh interpreters (%(default)s)"
    )
    parser.add_argument(
        "--importtime", action="store_true", help="imports: also list the largest imports by -X importtime"
    )
    parser.add_argument(
        "--artifact-mib", type=int, default=1024, help="artifacts: size of the streamed artifact (%(default)s MiB)"
    )
    parser.add_argument(
        "--waits", type=int, default=1_000, help="polling: waits of the request-rate part (%(default)s)"
    )
    parser.add_argument("--many-waits", type=int, default=10_000, help="polling: waits in one event loop (%(default)s)")
    parser.add_argument(
        "--interval", type=float, default=30.0, help="polling: the poll interval measured (%(default)s s)"
    )
    parser.add_argument(
        "--scaled-interval",
        type=float,
        default=3.0,
        help="polling: the interval the request-rate part runs at, standing for --interval (%(default)s s)",
    )
    parser.add_argument(
        "--pipelines", type=int, default=10_000, help="listing: pipelines at the large size; a tenth at the small"
    )
    parser.add_argument(
        "--polling-parts",
        default="1,2,3",
        help="polling: which parts to run, comma-separated (%(default)s)",
    )
    parser.add_argument(
        "--burst-waits", type=int, default=200, help="polling part 3: waits started together (%(default)s)"
    )
    parser.add_argument(
        "--restart-waits", type=int, default=1_000, help="polling part 3: waits of a restart (%(default)s)"
    )
    parser.add_argument(
        "--throttled-waits",
        type=int,
        default=1_000,
        help="polling part 3: waits against the emulator throttled to 2,000 requests/min (%(default)s)",
    )
    parser.add_argument(
        "--waiters-per-job", type=int, default=5, help="job_reads: deferred tasks per job (%(default)s)"
    )
    parser.add_argument(
        "--targets",
        choices=("enforce", "report"),
        default="enforce",
        help="enforce: a missed performance target exits 3; report: print it only (default: %(default)s)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen benchmarks and return the exit status.

    :param argv: the arguments (default: ``sys.argv[1:]``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if unknown := [name for name in args.benchmarks if name not in BENCHMARKS]:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    if (
        min(
            args.projects,
            args.rounds,
            args.triggers,
            args.repetitions,
            args.artifact_mib,
            args.waits,
            args.many_waits,
            args.pipelines,
            args.waiters_per_job,
        )
        < 1
        or min(args.burst_waits, args.restart_waits, args.throttled_waits) < 1
        or args.failures < 0
        or min(args.poll_interval, args.interval, args.scaled_interval) <= 0
    ):
        parser.error("sizes must be positive (--failures may be 0)")
    chosen = list(dict.fromkeys(args.benchmarks)) or list(BENCHMARKS)

    import airflow

    from airflow_provider_dataops import __version__
    from benchmarks import artifacts, deferral, imports, job_reads, listing, pagination, polling, retries

    print(
        f"airflow-provider-dataops {__version__}, Airflow {airflow.__version__}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}",
        flush=True,
    )
    reports = []
    for name in chosen:
        if name == "pagination":
            reports.append(pagination.run(args.projects, args.rounds))
        elif name == "deferral":
            reports.append(deferral.run(args.triggers, args.poll_interval, args.pipeline_seconds))
        elif name == "polling":
            reports.append(
                polling.run(
                    args.waits,
                    args.many_waits,
                    args.interval,
                    args.scaled_interval,
                    parts=frozenset(int(part) for part in args.polling_parts.split(",") if part.strip()),
                    burst=args.burst_waits,
                    restart=args.restart_waits,
                    throttled=args.throttled_waits,
                )
            )
        elif name == "retries":
            reports.append(retries.run(args.failures))
        elif name == "artifacts":
            reports.append(artifacts.run(args.artifact_mib))
        elif name == "listing":
            reports.append(listing.run(args.pipelines))
        elif name == "job_reads":
            reports.append(job_reads.run(args.waiters_per_job, args.poll_interval, args.pipeline_seconds))
        else:
            reports.append(imports.run(args.repetitions, args.importtime))

    print("\n== summary ==")
    for report in reports:
        checks = "PASS" if report.checks_passed else "FAIL"
        targets = "PASS" if report.targets_met else "FAIL"
        print(f"   {report.name:<12} checks {checks}  targets {targets}")
    if not all(report.checks_passed for report in reports):
        return 1
    if args.targets == "enforce" and not all(report.targets_met for report in reports):
        return 3
    return 0


if __name__ == "__main__":
    try:
        status = main()
    finally:
        shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)
    sys.exit(status)
