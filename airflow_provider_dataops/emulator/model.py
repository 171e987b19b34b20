"""The emulator's entities. Statuses are derived from the clock, never stored."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

#: GitLab's COMPLETED statuses: the pipeline or job will not change by itself any more.
COMPLETED = frozenset({"success", "failed", "canceled", "skipped"})


@dataclass(slots=True)
class User:
    """The one emulated user."""

    id: int
    username: str
    name: str
    created_at: float


@dataclass(slots=True)
class AccessToken:
    """A personal access token of the user."""

    id: int
    name: str
    scopes: tuple[str, ...]
    created_at: float
    expires_at: str  # a date, as GitLab returns it


@dataclass(slots=True)
class Namespace:
    """A user namespace or a group."""

    id: int
    name: str
    path: str
    kind: str  # "user" or "group"
    full_path: str
    created_at: float
    parent_id: int | None = None


@dataclass(slots=True)
class Project:
    """A project. Slots keep tens of thousands of seeded projects cheap."""

    id: int
    name: str
    path: str
    namespace: Namespace
    created_at: float
    last_activity_at: float
    description: str | None = None
    visibility: str = "private"
    default_branch: str = "main"
    pipeline_files: frozenset[str] = frozenset()
    pipeline_count: int = 0

    @property
    def path_with_namespace(self) -> str:
        """e.g. ``demo/dataops-project``."""
        return f"{self.namespace.full_path}/{self.path}"

    @property
    def name_with_namespace(self) -> str:
        """e.g. ``demo / DataOps Project``."""
        return f"{self.namespace.name} / {self.name}"

    def has_ref(self, ref: str) -> bool:
        """Whether ``ref`` names a branch of the project (only ``main`` and the default branch exist)."""
        return ref in ("main", self.default_branch)


@dataclass(frozen=True, slots=True)
class JUnitCase:
    """One case of a job's JUnit report, as GitLab parses it."""

    name: str
    classname: str
    status: str  # success, failed, skipped or error
    execution_time: float
    file: str | None = None
    system_output: str | None = None


@dataclass(slots=True)
class Job:
    """One job of a pipeline, with its whole future planned at creation.

    The status at any moment follows from the planned times: ``created`` until ``pending_at``,
    ``pending`` until ``started_at``, ``running`` until ``end_at``, then ``final_status``.
    A cancel request sets ``cancel_at``: ``canceling`` from then, ``canceled`` after ``cancel_delay``.
    """

    id: int
    name: str
    stage: str
    created_at: float
    end_at: float
    final_status: str
    pending_at: float | None = None
    started_at: float | None = None
    when: str = "on_success"
    failure_reason: str | None = None
    cancel_at: float | None = None
    cancel_delay: float = 0.0
    retried: bool = False
    allow_failure: bool = False
    log_lines: tuple[str, ...] = ()
    test_cases: tuple[JUnitCase, ...] = ()
    #: A bridge (trigger job) starts this child pipeline when it runs; its status then follows the
    #: child's (``strategy: depend``). Bridges have no log and are listed at ``.../bridges`` only.
    downstream: Pipeline | None = None

    def status(self, now: float) -> str:
        """The job status at ``now``."""
        if self.cancel_at is not None and now >= self.cancel_at:
            return "canceled" if now >= self.cancel_at + self.cancel_delay else "canceling"
        if self.downstream is not None and self.started_at is not None and now >= self.started_at:
            return self.downstream.status(now)
        if now >= self.end_at:
            return self.final_status
        if self.started_at is not None and now >= self.started_at:
            return "running"
        if self.pending_at is not None and now >= self.pending_at:
            return "pending"
        return "created"

    def started(self, now: float) -> float | None:
        """When the job started running, if it has by ``now``."""
        start = self.started_at
        if start is None or now < start or start > self.end_at:
            return None
        if self.cancel_at is not None and self.cancel_at <= start:
            return None
        return start

    def finished(self, now: float) -> float | None:
        """When the job reached a completed status, if it has by ``now``."""
        status = self.status(now)
        if status not in COMPLETED:
            return None
        if status == "canceled" and self.cancel_at is not None:
            return self.cancel_at + self.cancel_delay
        return self.end_at

    def queued(self, now: float) -> float | None:
        """When the job became pending, if it has by ``now``."""
        if self.pending_at is None or now < self.pending_at:
            return None
        if self.cancel_at is not None and self.cancel_at <= self.pending_at:
            return None
        return self.pending_at

    def visible_log(self, now: float) -> list[str] | None:
        """The trace lines written by ``now``; ``None`` if the job never ran, so it has no log."""
        start = self.started(now)
        if start is None:
            return None
        stop = self.end_at
        if self.cancel_at is not None and self.cancel_at < stop:
            stop = self.cancel_at
        lines = list(self.log_lines)
        if now < stop and stop > start:
            # Still running: show the share of the log that matches the elapsed share of the run.
            shown = max(1, int(len(lines) * (now - start) / (stop - start)))
            return lines[:shown]
        if self.cancel_at is not None and self.cancel_at < self.end_at:
            shown = max(1, int(len(lines) * (stop - start) / (self.end_at - start)))
            return [*lines[: min(shown, len(lines) - 2)], "ERROR: Job failed: canceled"]
        return lines

    def reported_tests(self, now: float) -> tuple[JUnitCase, ...]:
        """The test cases the job's report holds by ``now``: uploaded once it succeeded or failed."""
        return self.test_cases if self.status(now) in ("success", "failed") else ()

    def counted_status(self, now: float) -> str:
        """The status the pipeline counts: a failure that is allowed counts as a success, as in GitLab."""
        status = self.status(now)
        return "success" if status == "failed" and self.allow_failure else status

    def event_times(self) -> Iterable[float]:
        """Every moment the job changes status (for ``updated_at``)."""
        yield self.created_at
        yield self.end_at
        for moment in (self.pending_at, self.started_at):
            if moment is not None:
                yield moment
        if self.cancel_at is not None:
            yield self.cancel_at
            yield self.cancel_at + self.cancel_delay


@dataclass(slots=True)
class Pipeline:
    """A pipeline: its request (ref, variables, source) and its planned jobs."""

    id: int
    iid: int
    project: Project
    ref: str
    sha: str
    source: str
    variables: list[dict[str, str]]
    created_at: float
    seconds: float
    outcome: str
    jobs: list[Job] = field(default_factory=list)
    #: Bytes of the generated file in the reporting job's artifacts (``DATAOPS_EMULATOR_ARTIFACT_BYTES``).
    artifact_bytes: int = 0

    def current_jobs(self) -> list[Job]:
        """The jobs that count (bridges included): retried jobs are replaced by their re-runs."""
        return [job for job in self.jobs if not job.retried]

    def jobs_after(self, job: Job, now: float) -> list[Job]:
        """The jobs that count in the stages after ``job``'s, and that have not started by ``now``."""
        ranks: dict[str, int] = {}
        for each in self.jobs:  # planned in stage order; a re-run comes later but keeps its stage
            ranks.setdefault(each.stage, len(ranks))
        return [
            later
            for later in self.current_jobs()
            if ranks[later.stage] > ranks[job.stage] and later.status(now) in ("created", "manual")
        ]

    def bridges(self) -> list[Job]:
        """The trigger jobs that start child pipelines."""
        return [job for job in self.jobs if job.downstream is not None]

    def status(self, now: float) -> str:
        """The pipeline status at ``now``, composed from its jobs the way GitLab does."""
        return composite_status(job.counted_status(now) for job in self.current_jobs())

    def started(self, now: float) -> float | None:
        """When the first job started, if one has by ``now``."""
        starts = [start for job in self.jobs if (start := job.started(now)) is not None]
        return min(starts) if starts else None

    def finished(self, now: float) -> float | None:
        """When the pipeline completed, if it has by ``now``."""
        if self.status(now) not in COMPLETED:
            return None
        ends = [end for job in self.current_jobs() if (end := job.finished(now)) is not None]
        return max(ends) if ends else None

    def horizon(self) -> float:
        """The last planned status change: no ``updated(now)`` is later, whatever ``now``."""
        return max([self.created_at, *(moment for job in self.jobs for moment in job.event_times())])

    def updated(self, now: float) -> float:
        """The last status change at or before ``now``."""
        moments = [moment for job in self.jobs for moment in job.event_times() if moment <= now]
        return max([self.created_at, *moments])


def composite_status(statuses: Iterable[str]) -> str:
    """Combine job statuses into a pipeline status (GitLab's ``Ci::Status::Composite``, simplified).

    :param statuses: the statuses of the jobs that count.
    :returns: the pipeline status.
    """
    seen = set(statuses)
    if not seen:
        return "created"
    if seen <= {"skipped"}:
        return "skipped"
    if seen <= {"success", "skipped"}:
        return "success"
    if seen <= {"created"}:
        return "created"
    if "canceling" in seen:
        return "canceling"
    if seen <= {"canceled", "success", "skipped"}:
        return "canceled"
    if seen <= {"pending", "created", "skipped"}:
        return "pending"
    if seen & {"running", "pending"}:
        return "running"
    if "manual" in seen:
        return "manual"
    if "created" in seen:
        return "running"
    return "failed"
