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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``--dist loadgroup``), every deployment test goes to one worker: one deployment."""
    for item in items:
        if item.get_closest_marker("deployment") is not None:
            item.add_marker(pytest.mark.xdist_group("deployment"))
