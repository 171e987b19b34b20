"""Tests of the nightly_build DAG against the local DataOps.live emulator (no account needed)."""

import pytest


@pytest.fixture(scope="session")
def dataops_emulator_options():
    # Pipelines take 10 minutes, as in production, on a manual clock: the test kit moves the
    # clock whenever the DAG waits, so no test waits for real. (Share it in conftest.py.)
    return {"clock": "manual", "pipeline_seconds": 600}


def test_nightly_build_runs_the_pipeline(dataops_run_dag):
    result = dataops_run_dag("nightly_build", conf={"target": "qa"})

    assert result.state == "success"
    assert result.task_states == {"build_sales_mart": "success"}
    (pipeline,) = result.pipelines
    assert pipeline["status"] == "success"
    assert {"key": "DATAOPS_TARGET", "value": "qa", "variable_type": "env_var"} in pipeline["variables"]
    # What the task pushed: the pipeline's id as its return value, and its URL.
    assert result.xcom("build_sales_mart") == pipeline["id"]
    assert result.xcom("build_sales_mart", key="pipeline_url") == pipeline["web_url"]


def test_nightly_build_waits_out_rate_limits(dataops_run_dag, dataops_emulator):
    # The next three status reads are throttled for 30 s each; the run still succeeds.
    dataops_emulator.inject_fault(
        method="GET", path=r"/pipelines/\d+$", status=429, headers={"Retry-After": "30"}, times=3
    )

    result = dataops_run_dag("nightly_build")

    assert result.state == "success"
    assert [r["status"] for r in dataops_emulator.requests()].count(429) == 3


def test_nightly_build_fails_without_permission(dataops_run_dag, dataops_emulator):
    # Every pipeline request is refused: the task fails, and no pipeline was started.
    dataops_emulator.inject_fault(method="POST", path=r"/pipeline$", status=403, times=0)

    result = dataops_run_dag("nightly_build")

    assert result.state == "failed"
    assert result.task_states == {"build_sales_mart": "failed"}
    assert result.pipelines == []
    # What the task raised, as "<ExceptionType>: <message>".
    assert result.errors["build_sales_mart"].startswith("DataOpsPermissionError: ")
    assert "403" in result.errors["build_sales_mart"]
