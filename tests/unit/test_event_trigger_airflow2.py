"""On Airflow 2 (no AssetWatcher) the event trigger and its example import, but the trigger is refused."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from airflow_provider_dataops.errors import DataOpsConfigError
from airflow_provider_dataops.triggers import events

pytestmark = pytest.mark.skipif(events.HAS_EVENT_TRIGGERS, reason="Airflow 3 has AssetWatcher")

EXAMPLE = Path(__file__).parents[2] / "example_dags" / "example_dataops_pipeline_events.py"


def test_the_trigger_says_it_needs_airflow_3() -> None:
    with pytest.raises(DataOpsConfigError, match="needs Airflow 3"):
        events.DataOpsPipelineEventTrigger(project="demo/p")


def test_the_example_defines_no_dag() -> None:
    names = runpy.run_path(str(EXAMPLE))
    assert "ingestion_succeeded" not in names
