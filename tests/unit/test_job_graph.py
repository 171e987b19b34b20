"""The job graph: the jobs argument, CI lint and job listings, dependencies and the on-disk cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_dataops.api.job_graph import (
    JobSpec,
    graph_from_lint,
    graph_from_pipeline_jobs,
    jobs_argument,
    newest_job_named,
    upstream_jobs,
)
from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsError, DataOpsJobNotFoundError
from airflow_provider_dataops.operators._job_graph_cache import cache_file, cached_job_graph


def test_a_list_of_names_is_a_chain_in_stage_order() -> None:
    specs = jobs_argument(["a", "b", "c"])
    assert upstream_jobs(specs) == {"a": [], "b": ["a"], "c": ["b"]}


def test_a_mapping_gives_each_job_its_needs() -> None:
    specs = jobs_argument(
        {"ingest": [], "orders": ["ingest"], "customers": ["ingest"], "docs": ["orders", "customers"]}
    )
    assert upstream_jobs(specs)["docs"] == ["orders", "customers"]


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ("Build", "jobs must be a list of job names"),
        ([], "the pipeline has no jobs"),
        (["a", "a"], "repeated: a"),
        (["a", ""], "jobs must hold non-empty job names"),
        (["a", 3], "got 3"),
        ({"a": ["b"]}, "waits for unknown jobs: b"),
        ({"a": ["b"], "b": ["a"]}, "cycle: a -> b -> a"),
        ({"a": "b"}, "must be a list of job names"),
    ],
)
def test_a_bad_jobs_argument_is_refused_naming_it(jobs: Any, message: str) -> None:
    with pytest.raises(DataOpsConfigError, match=message):
        jobs_argument(jobs)


def test_stages_order_dependencies_and_needs_win() -> None:
    specs = [
        JobSpec("init", "setup"),
        JobSpec("orders", "ingest"),
        JobSpec("customers", "ingest"),
        JobSpec("build", "transform"),
        JobSpec("docs", "docs", needs=("orders",)),
    ]
    assert upstream_jobs(specs) == {
        "init": [],
        "orders": ["init"],
        "customers": ["init"],
        "build": ["orders", "customers"],
        "docs": ["orders"],
    }


def test_ci_lint_rows_are_checked_one_by_one(caplog: pytest.LogCaptureFixture) -> None:
    answer = {
        "valid": True,
        "jobs": [
            {"name": "init", "stage": "setup"},
            {"name": "build", "stage": "transform", "needs": [{"name": "init", "artifacts": True}]},
            {"name": "docs", "stage": "docs", "needs": ["build"]},
            {"name": 7, "stage": "docs"},
            "not a job",
            {"name": "x", "stage": "s", "needs": "init"},
        ],
    }
    specs = graph_from_lint(answer)
    assert specs == [
        JobSpec("init", "setup"),
        JobSpec("build", "transform", ("init",)),
        JobSpec("docs", "docs", ("build",)),
    ]
    assert "skipped 3 malformed job rows of 6" in caplog.text


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"valid": False, "errors": ["Local file `x-ci.yml` does not exist!"]}, "invalid: Local file `x-ci.yml`"),
        ({"valid": True}, "listed no jobs"),
        ({"valid": True, "jobs": [{"name": "a"}]}, "listed no usable job"),
        ({"valid": True, "jobs": [{"name": "a", "stage": "s", "needs": ["ghost"]}]}, "unknown jobs: ghost"),
        ([], "not an object"),
    ],
)
def test_an_unusable_lint_answer_is_an_error(answer: Any, message: str) -> None:
    with pytest.raises(DataOpsError, match=message):
        graph_from_lint(answer)


def test_a_pipeline_listing_gives_each_job_once_in_creation_order() -> None:
    rows = [
        {"id": 9, "name": "build", "stage": "transform"},  # the retry of job 3
        {"id": 4, "name": "docs", "stage": "docs"},
        {"id": 3, "name": "build", "stage": "transform"},
        {"id": 2, "name": "init", "stage": "setup"},
        {"id": "x", "name": "bad", "stage": "s"},
    ]
    assert [spec.name for spec in graph_from_pipeline_jobs(rows)] == ["init", "build", "docs"]


def test_newest_job_named_lists_the_jobs_the_pipeline_has() -> None:
    jobs = [{"id": 1, "name": "a"}, {"id": 5, "name": "b"}, {"id": 7, "name": "a"}]
    assert newest_job_named(jobs, "a", 3)["id"] == 7
    with pytest.raises(DataOpsJobNotFoundError, match="Pipeline 3 has no job named 'c'; its jobs are: a, b"):
        newest_job_named(jobs, "c", 3)


KEY = {
    "conn_id": "dataops_default",
    "project": "demo/p",
    "ref": "main",
    "pipeline_file": "full-ci.yml",
    "source": "lint",
}


class Reader:
    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    def __call__(self) -> list[JobSpec]:
        self.calls += 1
        if self.fail:
            raise DataOpsError("429 Too Many Requests")
        return [JobSpec("a", "s1"), JobSpec("b", "s2")]


def test_the_graph_is_read_once_per_refresh_across_parses(tmp_path: Path) -> None:
    read, clock = Reader(), [1000.0]
    for _ in range(5):  # five parses within the refresh period
        assert [s.name for s in cached_job_graph(KEY, read, refresh=60, directory=tmp_path, now=lambda: clock[0])] == [
            "a",
            "b",
        ]
        clock[0] += 10
    assert read.calls == 1
    clock[0] += 60
    cached_job_graph(KEY, read, refresh=60, directory=tmp_path, now=lambda: clock[0])
    assert read.calls == 2


def test_a_failed_refresh_keeps_the_copy_and_backs_off(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    read, clock = Reader(), [1000.0]
    cached_job_graph(KEY, read, refresh=60, directory=tmp_path, now=lambda: clock[0])
    read.fail, clock[0] = True, 1100.0
    assert len(cached_job_graph(KEY, read, refresh=60, directory=tmp_path, now=lambda: clock[0])) == 2
    assert "using the copy read at" in caplog.text
    clock[0] = 1130.0  # within a refresh of the failed attempt: not tried again
    cached_job_graph(KEY, read, refresh=60, directory=tmp_path, now=lambda: clock[0])
    assert read.calls == 2


def test_no_copy_and_a_failed_read_fails_the_import_saying_what_to_do(tmp_path: Path) -> None:
    read = Reader()
    read.fail = True
    with pytest.raises(DataOpsConfigError, match=r"no copy is cached: 429 Too Many Requests\. Pass jobs=\[\.\.\.\]"):
        cached_job_graph(KEY, read, refresh=60, directory=tmp_path)


def test_a_corrupt_or_foreign_cache_file_is_read_again(tmp_path: Path) -> None:
    read = Reader()
    path = cache_file(tmp_path, KEY)
    path.write_text("{not json")
    cached_job_graph(KEY, read, refresh=60, directory=tmp_path)
    data = json.loads(path.read_text())
    data["key"] = {**KEY, "ref": "other"}
    path.write_text(json.dumps(data))
    cached_job_graph(KEY, read, refresh=60, directory=tmp_path)
    assert read.calls == 2
