"""One real Airflow 3.3 deployment for the whole session, always torn down (see ``_deployment.py``)."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deployment._deployment import Deployment


@pytest.fixture(scope="session")
def deployment() -> Iterator[Deployment]:
    pytest.importorskip("airflow.sdk", reason="the deployment suite runs a real Airflow 3")
    root = Path(tempfile.mkdtemp(prefix="dataops-deployment-"))
    os.chmod(root, 0o755)  # PostgreSQL runs as its own user below it
    deployment = Deployment(root, database=os.environ.get("DATAOPS_DEPLOYMENT_DB", "postgres"))

    def on_sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")  # so the finalizer below runs

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()
        signal.signal(signal.SIGTERM, previous)
        if os.environ.get("DATAOPS_DEPLOYMENT_KEEP"):
            print(f"deployment files kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


#: The modules of the second deployment: the ones whose scenarios wait longest on real time, and
#: the restarts (about half of the suite's 14.5 minutes when one deployment ran it all). Under
#: pytest-xdist (``-n 2 --dist loadgroup``, as ``make deployment`` runs it) each half goes to a
#: process, and so to a deployment, of its own; without ``-n`` one deployment runs every module.
SECOND_DEPLOYMENT = frozenset({"test_task_group", "test_pipeline_events", "test_job_logs", "test_restarts"})
#: Runs last in its deployment: it restarts the scheduler and the triggerer.
LAST = "test_restarts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put each deployment test in its half's ``xdist_group`` (one process, one deployment), the restarts last."""
    items.sort(key=lambda item: item.path.stem == LAST)  # stable: the rest keep their order
    for item in items:
        if item.get_closest_marker("deployment") is not None:
            half = "second" if item.path.stem in SECOND_DEPLOYMENT else "first"
            item.add_marker(pytest.mark.xdist_group(f"deployment-{half}"))
