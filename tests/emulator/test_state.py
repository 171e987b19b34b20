"""Unit tests of the pure state model: no server, no Airflow."""

from __future__ import annotations

import time

import pytest

from airflow_provider_dataops.emulator.clock import Clock, iso, parse_iso
from airflow_provider_dataops.emulator.errors import ApiError
from airflow_provider_dataops.emulator.lifecycle import STAGES
from airflow_provider_dataops.emulator.model import composite_status
from airflow_provider_dataops.emulator.state import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_TRIGGER_TOKEN,
    DEMO_GROUP_ID,
    DEMO_PROJECT_ID,
    DEMO_PROJECT_PATH,
    INGESTION_PROJECT_ID,
    INGESTION_PROJECT_PATH,
    SEEDED_PROJECT_COUNT,
    EmulatorState,
    derive_path,
)


@pytest.fixture
def state() -> EmulatorState:
    return EmulatorState(clock="manual", pipeline_seconds=10)


@pytest.fixture
def project(state: EmulatorState):
    return state.find_project("demo/dataops-project")


def start(state, project, outcome=None, **extra):
    variables = {"_PIPELINE_FILE_NAME": "full-ci.yml", **extra}
    if outcome:
        variables["DATAOPS_EMULATOR_OUTCOME"] = outcome
    return state.create_pipeline(
        project,
        ref="main",
        variables=[{"key": k, "value": v, "variable_type": "env_var"} for k, v in variables.items()],
        source="trigger",
    )


def history(state, pipeline, steps):
    seen = []
    for step in steps:
        state.advance(step)
        seen.append(pipeline.status(state.now()))
    return seen


# -- clock ------------------------------------------------------------------------------------------


def test_manual_clock_moves_only_when_advanced():
    clock = Clock("manual", start=1000.0)
    assert clock.now() == 1000.0
    assert clock.advance(2.5) == 1002.5
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


def test_real_clock_advance_adds_an_offset_and_mode_switches_never_jump_back():
    clock = Clock("real")
    before = time.time()
    clock.advance(3600)
    assert clock.now() >= before + 3600
    clock.set_mode("manual")
    frozen = clock.now()
    assert frozen >= before + 3600
    clock.set_mode("real")
    assert clock.now() >= frozen


def test_restart_brings_the_clock_back_to_a_new_clocks_time():
    clock = Clock("real")
    clock.advance(2 * 86400)
    clock.restart()
    assert abs(clock.now() - time.time()) < 5
    fixed = Clock("manual", start=1000.0)
    fixed.advance(86400)
    fixed.restart()
    assert fixed.now() == 1000.0


def test_iso_has_milliseconds_and_z():
    assert iso(0.1234) == "1970-01-01T00:00:00.123Z"
    assert iso(None) is None
    assert parse_iso("1970-01-01T00:00:01.500Z") == 1.5
    assert parse_iso("1970-01-01T01:00:00 01:00") == 0.0  # an unencoded "+" arrives as a space


# -- seeded state -----------------------------------------------------------------------------------


def test_seeded_identity_project_and_tokens(state: EmulatorState, project):
    assert state.user.id == 1
    assert state.user.username == "dataops-user"
    token = state.token_info(DEFAULT_ACCESS_TOKEN)
    assert token is not None
    assert token.scopes == ("api",)
    assert token.expires_at
    assert state.token_info("nope") is None
    assert state.token_info(None) is None
    assert project.id == DEMO_PROJECT_ID
    assert project.default_branch == "main"
    assert project.namespace.id == DEMO_GROUP_ID
    assert project.namespace.kind == "group"
    assert state.find_project(str(DEMO_PROJECT_ID)) is project
    assert state.trigger_token_valid(project, DEFAULT_TRIGGER_TOKEN)
    assert not state.trigger_token_valid(project, DEFAULT_ACCESS_TOKEN)
    kinds = {ns.full_path: ns.kind for ns in state.namespaces()}
    assert kinds == {"dataops-user": "user", "demo": "group"}


def test_seeds_the_project_the_events_example_watches(state: EmulatorState, project):
    ingestion = state.find_project(INGESTION_PROJECT_PATH)
    assert ingestion is not None
    assert ingestion.id == INGESTION_PROJECT_ID
    assert ingestion.namespace is project.namespace
    assert ingestion.default_branch == "main"
    assert not state.trigger_token_valid(ingestion, DEFAULT_TRIGGER_TOKEN)  # the token is the demo project's
    assert [p.path_with_namespace for p in state.projects()] == [DEMO_PROJECT_PATH, INGESTION_PROJECT_PATH]


def test_reset_restores_the_seeded_state(state: EmulatorState, project):
    start(state, project)
    state.seed_projects(5)
    state.add_fault({"status": 500})
    state.record_request({"method": "GET"})
    state.set_clock_mode("real")
    state.advance(3 * 86400)  # a session's waits, added up
    state.reset()
    assert state.now() < time.time() + 86400
    assert [p.path_with_namespace for p in state.projects()] == [DEMO_PROJECT_PATH, INGESTION_PROJECT_PATH]
    assert state.pipeline_records() == []
    assert state.faults == []
    assert state.requests() == []
    assert state.clock.mode == "manual"
    again = start(state, state.find_project("1"))
    assert again.id == 1
    assert again.iid == 1


def test_tokens_must_differ():
    with pytest.raises(ValueError, match="different"):
        EmulatorState(access_token="same", trigger_token="same")


# -- projects ---------------------------------------------------------------------------------------


def test_create_project_derives_path_or_name(state: EmulatorState):
    by_name = state.create_project(name="My New Project")
    assert by_name.path == "my-new-project"
    assert by_name.namespace.kind == "user"
    by_path = state.create_project(path="only-path", namespace_id=DEMO_GROUP_ID)
    assert by_path.name == "only-path"
    assert by_path.path_with_namespace == "demo/only-path"
    branch = state.create_project(name="b", default_branch="develop")
    assert branch.default_branch == "develop"
    assert branch.has_ref("develop")
    assert branch.has_ref("main")
    full_ref = state.create_project(name="c", default_branch="refs/heads/develop")
    assert full_ref.default_branch == "main"  # ignored, as GitLab does


@pytest.mark.parametrize(
    ("fields", "status", "body"),
    [
        ({}, 400, {"error": "name, path are missing, at least one parameter must be provided"}),
        ({"name": "x", "visibility": "secret"}, 400, {"error": "visibility does not have a valid value"}),
        ({"name": "x", "namespace_id": 999}, 404, {"message": "404 Namespace Not Found"}),
    ],
)
def test_create_project_errors(state: EmulatorState, fields, status, body):
    with pytest.raises(ApiError) as caught:
        state.create_project(**fields)
    assert (caught.value.status, caught.value.body) == (status, body)


def test_duplicate_project_is_a_400_validation_dict(state: EmulatorState):
    with pytest.raises(ApiError) as caught:
        state.create_project(name="DataOps Project", path="dataops-project", namespace_id=DEMO_GROUP_ID)
    assert caught.value.status == 400
    assert caught.value.body == {
        "message": {
            "name": ["has already been taken"],
            "path": ["has already been taken"],
            "project_namespace.name": ["has already been taken"],
        }
    }


def test_invalid_path_is_a_validation_error(state: EmulatorState):
    with pytest.raises(ApiError) as caught:
        state.create_project(name="ok", path="-bad")
    assert list(caught.value.body["message"]) == ["path"]


def test_derive_path():
    assert derive_path("My  Project!") == "my-project"
    assert derive_path("Sales_Data.v2") == "sales_data.v2"


def test_seed_projects_adds_them_in_id_order(state: EmulatorState):
    # How long seeding takes is measured by the pagination benchmark (python -m benchmarks pagination).
    assert state.seed_projects(60_000) == 60_000
    projects = state.projects()
    total = 60_000 + SEEDED_PROJECT_COUNT
    assert len(projects) == total
    assert [p.id for p in projects[:3]] == [1, 2, 3]
    assert state.find_project(f"demo/seeded-project-{total}").id == total


def test_seed_into_a_new_subgroup(state: EmulatorState):
    assert state.seed_projects(2, namespace="demo/sub") == 2
    sub = state.find_namespace("demo/sub")
    assert sub is not None
    assert sub.parent_id == DEMO_GROUP_ID
    assert sub.full_path == "demo/sub"


# -- pipeline lifecycle -----------------------------------------------------------------------------


def test_success_lifecycle(state: EmulatorState, project):
    pipeline = start(state, project)
    assert pipeline.status(state.now()) == "created"
    assert history(state, pipeline, [1, 1, 3, 4, 1]) == ["pending", "running", "running", "running", "success"]
    jobs = pipeline.current_jobs()
    assert [(job.stage, job.name) for job in jobs] == list(STAGES)
    assert all(job.status(state.now()) == "success" for job in jobs)
    assert pipeline.finished(state.now()) == pipeline.created_at + 10
    assert pipeline.started(state.now()) == pipeline.created_at + 2


def test_failed_outcome(state: EmulatorState, project):
    pipeline = start(state, project, "failed")
    assert history(state, pipeline, [9.9, 0.1]) == ["running", "failed"]
    last = pipeline.current_jobs()[-1]
    assert last.status(state.now()) == "failed"
    assert last.failure_reason == "script_failure"
    log = last.visible_log(state.now())
    assert log[-1] == "ERROR: Job failed: exit code 1"
    assert any("[ERROR]" in line for line in log)


def test_canceled_outcome_goes_through_canceling(state: EmulatorState, project):
    pipeline = start(state, project, "canceled")
    assert history(state, pipeline, [8.9, 0.2, 1]) == ["running", "canceling", "canceled"]


def test_manual_outcome_stays_manual(state: EmulatorState, project):
    pipeline = start(state, project, "manual")
    assert history(state, pipeline, [5, 5, 1000]) == ["running", "manual", "manual"]
    assert pipeline.current_jobs()[-1].status(state.now()) == "manual"


def test_skipped_outcome(state: EmulatorState, project):
    pipeline = start(state, project, "skipped")
    assert history(state, pipeline, [5, 5]) == ["created", "skipped"]
    assert {job.status(state.now()) for job in pipeline.jobs} == {"skipped"}


def test_seconds_variable_overrides_the_duration(state: EmulatorState, project):
    pipeline = start(state, project, DATAOPS_EMULATOR_SECONDS="0")
    assert pipeline.status(state.now()) == "success"
    slow = start(state, project, DATAOPS_EMULATOR_SECONDS="100")
    assert history(state, slow, [50, 50]) == ["running", "success"]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"DATAOPS_EMULATOR_OUTCOME": "exploded"}, "DATAOPS_EMULATOR_OUTCOME must be one of"),
        ({"DATAOPS_EMULATOR_SECONDS": "soon"}, "DATAOPS_EMULATOR_SECONDS must be"),
        ({"DATAOPS_EMULATOR_SECONDS": "-1"}, "DATAOPS_EMULATOR_SECONDS must be"),
        ({"_PIPELINE_FILE_NAME": "missing-ci.yml"}, "Missing CI config file"),
    ],
)
def test_bad_pipeline_variables_are_400(state: EmulatorState, project, variables, message):
    with pytest.raises(ApiError) as caught:
        start(state, project, **variables)
    assert caught.value.status == 400
    assert message in caught.value.body["message"]["base"][0]


def test_unknown_ref_is_reference_not_found(state: EmulatorState, project):
    with pytest.raises(ApiError) as caught:
        state.create_pipeline(project, ref="nope", variables=[], source="api")
    assert caught.value.body == {"message": {"base": ["Reference not found"]}}


def test_the_head_sha_is_a_valid_ref(state: EmulatorState, project):
    head = start(state, project).sha
    pipeline = state.create_pipeline(project, ref=head, variables=[], source="api")
    assert pipeline.ref == "main"
    assert pipeline.sha == head


def test_cancel_running_pipeline(state: EmulatorState, project):
    pipeline = start(state, project)
    state.advance(5)
    state.cancel_pipeline(pipeline)
    now = state.now()
    statuses = [job.status(now) for job in pipeline.current_jobs()]
    assert pipeline.status(now) == "canceling"
    assert statuses[0] == "success"
    assert "canceling" in statuses
    state.advance(1)
    assert pipeline.status(state.now()) == "canceled"
    assert {job.status(state.now()) for job in pipeline.current_jobs()[1:]} == {"canceled"}
    state.advance(100)
    assert pipeline.status(state.now()) == "canceled"


def test_cancel_a_finished_pipeline_changes_nothing(state: EmulatorState, project):
    pipeline = start(state, project)
    state.advance(10)
    state.cancel_pipeline(pipeline)
    assert pipeline.status(state.now()) == "success"


def test_cancel_a_manual_pipeline(state: EmulatorState, project):
    pipeline = start(state, project, "manual")
    state.advance(20)
    state.cancel_pipeline(pipeline)
    state.advance(1)
    assert pipeline.status(state.now()) == "canceled"


def test_retry_failed_pipeline_runs_again_to_success(state: EmulatorState, project):
    pipeline = start(state, project, "failed")
    state.advance(10)
    failed_job = pipeline.current_jobs()[-1]
    state.retry_pipeline(pipeline)
    now = state.now()
    assert failed_job.retried
    assert len(pipeline.jobs) == 5
    assert pipeline.status(now) in ("pending", "running")
    assert pipeline.finished(now) is None
    state.advance(10)
    assert pipeline.status(state.now()) == "success"


def test_retry_canceled_pipeline_and_noop_retry(state: EmulatorState, project):
    pipeline = start(state, project)
    state.advance(4.5)  # the first job is done, the second running
    state.cancel_pipeline(pipeline)
    state.advance(1)
    state.retry_pipeline(pipeline)
    assert sum(job.retried for job in pipeline.jobs) == 3
    state.advance(10)
    assert pipeline.status(state.now()) == "success"
    jobs_before = len(pipeline.jobs)
    state.retry_pipeline(pipeline)  # nothing failed or canceled: a no-op
    assert len(pipeline.jobs) == jobs_before


def test_logs_grow_while_running_and_never_started_jobs_have_none(state: EmulatorState, project):
    pipeline = start(state, project)
    first, *_, last = pipeline.current_jobs()
    assert first.visible_log(state.now()) is None
    state.advance(2.5)
    partial = first.visible_log(state.now())
    assert partial
    assert len(partial) < len(first.log_lines)
    assert last.visible_log(state.now()) is None
    state.advance(10)
    assert last.visible_log(state.now())[-1] == "Job succeeded"


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["success", "success"], "success"),
        (["created", "created"], "created"),
        (["pending", "created"], "pending"),
        (["success", "running", "created"], "running"),
        (["success", "created"], "running"),
        (["success", "failed"], "failed"),
        (["success", "canceled"], "canceled"),
        (["success", "canceling"], "canceling"),
        (["success", "manual"], "manual"),
        (["skipped", "skipped"], "skipped"),
        ([], "created"),
    ],
)
def test_composite_status(statuses, expected):
    assert composite_status(statuses) == expected


def test_pipeline_records(state: EmulatorState, project):
    start(state, project, "failed")
    [record] = state.pipeline_records("http://emu")
    assert record["project"] == "demo/dataops-project"
    assert record["source"] == "trigger"
    assert record["web_url"] == "http://emu/demo/dataops-project/-/pipelines/1"
    assert {"key": "DATAOPS_EMULATOR_OUTCOME", "value": "failed", "variable_type": "env_var"} in record["variables"]


# -- faults -----------------------------------------------------------------------------------------


def test_faults_match_method_and_path_and_retire_after_times(state: EmulatorState):
    state.add_fault({"method": "post", "path": r"/pipeline$", "status": 503, "times": 2})
    assert state.take_fault("GET", "/api/v4/projects/1/pipeline") is None
    assert state.take_fault("POST", "/api/v4/projects/1/pipelines") is None
    assert state.take_fault("POST", "/api/v4/projects/1/pipeline").status == 503
    assert state.take_fault("POST", "/api/v4/projects/1/pipeline") is not None
    assert state.take_fault("POST", "/api/v4/projects/1/pipeline") is None


def test_fault_times_zero_means_always(state: EmulatorState):
    state.add_fault({"action": "latency", "seconds": 0.1, "times": 0})
    for _ in range(5):
        assert state.take_fault("GET", "/x").action == "latency"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"action": "explode"}, "action must be one of"),
        ({"status": 99}, "status fault needs status"),
        ({"action": "latency"}, "latency fault needs seconds"),
        ({"status": 500, "path": "("}, "not a valid regular expression"),
        ({"status": 500, "times": -1}, "times must be"),
        ({"status": 500, "colour": "red"}, "unknown fault fields: colour"),
    ],
)
def test_invalid_faults(state: EmulatorState, spec, message):
    with pytest.raises(ValueError, match=message):
        state.add_fault(spec)


def test_fault_default_bodies(state: EmulatorState):
    assert state.add_fault({"status": 502}).body == '{"message": "502 Bad Gateway"}'
    assert state.add_fault({"status": 429, "content_type": "text/plain"}).body == "Retry later"
    assert "<html>" in state.add_fault({"status": 503, "content_type": "text/html"}).body
