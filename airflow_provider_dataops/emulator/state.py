"""The emulator's in-memory world: seeded identity, projects, pipelines, faults and the request log.

Pure Python (no web framework): the API and the control methods both call it. One re-entrant lock
guards every read and write, because control methods run on the test's thread while requests are
served on the server's thread; it is only ever held for dictionary work, never for I/O.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from airflow_provider_dataops.emulator import errors
from airflow_provider_dataops.emulator.artifacts import ARTIFACT_BYTES_VARIABLE, parse_artifact_bytes
from airflow_provider_dataops.emulator.clock import Clock, ClockMode, iso
from airflow_provider_dataops.emulator.faultspec import Fault
from airflow_provider_dataops.emulator.lifecycle import (
    BRIDGE_STAGE,
    CHILD_OUTCOMES,
    FAIL_JOB_OUTCOMES,
    LOG_STYLES,
    OUTCOMES,
    PLAY_OUTCOMES,
    STAGES,
    cancel_delay,
    plan_jobs,
    plan_play,
    replan_after,
    skip_jobs,
    stage_slot,
    stages_for,
)
from airflow_provider_dataops.emulator.model import (
    COMPLETED,
    AccessToken,
    Job,
    Namespace,
    Pipeline,
    Project,
    User,
)
from airflow_provider_dataops.emulator.ratelimit import RateLimiter
from airflow_provider_dataops.emulator.routing import MAX_ID_DIGITS
from airflow_provider_dataops.emulator.schedules import ScheduleBook

_Found = TypeVar("_Found")

DEFAULT_ACCESS_TOKEN = "glpat-emulator-access-token"
DEFAULT_TRIGGER_TOKEN = "glptt-emulator-trigger-token"
DEFAULT_PIPELINE_SECONDS = 10.0
DEFAULT_PIPELINE_FILES = ("full-ci.yml",)

USER_ID = 1
USERNAME = "dataops-user"
USER_NAMESPACE_ID = 1
DEMO_GROUP_ID = 2
DEMO_GROUP = "demo"
DEMO_PROJECT_ID = 1
DEMO_PROJECT_PATH = "demo/dataops-project"
#: The project ``example_dataops_pipeline_events`` watches: its pipelines start outside Airflow.
INGESTION_PROJECT_ID = 2
INGESTION_PROJECT_PATH = "demo/ingestion"
#: How many projects a fresh (or reset) emulator holds.
SEEDED_PROJECT_COUNT = 2

#: Pipeline variables that steer the emulator.
OUTCOME_VARIABLE = "DATAOPS_EMULATOR_OUTCOME"
SECONDS_VARIABLE = "DATAOPS_EMULATOR_SECONDS"
#: Names a job that fails; the jobs of later stages are skipped (until the job is retried).
FAIL_JOB_VARIABLE = "DATAOPS_EMULATOR_FAIL_JOB"
PIPELINE_FILE_VARIABLE = "_PIPELINE_FILE_NAME"
#: Comma-separated outcomes, one per level: ``failed`` adds a bridge starting a child pipeline that
#: fails; ``success,failed`` a child that itself starts a failing grandchild (at most 3 levels).
CHILD_OUTCOME_VARIABLE = "DATAOPS_EMULATOR_CHILD_OUTCOME"
LOG_STYLE_VARIABLE = "DATAOPS_EMULATOR_LOG_STYLE"
MAX_CHILD_LEVELS = 3

#: Job statuses GitLab can cancel (``Ci::HasStatus::CANCELABLE_STATUSES``, as the emulator has them).
CANCELABLE = frozenset({"created", "pending", "running"})

#: How many requests the request log keeps (oldest dropped first).
REQUEST_LOG_SIZE = 50_000

_PATH_RULE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_PATH_MESSAGE = (
    "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'"
)
_NAME_RULE = re.compile(r"^[\w][\w .+-]*$")
_NAME_MESSAGE = (
    "can contain only letters, digits, emoji, '_', '.', '+', dashes, or spaces. "
    "It must start with a letter, digit, emoji, or '_'."
)
VISIBILITIES = ("private", "internal", "public")


class EmulatorState:
    """Everything the emulator knows, with the operations the API and control surface need.

    :param pipeline_seconds: how long a pipeline takes to settle unless its variables say otherwise.
    :param access_token: the personal access token of the seeded user.
    :param trigger_token: the pipeline trigger token of the seeded project.
    :param rate_limit: requests per minute per token (or IP); ``None`` for no throttling.
    :param clock: a :class:`Clock`, or ``"real"`` / ``"manual"`` to make one.
    :param pipeline_files: the pipeline files every project has (``_PIPELINE_FILE_NAME`` values).
    :param token_lifetime_days: the access token expires this many days after the emulator started.
    """

    def __init__(
        self,
        *,
        pipeline_seconds: float = DEFAULT_PIPELINE_SECONDS,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        trigger_token: str = DEFAULT_TRIGGER_TOKEN,
        rate_limit: int | None = None,
        clock: Clock | ClockMode = "real",
        pipeline_files: Sequence[str] = DEFAULT_PIPELINE_FILES,
        token_lifetime_days: int = 365,
    ) -> None:
        if pipeline_seconds < 0:
            raise ValueError("pipeline_seconds must not be negative")
        if not access_token or not trigger_token or access_token == trigger_token:
            raise ValueError("access_token and trigger_token must be two different non-empty strings")
        self.lock = threading.RLock()
        self.clock = clock if isinstance(clock, Clock) else Clock(clock)
        self.pipeline_seconds = float(pipeline_seconds)
        self.access_token = access_token
        self.trigger_token = trigger_token
        if not pipeline_files:
            raise ValueError("pipeline_files must name at least one file")
        self.pipeline_files = frozenset(pipeline_files)
        self.default_pipeline_file = pipeline_files[0]
        self.rate_limiter = RateLimiter(rate_limit)
        self._default_rate_limit = rate_limit
        self._default_clock_mode = self.clock.mode
        self._token_lifetime_days = token_lifetime_days
        self._started_at = self.clock.now()
        self.reset()

    # -- lifecycle of the whole world -------------------------------------------------------------

    def reset(self) -> None:
        """Restore the seeded state; clear faults, the request log and rate-limit counts.

        The clock starts again (:meth:`Clock.restart`) in its initial mode: a new world's time.
        """
        with self.lock:
            self.clock.set_mode(self._default_clock_mode)
            self.clock.restart()
            self.rate_limiter.limit = self._default_rate_limit
            self.rate_limiter.clear()
            self.faults: list[Fault] = []
            self.request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
            #: Object storage downloads: ``{"job_id", "host", "status", "credentials"}`` each.
            self.storage_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
            self._next_fault_id = 1
            self._seed()

    def _seed(self) -> None:
        started = self._started_at
        self.user = User(id=USER_ID, username=USERNAME, name="DataOps User", created_at=started)
        expires = datetime.fromtimestamp(started, tz=timezone.utc) + timedelta(days=self._token_lifetime_days)
        self._tokens = {
            self.access_token: AccessToken(
                id=1,
                name="dataops-emulator",
                scopes=("api",),
                created_at=started,
                expires_at=expires.date().isoformat(),
            )
        }
        self._namespaces: dict[int, Namespace] = {}
        self._namespace_by_path: dict[str, Namespace] = {}
        self._next_namespace_id = 1
        self._add_namespace(self.user.username, self.user.username, "user", None)
        self._add_namespace(DEMO_GROUP, DEMO_GROUP, "group", None)
        self._projects: dict[int, Project] = {}
        self._project_by_path: dict[str, Project] = {}
        self._next_project_id = 1
        self._last_project_created = 0.0
        self._pipelines: dict[int, Pipeline] = {}
        self._pipelines_by_project: dict[int, list[Pipeline]] = {}
        # Per project, (horizon, pipeline id) sorted: an updated_after listing skips the settled past.
        self._by_horizon: dict[int, list[tuple[float, int]]] = {}
        self._horizons: dict[int, float] = {}
        self._jobs: dict[int, tuple[Job, Pipeline]] = {}
        self._next_pipeline_id = 1
        self._next_job_id = 1
        self.schedules = ScheduleBook()
        demo = self._add_project(
            name="DataOps Project",
            path="dataops-project",
            namespace=self._namespace_by_path[DEMO_GROUP],
            description="The emulator's seeded DataOps.live project.",
        )
        self._trigger_tokens = {self.trigger_token: demo.id}
        self._add_project(
            name="Ingestion",
            path="ingestion",
            namespace=self._namespace_by_path[DEMO_GROUP],
            description="The emulator's second seeded project, where pipelines start outside Airflow.",
        )

    def now(self) -> float:
        """The emulator's current time (epoch seconds)."""
        return self.clock.now()

    def advance(self, seconds: float) -> float:
        """Move the clock forward (works in real-time mode too).

        :param seconds: how far.
        :returns: the new time.
        """
        return self.clock.advance(seconds)

    def set_clock_mode(self, mode: ClockMode) -> None:
        """Freeze (``manual``) or release (``real``) the clock until the next reset.

        :param mode: ``"real"`` or ``"manual"``.
        """
        self.clock.set_mode(mode)

    # -- identity ---------------------------------------------------------------------------------

    def token_info(self, token: str | None) -> AccessToken | None:
        """The access token's record, or ``None`` if ``token`` is not a valid access token.

        :param token: the raw token from the request.
        """
        return self._tokens.get(token) if token else None

    def trigger_token_valid(self, project: Project, token: str | None) -> bool:
        """Whether ``token`` is a trigger token of ``project``.

        :param project: the project in the URL.
        :param token: the ``token`` parameter.
        """
        return bool(token) and self._trigger_tokens.get(token or "") == project.id

    # -- namespaces -------------------------------------------------------------------------------

    def _add_namespace(self, name: str, path: str, kind: str, parent: Namespace | None) -> Namespace:
        full_path = f"{parent.full_path}/{path}" if parent else path
        namespace = Namespace(
            id=self._next_namespace_id,
            name=name,
            path=path,
            kind=kind,
            full_path=full_path,
            created_at=self._started_at,
            parent_id=parent.id if parent else None,
        )
        self._next_namespace_id += 1
        self._namespaces[namespace.id] = namespace
        self._namespace_by_path[full_path.lower()] = namespace
        return namespace

    def ensure_group(self, full_path: str) -> Namespace:
        """The group at ``full_path``, created (with its parents) if missing.

        :param full_path: e.g. ``demo/sub``.
        """
        with self.lock:
            existing = self._namespace_by_path.get(full_path.lower())
            if existing is not None:
                return existing
            parent_path, _, path = full_path.rpartition("/")
            if not _PATH_RULE.match(path):
                raise ValueError(f"invalid group path {full_path!r}")
            parent = self.ensure_group(parent_path) if parent_path else None
            return self._add_namespace(path, path, "group", parent)

    def namespaces(self) -> list[Namespace]:
        """Every namespace (user and groups), by id."""
        with self.lock:
            return list(self._namespaces.values())

    def find_namespace(self, key: str) -> Namespace | None:
        """A namespace by numeric id or full path.

        :param key: e.g. ``"2"`` or ``"demo/sub"`` (already decoded).
        """
        with self.lock:
            return _by_id_or_path(key, self._namespaces, self._namespace_by_path)

    # -- projects ---------------------------------------------------------------------------------

    def _add_project(
        self,
        *,
        name: str,
        path: str,
        namespace: Namespace,
        description: str | None = None,
        visibility: str = "private",
        default_branch: str = "main",
    ) -> Project:
        # Creation times never decrease, so id order is also created_at order.
        created = max(self.now(), self._last_project_created)
        self._last_project_created = created
        project = Project(
            id=self._next_project_id,
            name=name,
            path=path,
            namespace=namespace,
            created_at=created,
            last_activity_at=created,
            description=description,
            visibility=visibility,
            default_branch=default_branch,
            pipeline_files=self.pipeline_files,
        )
        self._next_project_id += 1
        self._projects[project.id] = project
        self._project_by_path[project.path_with_namespace.lower()] = project
        return project

    def find_project(self, key: str) -> Project | None:
        """A project by numeric id or full path.

        :param key: e.g. ``"1"`` or ``"demo/dataops-project"`` (already decoded).
        """
        with self.lock:
            return _by_id_or_path(key, self._projects, self._project_by_path)

    def projects(self) -> list[Project]:
        """Every project, by ascending id (and so by creation time)."""
        with self.lock:
            return list(self._projects.values())

    def create_project(
        self,
        *,
        name: str | None = None,
        path: str | None = None,
        namespace_id: int | None = None,
        description: str | None = None,
        visibility: str | None = None,
        default_branch: str | None = None,
    ) -> Project:
        """Create a project with GitLab's rules for names, paths and duplicates.

        :param name: the display name; defaults to ``path``.
        :param path: the URL path; derived from ``name`` if missing.
        :param namespace_id: the namespace; defaults to the user's.
        :param description: free text.
        :param visibility: ``private`` (default), ``internal`` or ``public``.
        :param default_branch: a short branch name; a full ref (``refs/heads/x``) is ignored, as in GitLab.
        :returns: the project.
        :raises ApiError: 400 for missing or invalid fields or a duplicate, 404 for an unknown namespace.
        """
        if not name and not path:
            raise errors.param_error("name, path are missing, at least one parameter must be provided")
        if visibility is not None and visibility not in VISIBILITIES:
            raise errors.param_error("visibility does not have a valid value")
        name = name or path or ""
        path = path or derive_path(name)
        invalid: dict[str, list[str]] = {}
        if not _NAME_RULE.match(name):
            invalid["name"] = [_NAME_MESSAGE]
        if not _PATH_RULE.match(path) or path.endswith((".git", ".atom")) or "--" in path or "__" in path:
            invalid["path"] = [_PATH_MESSAGE]
        if invalid:
            raise errors.message(400, invalid)
        branch = default_branch or "main"
        if branch.startswith("refs/"):
            branch = "main"
        with self.lock:
            namespace = self._namespaces.get(namespace_id or USER_NAMESPACE_ID)
            if namespace is None:
                raise errors.not_found("Namespace")
            taken = self._taken(namespace, name, path)
            if taken:
                raise errors.message(400, taken)
            return self._add_project(
                name=name,
                path=path,
                namespace=namespace,
                description=description,
                visibility=visibility or "private",
                default_branch=branch,
            )

    def _taken(self, namespace: Namespace, name: str, path: str) -> dict[str, list[str]]:
        taken_message = ["has already been taken"]
        result: dict[str, list[str]] = {}
        path_taken = f"{namespace.full_path}/{path}".lower() in self._project_by_path
        # A scan rather than an index: creating projects is rare, and seeded ones must stay cheap.
        lowered = name.lower()
        name_taken = any(
            project.namespace is namespace and project.name.lower() == lowered for project in self._projects.values()
        )
        if name_taken:
            result["name"] = taken_message
        if path_taken:
            result["path"] = taken_message
        if name_taken or path_taken:
            result["project_namespace.name"] = taken_message
        return result

    def seed_projects(self, count: int, namespace: str = DEMO_GROUP) -> int:
        """Add ``count`` projects named ``Seeded Project <id>`` (path ``seeded-project-<id>``).

        O(count) and a few hundred bytes per project, so 60,000 take well under a second.

        :param count: how many.
        :param namespace: the group's full path; created if missing.
        :returns: how many projects were added.
        """
        if count < 0:
            raise ValueError("count must not be negative")
        group = self.ensure_group(namespace)
        with self.lock:
            added = 0
            while added < count:
                project_id = self._next_project_id
                path = f"seeded-project-{project_id}"
                if f"{group.full_path}/{path}".lower() in self._project_by_path:
                    self._next_project_id += 1
                    continue
                self._add_project(name=f"Seeded Project {project_id}", path=path, namespace=group)
                added += 1
            return added

    # -- pipelines --------------------------------------------------------------------------------

    def create_pipeline(
        self, project: Project, *, ref: str, variables: Iterable[dict[str, str]], source: str
    ) -> Pipeline:
        """Start a pipeline; its jobs are planned now and unfold on the clock.

        :param project: the project.
        :param ref: a branch (``main`` or the default branch) or the branch head's SHA.
        :param variables: ``{"key", "value", "variable_type"}`` dicts.
        :param source: ``api`` or ``trigger``.
        :returns: the pipeline.
        :raises ApiError: 400 for an unknown ref, a missing pipeline file or a bad emulator variable.
        """
        variables = [dict(variable) for variable in variables]
        values = {variable["key"]: variable["value"] for variable in variables}
        outcome = values.get(OUTCOME_VARIABLE, "success")
        if outcome not in OUTCOMES:
            raise _pipeline_error(f"{OUTCOME_VARIABLE} must be one of: {', '.join(OUTCOMES)}")
        seconds = self.pipeline_seconds
        if SECONDS_VARIABLE in values:
            try:
                seconds = float(values[SECONDS_VARIABLE])
            except ValueError:
                seconds = -1.0
            if not (math.isfinite(seconds) and seconds >= 0):
                raise _pipeline_error(f"{SECONDS_VARIABLE} must be a non-negative number of seconds")
        try:
            artifact_bytes = parse_artifact_bytes(values.get(ARTIFACT_BYTES_VARIABLE))
        except ValueError as error:
            raise _pipeline_error(str(error)) from None
        fail_job = _chosen_failure(values.get(FAIL_JOB_VARIABLE), outcome)
        head = commit_sha(project, project.default_branch)
        if not (project.has_ref(ref) or ref == head):
            raise _pipeline_error("Reference not found")
        pipeline_file = values.get(PIPELINE_FILE_VARIABLE, self.default_pipeline_file)
        if pipeline_file not in project.pipeline_files:
            raise _pipeline_error("Missing CI config file")
        children = _child_outcomes(values.get(CHILD_OUTCOME_VARIABLE))
        if values.get(LOG_STYLE_VARIABLE, "plain") not in LOG_STYLES:
            raise _pipeline_error(f"{LOG_STYLE_VARIABLE} must be one of: {', '.join(LOG_STYLES)}")
        with self.lock:
            now = self.now()
            project.pipeline_count += 1
            project.last_activity_at = now
            pipeline = Pipeline(
                id=self._next_pipeline_id,
                iid=project.pipeline_count,
                project=project,
                ref=project.default_branch if ref == head else ref,
                sha=head if ref == head else commit_sha(project, ref),
                source=source,
                variables=variables,
                created_at=now,
                seconds=seconds,
                outcome=outcome,
                artifact_bytes=artifact_bytes,
            )
            self._next_pipeline_id += 1
            pipeline.jobs = plan_jobs(
                stages_for(outcome, bridge=bool(children)),
                start=now,
                seconds=seconds,
                outcome=outcome,
                new_id=self._new_job_id,
                ref=pipeline.ref,
                sha=pipeline.sha,
                pipeline_file=pipeline_file,
                runner_env=self._runner_env(pipeline),
                fail_job=fail_job,
            )
            self._register(pipeline, pipeline.jobs)
            if children:
                self._start_child(pipeline, children)
            return pipeline

    def _start_child(self, parent: Pipeline, outcomes: list[str]) -> None:
        """Make the parent's bridge start a child pipeline that ends as ``outcomes[0]`` (call with the lock held).

        The child is planned now, to run while its bridge runs; its variables are the parent's
        (``trigger:forward``), with the remaining levels' outcomes.
        """
        bridge = next(job for job in parent.jobs if (job.stage, job.name) == BRIDGE_STAGE)
        start = bridge.started_at if bridge.started_at is not None else parent.created_at
        outcome, rest = outcomes[0], outcomes[1:]
        overrides = {OUTCOME_VARIABLE: outcome, CHILD_OUTCOME_VARIABLE: ",".join(rest)}
        variables = [variable for variable in parent.variables if variable["key"] not in overrides]
        variables += [
            {"key": key, "value": value, "variable_type": "env_var"} for key, value in overrides.items() if value
        ]
        parent.project.pipeline_count += 1
        child = Pipeline(
            id=self._next_pipeline_id,
            iid=parent.project.pipeline_count,
            project=parent.project,
            ref=parent.ref,
            sha=parent.sha,
            source="parent_pipeline",
            variables=variables,
            created_at=start,
            seconds=bridge.end_at - start,
            outcome=outcome,
        )
        self._next_pipeline_id += 1
        child.jobs = plan_jobs(
            stages_for(outcome, bridge=bool(rest)),
            start=start,
            seconds=child.seconds,
            outcome=outcome,
            new_id=self._new_job_id,
            ref=child.ref,
            sha=child.sha,
            pipeline_file="child-ci.yml",
            runner_env=self._runner_env(child),
        )
        bridge.downstream, bridge.log_lines = child, ()
        self._register(child, child.jobs)
        if rest:
            self._start_child(child, rest)

    @staticmethod
    def _runner_env(pipeline: Pipeline) -> dict[str, str] | None:
        """The variables a runner-style log echoes; None for plain logs."""
        values = {variable["key"]: variable["value"] for variable in pipeline.variables}
        return values if values.get(LOG_STYLE_VARIABLE) == "runner" else None

    def _new_job_id(self) -> int:
        job_id = self._next_job_id
        self._next_job_id += 1
        return job_id

    def _register(self, pipeline: Pipeline, jobs: Iterable[Job]) -> None:
        self._pipelines[pipeline.id] = pipeline
        self._pipelines_by_project.setdefault(pipeline.project.id, []).append(pipeline)
        for job in jobs:
            self._jobs[job.id] = (job, pipeline)
        self._reindex(pipeline)

    def _reindex(self, pipeline: Pipeline) -> None:
        """Re-file a pipeline by its horizon after its jobs changed (call with the lock held)."""
        index = self._by_horizon.setdefault(pipeline.project.id, [])
        old = self._horizons.get(pipeline.id)
        if old is not None:
            del index[bisect_left(index, (old, pipeline.id))]
        new = self._horizons[pipeline.id] = pipeline.horizon()
        insort(index, (new, pipeline.id))

    def find_pipeline(self, project: Project, pipeline_id: int) -> Pipeline | None:
        """A pipeline of ``project``.

        :param project: the project in the URL.
        :param pipeline_id: the pipeline id.
        """
        with self.lock:
            pipeline = self._pipelines.get(pipeline_id)
            return pipeline if pipeline is not None and pipeline.project is project else None

    def project_pipelines(self, project: Project) -> list[Pipeline]:
        """The pipelines of ``project``, oldest first.

        :param project: the project.
        """
        with self.lock:
            return list(self._pipelines_by_project.get(project.id, ()))

    def pipelines_updated_since(self, project: Project, bound: float | None) -> list[Pipeline]:
        """The pipelines of ``project`` that may have ``updated_at >= bound``, oldest first.

        Found through the horizon index, so pipelines that settled before ``bound`` cost nothing.

        :param project: the project.
        :param bound: the ``updated_after`` time; ``None`` for every pipeline.
        """
        with self.lock:
            if bound is None:
                return list(self._pipelines_by_project.get(project.id, ()))
            index = self._by_horizon.get(project.id, [])
            recent = index[bisect_left(index, (bound, -1)) :]
            return sorted((self._pipelines[pipeline_id] for _, pipeline_id in recent), key=lambda p: p.id)

    def find_job(self, project: Project, job_id: int) -> tuple[Job, Pipeline] | None:
        """A job of ``project`` with its pipeline.

        :param project: the project in the URL.
        :param job_id: the job id.
        """
        with self.lock:
            found = self._jobs.get(job_id)
            if found is None or found[0].downstream is not None:  # a bridge is no job of /jobs/:id
                return None
            return found if found[1].project is project else None

    def cancel_pipeline(self, pipeline: Pipeline) -> None:
        """Cancel every job that has not completed: ``canceling`` now, ``canceled`` a moment later.

        :param pipeline: the pipeline; a completed one is left as it is.
        """
        with self.lock:
            now = self.now()
            delay = cancel_delay(pipeline.seconds)
            for job in pipeline.current_jobs():
                if job.status(now) not in COMPLETED | {"canceling"}:
                    job.cancel_at, job.cancel_delay = now, delay
                    if job.downstream is not None:  # GitLab cancels the downstream pipelines too
                        self.cancel_pipeline(job.downstream)
            self._reindex(pipeline)

    def retry_pipeline(self, pipeline: Pipeline) -> None:
        """Re-run the failed and canceled jobs, this time to success; a no-op if there are none.

        :param pipeline: the pipeline.
        """
        with self.lock:
            now = self.now()
            again = [job for job in pipeline.current_jobs() if job.status(now) in ("failed", "canceled")]
            if not again:
                return
            self._rerun(pipeline, again, now)

    def _rerun(self, pipeline: Pipeline, retried: list[Job], now: float) -> list[Job]:
        """New jobs that run ``retried`` again, to success, from ``now`` (call with the lock held).

        The skipped jobs of later stages then run again too, keeping their ids, as GitLab
        re-processes them once the retried job succeeded.
        """
        earliest = min(pipeline.jobs.index(job) for job in retried)
        skipped = [
            job
            for job in pipeline.jobs[earliest + 1 :]
            if job not in retried and not job.retried and job.status(now) == "skipped"
        ]
        for job in retried:
            job.retried = True
        jobs = plan_jobs(
            [(job.stage, job.name) for job in retried],
            start=now,
            seconds=pipeline.seconds,
            outcome="success",
            new_id=self._new_job_id,
            ref=pipeline.ref,
            sha=pipeline.sha,
            pipeline_file=self._pipeline_file(pipeline),
            runner_env=self._runner_env(pipeline),
        )
        pipeline.jobs.extend(jobs)
        for job in jobs:
            self._jobs[job.id] = (job, pipeline)
        replan_after(
            skipped,
            start=max(job.end_at for job in jobs),
            slot=stage_slot(pipeline.seconds),
            ref=pipeline.ref,
            sha=pipeline.sha,
            pipeline_file=self._pipeline_file(pipeline),
        )
        self._reindex(pipeline)
        pipeline.project.last_activity_at = now
        return jobs

    # -- jobs -------------------------------------------------------------------------------------

    def play_job(self, job: Job, pipeline: Pipeline, variables: Iterable[dict[str, str]]) -> None:
        """Start a ``manual`` job; the pipeline runs on to that job's end.

        :param job: the job.
        :param pipeline: its pipeline.
        :param variables: the play's job variables; ``DATAOPS_EMULATOR_OUTCOME`` (``success`` or
            ``failed``) says how the job ends, ``DATAOPS_EMULATOR_SECONDS`` how long it runs.
        :raises ApiError: 400 *Unplayable Job* unless the job is ``manual``; 400 for a bad outcome
            or duration.
        """
        values = {variable.get("key"): variable.get("value") for variable in variables}
        outcome = values.get(OUTCOME_VARIABLE) or "success"
        if outcome not in PLAY_OUTCOMES:
            raise errors.param_error(f"{OUTCOME_VARIABLE} of a played job must be one of: {', '.join(PLAY_OUTCOMES)}")
        job_seconds = None
        if values.get(SECONDS_VARIABLE) is not None:
            try:
                job_seconds = float(str(values[SECONDS_VARIABLE]))
            except ValueError:
                job_seconds = -1.0
            if not (math.isfinite(job_seconds) and job_seconds >= 0):
                raise errors.param_error(f"{SECONDS_VARIABLE} of a played job must be a non-negative number of seconds")
        with self.lock:
            now = self.now()
            if job.status(now) != "manual":
                raise errors.message(400, "400 Bad request - Unplayable Job")
            plan_play(
                job,
                now=now,
                seconds=pipeline.seconds,
                job_seconds=job_seconds,
                outcome=outcome,
                ref=pipeline.ref,
                sha=pipeline.sha,
                pipeline_file=self._pipeline_file(pipeline),
                runner_env=self._runner_env(pipeline),
            )
            self._reindex(pipeline)
            pipeline.project.last_activity_at = now

    def cancel_job(self, job: Job, pipeline: Pipeline) -> None:
        """Cancel a job that GitLab can cancel (created, pending or running); others stay as they are.

        The later stages' jobs that have not started are skipped once it is ``canceled``, as GitLab
        skips ``on_success`` jobs after a stage that did not succeed.

        :param job: the job.
        :param pipeline: its pipeline.
        """
        with self.lock:
            now = self.now()
            if job.status(now) in CANCELABLE:
                job.cancel_at, job.cancel_delay = now, cancel_delay(pipeline.seconds)
                skip_jobs(pipeline.jobs_after(job, now), at=now + job.cancel_delay)
                self._reindex(pipeline)

    def retry_job(self, job: Job, pipeline: Pipeline) -> Job:
        """Run a finished job again (this time to success), as a new job that replaces it.

        :param job: the job.
        :param pipeline: its pipeline.
        :returns: the new job.
        :raises ApiError: 403 *Job is not retryable* for a job that has not finished, or was retried.
        """
        with self.lock:
            now = self.now()
            if job.retried or job.status(now) not in ("success", "failed", "canceled"):
                raise errors.message(403, "403 Forbidden - Job is not retryable")
            (again,) = self._rerun(pipeline, [job], now)
            return again

    def _pipeline_file(self, pipeline: Pipeline) -> str:
        values = {variable["key"]: variable["value"] for variable in pipeline.variables}
        return values.get(PIPELINE_FILE_VARIABLE, self.default_pipeline_file)

    def pipeline_records(self, base_url: str = "") -> list[dict[str, Any]]:
        """Every pipeline created since the last reset, for assertions in tests.

        :param base_url: prefix for ``web_url``, e.g. ``http://127.0.0.1:8080``.
        :returns: dicts with id, iid, project_id, project, ref, sha, source, status, variables,
            created_at, updated_at and web_url.
        """
        with self.lock:
            now = self.now()
            return [
                {
                    "id": pipeline.id,
                    "iid": pipeline.iid,
                    "project_id": pipeline.project.id,
                    "project": pipeline.project.path_with_namespace,
                    "ref": pipeline.ref,
                    "sha": pipeline.sha,
                    "source": pipeline.source,
                    "status": pipeline.status(now),
                    "variables": [dict(variable) for variable in pipeline.variables],
                    "created_at": iso(pipeline.created_at),
                    "updated_at": iso(pipeline.updated(now)),
                    "web_url": pipeline_web_url(base_url, pipeline),
                }
                for pipeline in self._pipelines.values()
            ]

    # -- faults and the request log ---------------------------------------------------------------

    def add_fault(self, spec: dict[str, Any]) -> Fault:
        """Plan a fault.

        :param spec: the fault's JSON form (see :class:`~.faultspec.Fault`).
        :returns: the fault, with its id.
        :raises ValueError: for an invalid spec.
        """
        with self.lock:
            fault = Fault.from_dict(spec, self._next_fault_id)
            self._next_fault_id += 1
            self.faults.append(fault)
            return fault

    def clear_faults(self) -> None:
        """Remove every planned fault."""
        with self.lock:
            self.faults.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first fault that matches a request, counting the use (and retiring it when spent).

        :param method: the request method.
        :param path: the raw request path.
        """
        if not self.faults:
            return None
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    if fault.times is not None and fault.hits >= fault.times:
                        self.faults.remove(fault)
                    return fault
        return None

    def record_request(self, entry: dict[str, Any]) -> None:
        """Append to the request log.

        :param entry: method, path, query, status, time, duration_ms (no tokens).
        """
        with self.lock:
            self.request_log.append(entry)

    def requests(self) -> list[dict[str, Any]]:
        """The request log, oldest first."""
        with self.lock:
            return [dict(entry) for entry in self.request_log]

    def clear_requests(self) -> None:
        """Empty the request log."""
        with self.lock:
            self.request_log.clear()


def _child_outcomes(value: str | None) -> list[str]:
    """The outcomes of ``DATAOPS_EMULATOR_CHILD_OUTCOME``, one per level; empty for none."""
    if not value:
        return []
    outcomes = [part.strip() for part in value.split(",")]
    if len(outcomes) > MAX_CHILD_LEVELS or any(outcome not in CHILD_OUTCOMES for outcome in outcomes):
        raise _pipeline_error(
            f"{CHILD_OUTCOME_VARIABLE} must be up to {MAX_CHILD_LEVELS} comma-separated values of: "
            f"{', '.join(CHILD_OUTCOMES)}"
        )
    return outcomes


def _chosen_failure(name: str | None, outcome: str) -> str | None:
    """The job ``DATAOPS_EMULATOR_FAIL_JOB`` names, checked against the jobs that run for ``outcome``."""
    if not name:  # unset or empty: a DAG can pass the variable through from an optional param
        return None
    runnable = [job for _, job in STAGES]  # a gated pipeline's manual deploy job never runs by itself
    if outcome not in FAIL_JOB_OUTCOMES:
        raise _pipeline_error(
            f"{FAIL_JOB_VARIABLE} needs {OUTCOME_VARIABLE} to be one of: {', '.join(FAIL_JOB_OUTCOMES)}"
        )
    if name not in runnable:
        raise _pipeline_error(f"{FAIL_JOB_VARIABLE} must name one of the jobs that run: {', '.join(runnable)}")
    return name


def _pipeline_error(text: str) -> errors.ApiError:
    # GitLab reports pipeline creation failures as a model validation error on "base".
    return errors.message(400, {"base": [text]})


def derive_path(name: str) -> str:
    """The path GitLab derives from a project name: lowercase, dashes for anything else.

    :param name: e.g. ``"My Project"``.
    :returns: e.g. ``"my-project"``.
    """
    path = re.sub(r"[^a-z0-9_.]+", "-", name.lower())
    return re.sub(r"-{2,}", "-", path).strip("-._") or "project"


def commit_sha(project: Project, ref: str) -> str:
    """A stable fake commit SHA for the head of ``ref``.

    :param project: the project.
    :param ref: the branch.
    """
    return hashlib.sha1(f"{project.id}:{ref}".encode(), usedforsecurity=False).hexdigest()


def pipeline_web_url(base_url: str, pipeline: Pipeline) -> str:
    """``{base}/{namespace}/{project}/-/pipelines/{id}``.

    :param base_url: e.g. ``http://127.0.0.1:8080``.
    :param pipeline: the pipeline.
    """
    return f"{base_url.rstrip('/')}/{pipeline.project.path_with_namespace}/-/pipelines/{pipeline.id}"


def _by_id_or_path(key: str, by_id: dict[int, _Found], by_path: dict[str, _Found]) -> _Found | None:
    """GitLab's ``:id``: ASCII digits name an id, anything else a full path (case-insensitive)."""
    if key.isascii() and key.isdigit():
        return by_id.get(int(key)) if len(key) <= MAX_ID_DIGITS else None
    return by_path.get(key.lower())
