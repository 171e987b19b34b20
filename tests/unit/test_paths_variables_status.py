from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from airflow_provider_dataops.api.paths import check_endpoint, numeric_id, resource_id
from airflow_provider_dataops.api.statuses import (
    ACTIVE_STATUSES,
    FAILURE_STATUSES,
    TERMINAL_STATUSES,
    ManualPolicy,
    Outcome,
    PipelineStatus,
    check_job_scope,
    classify_pipeline_status,
    worth_waiting_for,
)
from airflow_provider_dataops.api.variables import normalize_variables, pipeline_variables
from airflow_provider_dataops.errors import DataOpsConfigError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (42, "42"),
        ("42", "42"),
        ("group/project", "group%2Fproject"),
        ("group/sub/project", "group%2Fsub%2Fproject"),
        ("group/we?ird#name", "group%2Fwe%3Fird%23name"),
    ],
)
def test_resource_id_encodes_exactly_once(value: object, expected: str) -> None:
    assert resource_id(value, "project") == expected


@pytest.mark.parametrize(
    "value",
    ["", " group/p", "group/../admin", "..", "group//p", "/group/p", "g/p/", "demo%2Fp", 0, -3, 1.5, True, None],
)
def test_resource_id_refuses_values_that_could_move_the_request(value: object) -> None:
    with pytest.raises(DataOpsConfigError, match="project"):
        resource_id(value, "project")


def test_numeric_id() -> None:
    assert numeric_id("17", "pipeline_id") == 17
    for bad in ("abc", 0, "1/2", None, True):
        with pytest.raises(DataOpsConfigError, match="pipeline_id"):
            numeric_id(bad, "pipeline_id")


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://evil.example/api",
        "//evil.example/x",
        "/projects?x=1",
        "/projects#f",
        "/projects/../user",
        "/projects/%2e%2e/user",
        "",
        "/a b",
    ],
)
def test_check_endpoint_refuses_urls_queries_and_dot_segments(endpoint: str) -> None:
    with pytest.raises(DataOpsConfigError, match="endpoint"):
        check_endpoint(endpoint)


def test_check_endpoint_adds_leading_slash() -> None:
    assert check_endpoint("projects/demo%2Fp") == "/projects/demo%2Fp"


def test_variables_are_converted_to_strings() -> None:
    assert normalize_variables({"A": 1, "B": 2.5, "C": True, "D": False, "E": "x", "F": Decimal("1.10")}) == {
        "A": "1",
        "B": "2.5",
        "C": "true",
        "D": "false",
        "E": "x",
        "F": "1.10",
    }


@pytest.mark.parametrize(
    ("variables", "fragment"),
    [
        ({"A": {"nested": 1}}, r"variables\['A'\] must be a string, number or boolean"),
        ({"A": [1, 2]}, r"variables\['A'\]"),
        ({"A": None}, r"variables\['A'\]"),
        ({"BAD-KEY": "x"}, "not a valid variable name"),
        ({1: "x"}, "not a valid variable name"),
        (["A"], "must be a mapping"),
    ],
)
def test_bad_variables_are_refused(variables: object, fragment: str) -> None:
    with pytest.raises(DataOpsConfigError, match=fragment):
        normalize_variables(variables)  # type: ignore[arg-type]


def test_pipeline_file_becomes_a_variable() -> None:
    assert pipeline_variables({"X": 1}, "full-ci.yml") == {"X": "1", "_PIPELINE_FILE_NAME": "full-ci.yml"}
    assert pipeline_variables(None, "other-pipelines/pipe1-ci.yml")["_PIPELINE_FILE_NAME"] == (
        "other-pipelines/pipe1-ci.yml"
    )


@pytest.mark.parametrize("pipeline_file", ["full.yml", "/full-ci.yml", "../x/full-ci.yml", 3, " full-ci.yml"])
def test_bad_pipeline_files_are_refused(pipeline_file: object) -> None:
    with pytest.raises(DataOpsConfigError, match="pipeline_file"):
        pipeline_variables(None, pipeline_file)  # type: ignore[arg-type]


def test_pipeline_file_conflicting_with_variable_is_refused() -> None:
    with pytest.raises(DataOpsConfigError, match="conflicts"):
        pipeline_variables({"_PIPELINE_FILE_NAME": "a-ci.yml"}, "b-ci.yml")


def test_all_thirteen_statuses_are_classified() -> None:
    assert len(PipelineStatus) == 13
    expected = {
        "created": Outcome.RUNNING,
        "waiting_for_resource": Outcome.RUNNING,
        "preparing": Outcome.RUNNING,
        "waiting_for_callback": Outcome.RUNNING,
        "pending": Outcome.RUNNING,
        "running": Outcome.RUNNING,
        "canceling": Outcome.RUNNING,
        "scheduled": Outcome.RUNNING,
        "success": Outcome.SUCCESS,
        "failed": Outcome.FAILURE,
        "canceled": Outcome.FAILURE,
        "skipped": Outcome.FAILURE,
        "manual": Outcome.FAILURE,
    }
    assert {status.value: classify_pipeline_status(status.value) for status in PipelineStatus} == expected
    assert {s.value for s in TERMINAL_STATUSES} == {"success", "failed", "canceled", "skipped"}
    assert FAILURE_STATUSES < TERMINAL_STATUSES
    assert PipelineStatus.MANUAL not in ACTIVE_STATUSES
    assert PipelineStatus.CANCELING in ACTIVE_STATUSES


def test_manual_policy() -> None:
    assert classify_pipeline_status("manual", ManualPolicy.SUCCEED) is Outcome.SUCCESS
    assert classify_pipeline_status("manual", ManualPolicy.WAIT) is Outcome.RUNNING
    assert classify_pipeline_status("manual", ManualPolicy.FAIL) is Outcome.FAILURE
    assert ManualPolicy.parse("wait") is ManualPolicy.WAIT
    with pytest.raises(DataOpsConfigError, match="on_manual must be one of"):
        ManualPolicy.parse("maybe", "on_manual")


def test_unknown_status_counts_as_running_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="airflow_provider_dataops.api.statuses"):
        assert classify_pipeline_status("waiting_for_quantum") is Outcome.RUNNING
        assert worth_waiting_for("waiting_for_quantum")
    assert "waiting_for_quantum" in caplog.text


def test_job_scope() -> None:
    assert check_job_scope(None) == []
    assert check_job_scope("failed") == ["failed"]
    assert check_job_scope(["failed", "canceled"]) == ["failed", "canceled"]
    for bad in ("broken", [], ["failed", "nope"]):
        with pytest.raises(DataOpsConfigError, match="scope"):
            check_job_scope(bad)


def test_unicode_digits_are_not_ids() -> None:
    with pytest.raises(DataOpsConfigError, match="pipeline_id"):
        numeric_id("²", "pipeline_id")


def test_an_already_encoded_path_is_refused_with_advice() -> None:
    with pytest.raises(DataOpsConfigError, match="looks URL-encoded"):
        resource_id("demo%2Fdataops-project", "project")


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        -float("inf"),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
    ],
)
def test_non_finite_variable_values_are_refused(value: object) -> None:
    with pytest.raises(DataOpsConfigError, match=r"^variables\['RATIO'\] must be a finite number"):
        normalize_variables({"A": "1", "RATIO": value})


def test_finite_numbers_still_become_strings() -> None:
    assert normalize_variables({"A": 1.5, "B": Decimal("2.50"), "C": 10**30, "D": -0.0}) == {
        "A": "1.5",
        "B": "2.50",
        "C": str(10**30),
        "D": "-0.0",
    }


def test_a_number_too_long_for_text_is_refused() -> None:
    with pytest.raises(DataOpsConfigError, match=r"^variables\['BIG'\] is too large"):
        normalize_variables({"BIG": 10**5000})
