"""Pipeline schedule variables: create, update, delete; shapes, idempotency, argument checks."""

from __future__ import annotations

from typing import Any

import pytest
import requests_mock as rm

from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsRequestMaybeAppliedError
from airflow_provider_dataops.hooks.dataops import DataOpsHook

from .conftest import API

VARIABLES = f"{API}/projects/demo%2Fp/pipeline_schedules/4/variables"
VARIABLE = {"key": "TARGET", "value": "prod", "variable_type": "env_var", "raw": False}
BROKEN = [{"status_code": 502, "text": "bad gateway"}]


def test_create_sends_key_value_and_type_as_text(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(VARIABLES, json=VARIABLE, status_code=201)
    assert hook.create_pipeline_schedule_variable("demo/p", 4, "TARGET", "prod") == VARIABLE
    assert requests_mock.last_request.json() == {"key": "TARGET", "value": "prod"}
    hook.create_pipeline_schedule_variable("demo/p", 4, "DRY_RUN", False, variable_type="file")
    assert requests_mock.last_request.json() == {"key": "DRY_RUN", "value": "false", "variable_type": "file"}


def test_create_is_never_repeated(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(VARIABLES, BROKEN)
    with pytest.raises(DataOpsRequestMaybeAppliedError):
        hook.create_pipeline_schedule_variable("demo/p", 4, "TARGET", "prod")
    assert requests_mock.call_count == 1


def test_update_puts_to_the_key_and_is_retried_like_a_read(
    hook: DataOpsHook, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.put(f"{VARIABLES}/TARGET", [*BROKEN, {"json": {**VARIABLE, "value": "dev"}}])
    assert hook.update_pipeline_schedule_variable("demo/p", 4, "TARGET", "dev")["value"] == "dev"
    assert requests_mock.last_request.json() == {"value": "dev"}
    assert requests_mock.call_count == 2


def test_delete_returns_the_deleted_variable_and_is_never_repeated(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.delete(f"{VARIABLES}/TARGET", json=VARIABLE, status_code=202)
    assert hook.delete_pipeline_schedule_variable("demo/p", 4, "TARGET") == VARIABLE
    requests_mock.delete(f"{VARIABLES}/TARGET", BROKEN)
    with pytest.raises(DataOpsRequestMaybeAppliedError):
        hook.delete_pipeline_schedule_variable("demo/p", 4, "TARGET")
    assert requests_mock.call_count == 2


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda h: h.create_pipeline_schedule_variable(1, 4, "bad key", "x"), "'bad key' is not a valid variable"),
        (lambda h: h.create_pipeline_schedule_variable(1, 4, "../x", "x"), "not a valid variable name"),
        (lambda h: h.create_pipeline_schedule_variable(1, 4, "A", [1]), r"schedule variable\['A'\]"),
        (lambda h: h.create_pipeline_schedule_variable(1, 4, "A", float("nan")), "finite"),
        (lambda h: h.create_pipeline_schedule_variable(1, 4, "A", "x", variable_type="secret"), "variable_type"),
        (lambda h: h.create_pipeline_schedule_variable(1, 0, "A", "x"), "schedule_id"),
        (lambda h: h.update_pipeline_schedule_variable(1, 4, "A/B", "x"), "not a valid variable name"),
        (lambda h: h.delete_pipeline_schedule_variable(1, 4, ""), "not a valid variable name"),
        (lambda h: h.delete_pipeline_schedule_variable("demo%2Fp", 4, "A"), "project"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    hook: DataOpsHook, requests_mock: rm.Mocker, call: Any, message: str
) -> None:
    with pytest.raises(DataOpsConfigError, match=message):
        call(hook)
    assert requests_mock.call_count == 0
