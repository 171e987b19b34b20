"""NaN, infinity, absurd sizes and bools are refused where numbers are given, naming the argument."""

from __future__ import annotations

import datetime
import math
from typing import Any

import pytest
import requests_mock as rm

from airflow_provider_dataops.api import limits
from airflow_provider_dataops.api.retry import RetryPolicy
from airflow_provider_dataops.errors import DataOpsConfigError
from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator
from airflow_provider_dataops.operators.project import DataOpsCreateProjectOperator
from airflow_provider_dataops.sensors.pipeline import DataOpsPipelineSensor
from airflow_provider_dataops.triggers.pipeline import DataOpsPipelineTrigger

NAN, INF = float("nan"), float("inf")


def trigger_operator(**kwargs: Any) -> DataOpsTriggerPipelineOperator:
    return DataOpsTriggerPipelineOperator(**{"task_id": "t", "project": "demo/p", "ref": "main", **kwargs})


def pipeline_sensor(**kwargs: Any) -> DataOpsPipelineSensor:
    return DataOpsPipelineSensor(**{"task_id": "s", "project": "demo/p", "pipeline_id": 7, **kwargs})


def pipeline_trigger(**kwargs: Any) -> DataOpsPipelineTrigger:
    return DataOpsPipelineTrigger(**{"project": "demo/p", "pipeline_id": 7, **kwargs})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("poll_interval", INF),  # used to start the pipeline, then die with OverflowError
        ("poll_interval", NAN),
        ("poll_interval", 0),
        ("poll_interval", True),
        ("poll_interval", limits.DAY + 1),
        ("poll_interval", datetime.timedelta(days=2)),
        ("timeout", NAN),  # used to mean "no timeout"
        ("timeout", INF),
        ("timeout", 1e12),
        ("timeout", datetime.timedelta.max),
        ("timeout", -datetime.timedelta(seconds=1)),
        ("timeout", False),
        ("failure_log_lines", True),
        ("failure_log_lines", 2.0),
        ("failure_log_lines", limits.MAX_LOG_LINES + 1),
    ],
)
def test_operator_numbers(name: str, value: Any, requests_mock: rm.Mocker) -> None:
    with pytest.raises(DataOpsConfigError, match=f"^{name} must be "):
        trigger_operator(**{name: value})
    assert requests_mock.call_count == 0


def test_operator_bounds_are_inclusive() -> None:
    op = trigger_operator(poll_interval=limits.MAX_POLL_INTERVAL, timeout=datetime.timedelta(days=366))
    assert (op.poll_interval, op.timeout) == (86400.0, 366 * 86400.0)


@pytest.mark.parametrize(
    ("hook_params", "fragment"),
    [
        ({"timeout": NAN}, r"^hook_params: timeout must be a number of seconds"),
        ({"timeout": 1e12}, r"^hook_params: timeout must be a number of seconds"),
        ({"retry_policy": {"max_attempts": True}}, r"^hook_params: max_attempts must be an integer from 1 to 100"),
        ({"retry_policy": {"max_total_wait": NAN}}, r"^hook_params: max_total_wait must be"),
        ({"retry_policy": "fast"}, r"^hook_params: retry_policy must be a RetryPolicy or a mapping"),
    ],
)
def test_hook_params_numbers(hook_params: dict[str, Any], fragment: str) -> None:
    with pytest.raises(DataOpsConfigError, match=fragment):
        trigger_operator(hook_params=hook_params)


@pytest.mark.parametrize("factory", [trigger_operator, pipeline_sensor])
def test_empty_connection_id_is_reported_as_such(factory: Any) -> None:
    with pytest.raises(DataOpsConfigError, match=r"^dataops_conn_id must be the id of a 'dataops' connection"):
        factory(dataops_conn_id="")


def test_project_operator_empty_connection_id() -> None:
    with pytest.raises(DataOpsConfigError, match=r"^dataops_conn_id must be"):
        DataOpsCreateProjectOperator(task_id="p", name="n", dataops_conn_id="")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("poke_interval", INF),
        ("poke_interval", NAN),
        ("poke_interval", 1e9),
        ("timeout", NAN),
        ("timeout", INF),
        ("timeout", 1e12),
        ("failure_log_lines", -1),
    ],
)
def test_sensor_numbers(name: str, value: Any) -> None:
    with pytest.raises(DataOpsConfigError, match=f"^{name} must be "):
        pipeline_sensor(**{name: value})


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"poll_interval": INF}, "^poll_interval must be"),
        ({"poll_interval": NAN}, "^poll_interval must be"),
        ({"deadline": NAN}, "^deadline must be a time in epoch seconds"),
        ({"deadline": INF}, "^deadline must be a time in epoch seconds"),
        ({"deadline": True}, "^deadline must be a time in epoch seconds"),
        ({"timeout": INF}, "^timeout must be"),
        ({"retry_policy": {"max_attempts": True}}, "^max_attempts must be"),
    ],
)
def test_trigger_numbers(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(DataOpsConfigError, match=fragment):
        pipeline_trigger(**kwargs)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"max_attempts": True}, "^max_attempts must be an integer from 1 to 100, got True"),
        ({"max_attempts": 3.0}, "^max_attempts must be an integer"),
        ({"max_attempts": 101}, "^max_attempts must be an integer"),
        ({"max_total_wait": NAN}, r"^max_total_wait must be .* \(not a finite number\)"),
        ({"max_total_wait": -1}, "^max_total_wait must be a number of seconds"),
        ({"backoff_initial": INF}, "^backoff_initial must be"),
        ({"backoff_max": limits.DAY + 1}, "^backoff_max must be"),
        ({"max_total_wait": False}, "^max_total_wait must be"),
    ],
)
def test_retry_policy_fields(fields: dict[str, Any], fragment: str) -> None:
    with pytest.raises(DataOpsConfigError, match=fragment):
        RetryPolicy(**fields)
    with pytest.raises(DataOpsConfigError, match=fragment):
        RetryPolicy.from_dict(fields)


def test_retry_policy_zero_waits_are_allowed() -> None:
    assert RetryPolicy(max_total_wait=0, backoff_initial=0, backoff_max=0).backoff(3) == 0


def test_seconds_message_names_the_bound() -> None:
    with pytest.raises(DataOpsConfigError) as raised:
        limits.check_seconds(math.inf, "poll_interval", maximum=limits.MAX_POLL_INTERVAL)
    assert str(raised.value) == (
        "poll_interval must be a number of seconds (or a timedelta) greater than 0 and at most 86400 (1 day), "
        "got inf (not a finite number)"
    )


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda hook: list(hook.paginate("/projects", max_pages=True)), "max_pages"),
        (lambda hook: list(hook.paginate("/projects", max_pages=0)), "max_pages"),
        (lambda hook: hook.get_job_log("demo/p", 1, tail_lines=True), "tail_lines"),
        (lambda hook: hook.get_job_log("demo/p", 1, tail_lines=1.5), "tail_lines"),
        (
            lambda hook: hook.find_pipeline_by_variable("demo/p", key="K", value="v", max_candidates=True),
            "max_candidates",
        ),
    ],
)
def test_hook_counts_are_whole_numbers_before_any_request(
    call: Any, name: str, monkeypatch: pytest.MonkeyPatch, requests_mock: rm.Mocker
) -> None:
    from airflow_provider_dataops.hooks.dataops import DataOpsHook

    from .conftest import set_connection

    set_connection(monkeypatch)
    with pytest.raises(DataOpsConfigError, match=f"^{name} must be an integer"):
        call(DataOpsHook())
    assert requests_mock.call_count == 0
