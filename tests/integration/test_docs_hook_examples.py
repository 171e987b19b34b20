"""The hook examples in docs/hook.rst and docs/errors-and-retries.rst run against the emulator."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from airflow_provider_dataops.errors import DataOpsRequestMaybeAppliedError
from airflow_provider_dataops.hooks.dataops import DataOpsHook

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "hook"
PROJECT = "demo/dataops-project"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_create_hooks_builds_the_same_policy_from_an_object_and_a_dict() -> None:
    module = load("create_hooks")
    assert module.hook.dataops_conn_id == "dataops_default"
    assert module.prod.retry_policy == module.same.retry_policy
    assert module.prod.retry_policy.max_attempts == 4


def test_last_failure_task_lists_the_failed_jobs(dataops_connection_env: Any) -> None:
    module = load("last_failure_dag")
    assert module.last_failure.function() == []  # no failed pipeline yet
    hook = DataOpsHook()
    hook.trigger_pipeline(
        PROJECT, "main", variables={"DATAOPS_EMULATOR_OUTCOME": "failed", "DATAOPS_EMULATOR_SECONDS": 0}
    )
    assert module.last_failure.function() == ["Generate Docs: script_failure"]


def test_any_endpoint_reads_the_latest_pipeline(dataops_connection_env: Any) -> None:
    module = load("any_endpoint")
    hook = DataOpsHook()
    started = hook.trigger_pipeline(PROJECT, "main")
    assert module.latest_pipeline(hook)["id"] == started["id"]


def test_start_once_finds_the_pipeline_a_lost_answer_started(dataops_connection_env: Any) -> None:
    module = load("start_once")
    emulator = dataops_connection_env
    # The trigger takes effect, but its answer is lost: the hook raises, start_once looks it up.
    emulator.inject_fault("drop_after", method="POST", path=r"/pipeline$")
    pipeline = module.start_once(DataOpsHook(), PROJECT, "probe")
    assert [p["id"] for p in emulator.pipelines()] == [pipeline["id"]]
    assert [r["method"] for r in emulator.requests()].count("POST") == 1  # one trigger, never repeated


def test_the_lost_answer_raises_what_start_once_catches(dataops_connection_env: Any) -> None:
    dataops_connection_env.inject_fault("drop_after", method="POST", path=r"/pipeline$")
    with pytest.raises(DataOpsRequestMaybeAppliedError):
        DataOpsHook().trigger_pipeline(PROJECT, "main")


def test_start_once_starts_a_pipeline_when_the_answer_arrives(dataops_connection_env: Any) -> None:
    module = load("start_once")
    pipeline = module.start_once(DataOpsHook(), PROJECT, "run-1")
    assert [p["id"] for p in dataops_connection_env.pipelines()] == [pipeline["id"]]
