"""DataOpsPipelineTaskGroup at DAG parse time: its tasks, their wiring, argument checks and the cached graph."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_dataops.errors import DataOpsConfigError
from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.operators.pipeline import DataOpsTriggerPipelineOperator
from airflow_provider_dataops.operators.pipeline_job import DataOpsPipelineJobOperator
from airflow_provider_dataops.operators.task_group import DataOpsPipelineTaskGroup, job_task_id

JOBS = ["Initialise Pipeline", "Ingest Source Data", "Build all Models", "Generate Docs"]
ARGS: dict[str, Any] = {"project": "demo/dataops-project", "ref": "main", "pipeline_file": "full-ci.yml"}


def make(**kwargs: Any) -> tuple[DAG, DataOpsPipelineTaskGroup]:
    with DAG("g", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        group = DataOpsPipelineTaskGroup(group_id="nightly", **{**ARGS, **kwargs})
    return dag, group


def test_the_group_has_a_start_task_and_a_task_per_job_in_stage_order() -> None:
    dag, group = make(jobs=JOBS, deferrable=True, poll_interval=15, variables={"X": 1})
    assert sorted(dag.task_ids) == sorted(
        [
            "nightly.start",
            "nightly.initialise_pipeline",
            "nightly.ingest_source_data",
            "nightly.build_all_models",
            "nightly.generate_docs",
        ]
    )
    start = dag.get_task("nightly.start")
    assert isinstance(start, DataOpsTriggerPipelineOperator)
    assert start.wait_for_completion is False
    build = dag.get_task("nightly.build_all_models")
    assert isinstance(build, DataOpsPipelineJobOperator)
    assert (build.job_name, build.task_display_name, build.deferrable, build.poll_interval) == (
        "Build all Models",
        "Build all Models",
        True,
        15.0,
    )
    assert build.pipeline_id == "{{ ti.xcom_pull(task_ids='nightly.start') }}"
    assert build.upstream_task_ids == {"nightly.ingest_source_data"}
    assert dag.get_task("nightly.initialise_pipeline").upstream_task_ids == {"nightly.start"}
    assert set(group.job_tasks) == set(JOBS)


def test_needs_fan_out_and_in() -> None:
    dag, _ = make(jobs={"Ingest": [], "Orders": ["Ingest"], "Customers": ["Ingest"], "Docs": ["Orders", "Customers"]})
    assert dag.get_task("nightly.docs").upstream_task_ids == {"nightly.orders", "nightly.customers"}
    assert dag.get_task("nightly.ingest").upstream_task_ids == {"nightly.start"}


def test_task_ids_are_made_unique() -> None:
    taken: set[str] = set()
    assert [job_task_id(name, taken) for name in ["Build: all", "build all", "start", "!!!"]] == [
        "build_all",
        "build_all_2",
        "start_2",
        "job",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"project": ""}, "project"),
        ({"ref": ""}, "ref"),
        ({"pipeline_file": "full.yml"}, "-ci.yml"),
        ({"on_running": "maybe"}, "on_running"),
        ({"manual_job": "ignore"}, "manual_job must be one of 'wait', 'play'"),
        ({"poll_interval": -1}, "poll_interval"),
        ({"timeout": float("nan")}, "timeout"),
        ({"jobs": "Build"}, "jobs must be a list"),
        ({"job_graph_source": "guess"}, "job_graph_source must be one of"),
        ({"job_graph_refresh": -5}, "job_graph_refresh"),
        ({"jobs": None, "pipeline_file": None}, "job_graph_source='lint' needs pipeline_file"),
        ({"hook_params": {"nope": 1}}, "hook_params"),
    ],
)
def test_bad_arguments_fail_the_parse_naming_the_argument(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DataOpsConfigError, match=message):
        make(**{"jobs": JOBS, **kwargs})


def test_without_jobs_the_graph_comes_from_ci_lint_once_per_refresh(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, conn: None
) -> None:
    monkeypatch.setenv("AIRFLOW__DATAOPS__JOB_GRAPH_CACHE_DIR", str(tmp_path))
    calls: list[dict[str, Any]] = []

    def lint(self: DataOpsHook, project: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append({"project": project, **kwargs})
        return {
            "valid": True,
            "jobs": [
                {"name": "Ingest", "stage": "ingest"},
                {"name": "Build", "stage": "transform"},
                {"name": "Test", "stage": "transform"},
                {"name": "Docs", "stage": "docs", "needs": ["Build"]},
            ],
        }

    monkeypatch.setattr(DataOpsHook, "lint_pipeline_file", lint)
    for _ in range(3):  # three parses
        dag, _group = make()
    assert calls == [{"project": "demo/dataops-project", "ref": "main", "pipeline_file": "full-ci.yml"}]
    assert dag.get_task("nightly.test").upstream_task_ids == {"nightly.ingest"}
    assert dag.get_task("nightly.docs").upstream_task_ids == {"nightly.build"}
    assert len(list(tmp_path.glob("*.json"))) == 1
