"""The schedule maintenance example, run by the test kit against the emulator: pause, resume, play."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from airflow_provider_dataops.emulator import DataOpsEmulator

pytestmark = pytest.mark.integration

SCHEDULES = "/projects/demo%2Fdataops-project/pipeline_schedules"


def api(emulator: DataOpsEmulator, method: str, path: str, **body: Any) -> Any:
    headers = {"PRIVATE-TOKEN": emulator.access_token}
    response = requests.request(method, f"{emulator.api_url}{path}", headers=headers, json=body or None, timeout=10)
    response.raise_for_status()
    return response.json()


@pytest.mark.parametrize("active", [True, False])
def test_pauses_resumes_then_runs_the_schedule(
    dataops_run_dag: Any, dataops_emulator: DataOpsEmulator, active: bool
) -> None:
    schedule = api(
        dataops_emulator, "POST", SCHEDULES, description="Nightly", ref="main", cron="0 1 * * *", active=active
    )
    result = dataops_run_dag("dataops_schedule_maintenance", conf={"schedule_id": schedule["id"]})
    assert result.state == "success", result.task_states
    updates = [
        r["method"] for r in dataops_emulator.requests() if r["path"].endswith(f"/pipeline_schedules/{schedule['id']}")
    ]
    # each of pause and resume reads first, and writes only when the schedule is not yet in that state
    assert updates == (["GET", "PUT", "GET", "PUT"] if active else ["GET", "GET", "PUT"])
    after = api(dataops_emulator, "GET", f"{SCHEDULES}/{schedule['id']}")
    assert after["active"] is True
    [pipeline] = dataops_emulator.pipelines()
    assert (pipeline["source"], after["last_pipeline"]["id"]) == ("schedule", pipeline["id"])
