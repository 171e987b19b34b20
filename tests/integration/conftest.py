"""Integration fixtures: the emulator (fast pipelines), the example DAGs, and OpenLineage event capture."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from airflow_provider_dataops.api import retry

EXAMPLE_DAGS = Path(__file__).parents[2] / "example_dags"


@pytest.fixture(scope="session")
def dataops_emulator_options() -> dict[str, Any]:
    return {"pipeline_seconds": 2}


@pytest.fixture(scope="session")
def example_dag_bag(dataops_airflow: Any) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag
    return DagBag(str(EXAMPLE_DAGS))


@pytest.fixture
def sleeps_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry waits capped at 0.2 s: the hook still honours each wait, just shorter."""
    import asyncio
    import time

    monkeypatch.setattr(retry, "sleep", lambda seconds: time.sleep(min(seconds, 0.2)))

    async def short(seconds: float) -> None:
        await asyncio.sleep(min(seconds, 0.2))

    monkeypatch.setattr(retry, "async_sleep", short)


def task_context(try_number: int = 1, run_id: str = "manual__it") -> dict[str, Any]:
    """A minimal task context for driving an operator directly against the emulator."""
    ti = mock.MagicMock()
    ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number = "it_dag", run_id, "it_task", -1, try_number
    ti.start_date = datetime.datetime.now(datetime.timezone.utc)
    ti.stats_tags = {}
    dag_run = mock.MagicMock(start_date=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1))
    return {"ti": ti, "dag_run": dag_run}


# -- OpenLineage: the provider's listener during real DAG runs --------------------------------------


def _clear_openlineage_caches() -> None:
    """The provider caches its configuration; the tests change it."""
    from airflow.providers.openlineage import conf as ol_conf

    for name in dir(ol_conf):
        cache_clear = getattr(getattr(ol_conf, name), "cache_clear", None)
        if callable(cache_clear):
            cache_clear()


def _listener_manager() -> Any:
    try:
        from airflow.sdk.listener import get_listener_manager  # Airflow 3: task events come from the SDK
    except ImportError:
        from airflow.listeners.listener import get_listener_manager
    return get_listener_manager()


class CapturedEvents:
    """The OpenLineage events the listener wrote to its file transport."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def all(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def for_task(self, dag_id: str, task_id: str) -> list[dict[str, Any]]:
        return [event for event in self.all() if event.get("job", {}).get("name") == f"{dag_id}.{task_id}"]


@pytest.fixture
def openlineage_events(tmp_path: Path) -> Iterator[CapturedEvents]:
    """OpenLineage on, for this test: the provider's own listener, writing events to a file.

    Configured as a user would (a file transport in ``[openlineage] transport``).
    """
    pytest.importorskip("airflow.providers.openlineage")
    from airflow.providers.openlineage.plugins.listener import OpenLineageListener

    # Airflow loads its listener plugins once, with OpenLineage off (tests/conftest.py): so the
    # provider's plugin registers no listener, and this test adds its own.
    manager = _listener_manager()
    path = tmp_path / "openlineage.jsonl"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW__OPENLINEAGE__DISABLED", "False")
        env.setenv(
            "AIRFLOW__OPENLINEAGE__TRANSPORT",
            json.dumps({"type": "file", "log_file_path": str(path), "append": True}),
        )
        # Emit from a thread, not a forked child of the test process (which runs the emulator).
        env.setenv("AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD", "True")
        _clear_openlineage_caches()
        listener = OpenLineageListener()
        manager.add_listener(listener)
        try:
            yield CapturedEvents(path)
        finally:
            manager.pm.unregister(listener)
    _clear_openlineage_caches()
