"""``dataops-emulator`` / ``python -m airflow_provider_dataops.emulator``: serve the emulator."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from airflow_provider_dataops.emulator.server import DataOpsEmulator
from airflow_provider_dataops.emulator.state import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_PIPELINE_SECONDS,
    DEFAULT_TRIGGER_TOKEN,
)

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="dataops-emulator",
        description="Serve a local emulator of the DataOps.live (GitLab v4) API for tests and demos.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port; 0 picks a free one (default: %(default)s)")
    parser.add_argument("--access-token", default=DEFAULT_ACCESS_TOKEN, help="the seeded personal access token")
    parser.add_argument("--trigger-token", default=DEFAULT_TRIGGER_TOKEN, help="the seeded pipeline trigger token")
    parser.add_argument(
        "--pipeline-seconds",
        type=float,
        default=DEFAULT_PIPELINE_SECONDS,
        help="how long a pipeline takes to settle (default: %(default)s)",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        metavar="PER_MINUTE",
        help="requests per minute per token (or IP) before 429; off by default",
    )
    parser.add_argument(
        "--clock",
        choices=("real", "manual"),
        default="real",
        help="manual: time moves only via POST /-/emulator/clock/advance",
    )
    parser.add_argument(
        "--pipeline-file",
        action="append",
        dest="pipeline_files",
        metavar="FILE",
        help="a pipeline file every project has (repeatable; default: full-ci.yml)",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        metavar="PATH",
        help="once listening, also write the KEY=value lines to PATH, for `set -a; . PATH; set +a`; removed on exit",
    )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="warning",
        help="info and below also print a (redacted) request log (default: %(default)s)",
    )
    return parser


def write_env_file(path: Path, lines: str) -> None:
    """Write ``lines`` to ``path`` in one step, so a reader never sees half a file.

    :param path: the env file.
    :param lines: its content.
    """
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(lines)
    partial.chmod(0o600)
    os.replace(partial, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGINT or SIGTERM.

    Prints ``KEY=value`` lines (shell-quoted where needed) once it is listening, then serves.
    With ``--env-file`` the same lines go to that file, which exists only while the server runs.

    :param argv: the arguments (default: ``sys.argv[1:]``).
    :returns: the exit status.
    """
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.log_level == "trace" else getattr(logging, args.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    emulator = DataOpsEmulator(
        host=args.host,
        port=args.port,
        pipeline_seconds=args.pipeline_seconds,
        access_token=args.access_token,
        trigger_token=args.trigger_token,
        rate_limit=args.rate_limit,
        clock=args.clock,
        pipeline_files=args.pipeline_files or ("full-ci.yml",),
        log_level=args.log_level,
    )
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    env_file: Path | None = args.env_file
    if env_file is not None:
        # A script waiting for the file must not pick up one left by an earlier run.
        env_file.unlink(missing_ok=True)
    with emulator:
        values = {
            "DATAOPS_EMULATOR_URL": emulator.url,
            "DATAOPS_EMULATOR_API_URL": emulator.api_url,
            "DATAOPS_EMULATOR_ACCESS_TOKEN": emulator.access_token,
            "DATAOPS_EMULATOR_TRIGGER_TOKEN": emulator.trigger_token,
            "AIRFLOW_CONN_DATAOPS_DEFAULT": emulator.airflow_connection_json(),
        }
        lines = "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())
        try:
            if env_file is not None:
                write_env_file(env_file, lines)
            print(lines, end="", flush=True)
            while not stop.wait(0.5):
                pass
        finally:
            if env_file is not None:
                with contextlib.suppress(OSError):
                    env_file.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
