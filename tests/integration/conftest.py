"""Integration fixtures: the emulator (fast pipelines) and the example DAGs (the test kit runs them)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from airflow_provider_dataops import retry

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
