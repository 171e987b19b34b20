"""Following the job logs of a running pipeline, and of the child pipelines it starts, into the task log.

One :class:`JobLogFollower` serves every wait mode: the worker's wait loop and the sensor's pokes
call :meth:`~JobLogFollower.follow`, the deferred trigger :meth:`~JobLogFollower.afollow`. Both run
the same walk (:meth:`~JobLogFollower._walk`), which names each request it needs and receives the
answer, so the rules live once:

* A pipeline is read only while it runs, and once more after it finished (the jobs that finished
  since the last read); a pipeline that is created, pending or waiting costs nothing. Per read of a
  running pipeline: one job listing, one bridge listing (below the third level: none), and one log
  read per running job or job finished since the last read. The variables of each pipeline are read
  once, for the values to redact.
* Each job's raw byte offset is kept, and a line still being written is read again, whole, next
  time: each line appears once and in order. The offsets are the follower's :meth:`state`, which
  the adapters persist where it survives (see docs/deferrable.rst).
* Lines are cleaned (:func:`~airflow_provider_dataops.api.job_log.clean_line`), prefixed with the job
  (and a child pipeline's id), and redacted of the connection's tokens and the pipeline's masked
  variables (:func:`~airflow_provider_dataops.errors.redact`).
* Each job logs at most ``max_job_log_bytes``, then one line with the job's URL; it is not read again.
* Every row from the server is checked on its own: a bad one is skipped with a warning and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_dataops.api.bridges import Downstream, MalformedBridgeError, downstream_of
from airflow_provider_dataops.api.job_log import DEFAULT_MAX_JOB_LOG_BYTES, clean_line, complete_lines
from airflow_provider_dataops.api.redaction import redact
from airflow_provider_dataops.api.statuses import TERMINAL_STATUSES
from airflow_provider_dataops.api.variables import masked_values
from airflow_provider_dataops.errors import DataOpsError

#: Pipeline levels followed: the pipeline, its children and their children.
MAX_LEVELS = 3
#: Job statuses whose log is still growing.
GROWING = frozenset({"running", "canceling"})
_TERMINAL = frozenset(status.value for status in TERMINAL_STATUSES)
#: Hook methods behind each request of the walk (the same names on the sync and async hooks).
_METHODS = {
    "jobs": "list_pipeline_jobs",
    "bridges": "list_pipeline_bridges",
    "variables": "get_pipeline_variables",
    "log": "read_job_log_after",
}

_Request = tuple[Any, ...]


_Walk = Generator[_Request, Any, None]


@dataclass
class JobCursor:
    """Where a job's log was read up to."""

    offset: int = 0  # raw bytes consumed (a partial last line is not)
    logged: int = 0  # bytes of cleaned text logged
    done: bool = False  # read to its end, or stopped at the bound


@dataclass
class JobLogFollower:
    """Reads new job log lines of a pipeline tree; the adapters write them to the task log.

    :param project: Project id or full path.
    :param pipeline_id: The pipeline followed; its downstream pipelines are found through bridges.
    :param max_job_log_bytes: Bytes of cleaned text logged per job before the job's URL instead.
    :param secrets: Values to redact besides the pipelines' masked variables (the connection's tokens).
    :param log: Where warnings about malformed rows go.
    :param from_start: Read the jobs that had finished before the first look too (a task that started
        the pipeline); False leaves them out (a task that attached to a pipeline started elsewhere).
    """

    project: int | str
    pipeline_id: int
    max_job_log_bytes: int = DEFAULT_MAX_JOB_LOG_BYTES
    secrets: list[str] = field(default_factory=list)
    log: logging.Logger | Any = field(default=logging.getLogger(__name__), repr=False)
    from_start: bool = True
    cursors: dict[int, JobCursor] = field(default_factory=dict)
    #: Pipelines read to their end after they finished.
    finished: set[int] = field(default_factory=set)
    #: Rows skipped because they were malformed.
    skipped_rows: int = 0
    _variables_read: set[int] = field(default_factory=set, repr=False)
    _started: bool = False

    # -- state ------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The JSON-safe offsets, to persist; no secrets in it."""
        return {
            "pipeline_id": self.pipeline_id,
            "jobs": {str(job_id): [c.offset, c.logged, int(c.done)] for job_id, c in self.cursors.items()},
            "finished": sorted(self.finished),
            "started": self._started,
        }

    def restore(self, state: Any) -> None:
        """Continue from :meth:`state` of the same pipeline; anything else (or malformed) is ignored."""
        if not isinstance(state, Mapping) or state.get("pipeline_id") != self.pipeline_id:
            return
        jobs = state.get("jobs")
        if isinstance(jobs, Mapping):
            for key, value in jobs.items():
                numbers = value if isinstance(value, list) and len(value) == 3 else []
                if str(key).isdigit() and numbers and all(_count(number) for number in numbers):
                    self.cursors[int(key)] = JobCursor(numbers[0], numbers[1], bool(numbers[2]))
        finished = state.get("finished")
        if isinstance(finished, list):
            self.finished.update(item for item in finished if isinstance(item, int))
        self._started = state.get("started") is not False

    # -- drivers ----------------------------------------------------------------------------------

    def follow(self, hook: Any, pipeline: Mapping[str, Any]) -> list[str]:
        """Read what is new with the synchronous hook; returns the lines to log.

        :param pipeline: The followed pipeline as just read (its ``status`` decides what is read).
        """
        lines: list[str] = []
        walk, answer = self._walk(pipeline, lines), None
        while (request := _step(walk, answer)) is not None:
            try:
                answer = _call(hook, request)
            except DataOpsError as error:  # the walk decides what a failed read means
                answer = error
        return lines

    async def afollow(self, hook: Any, pipeline: Mapping[str, Any]) -> list[str]:
        """As :meth:`follow`, with the asynchronous hook."""
        lines: list[str] = []
        walk, answer = self._walk(pipeline, lines), None
        while (request := _step(walk, answer)) is not None:
            try:
                answer = await _call(hook, request)
            except DataOpsError as error:
                answer = error
        return lines

    # -- the walk ---------------------------------------------------------------------------------

    def _walk(self, pipeline: Mapping[str, Any], out: list[str]) -> _Walk:
        first = not self._started and not self.from_start
        self._started = True
        yield from self._pipeline(
            self.project, self.pipeline_id, str(pipeline.get("status")), 1, out, skip_finished=first
        )

    def _pipeline(
        self, project: int | str, pipeline_id: int, status: str, level: int, out: list[str], *, skip_finished: bool
    ) -> _Walk:
        terminal = status in _TERMINAL
        if pipeline_id in self.finished or not (terminal or status in GROWING):
            return  # nothing is written before a pipeline runs, nor after its last read
        label = "" if level == 1 else f"pipeline {pipeline_id}: "
        if pipeline_id not in self._variables_read:
            variables = yield ("variables", project, pipeline_id)
            if isinstance(variables, DataOpsError):
                self.log.warning("Cannot read the variables of pipeline %s (%s).", pipeline_id, variables)
            else:
                self._variables_read.add(pipeline_id)
                self.secrets.extend(value for value in masked_values(variables) if value not in self.secrets)
        jobs = yield ("jobs", project, pipeline_id)
        if isinstance(jobs, DataOpsError):
            self.log.warning("Cannot list the jobs of pipeline %s (%s); trying again next poll.", pipeline_id, jobs)
            return
        for job in sorted(self._valid(jobs, "job", pipeline_id), key=lambda row: row["id"]):
            yield from self._job(project, job, label, out, skip_finished=skip_finished)
        if level < MAX_LEVELS:
            bridges = yield ("bridges", project, pipeline_id)
            if isinstance(bridges, DataOpsError):
                self.log.warning("Cannot list the bridges of pipeline %s (%s).", pipeline_id, bridges)
            else:
                for child in self._children(bridges, pipeline_id):
                    where = child.project_id or project  # a multi-project pipeline runs elsewhere
                    yield from self._pipeline(where, child.id, child.status, level + 1, out, skip_finished=False)
        if terminal:
            self.finished.add(pipeline_id)

    def _job(
        self, project: int | str, job: Mapping[str, Any], label: str, out: list[str], *, skip_finished: bool
    ) -> _Walk:
        cursor = self.cursors.setdefault(job["id"], JobCursor())
        status = job["status"]
        if cursor.done or not (status in GROWING or status in _TERMINAL):
            return
        final = status in _TERMINAL
        if final and skip_finished and cursor.offset == 0:
            cursor.done = True  # finished before the task began following: not this task's output
            return
        data = yield ("log", project, job["id"], cursor.offset)
        if isinstance(data, DataOpsError):
            self.log.warning("Cannot read the log of job %s (%s); trying again next poll.", job["id"], data)
            return
        part = complete_lines(data if isinstance(data, bytes) else b"", cursor.offset, final=final)
        cursor.offset = part.next_offset
        prefix = f"[{label}{job['name']}] "
        for raw in part.lines:
            text = clean_line(raw)
            if text is None:
                continue
            line = redact(prefix + text, self.secrets)
            size = len(line.encode()) + 1
            if cursor.logged + size > self.max_job_log_bytes:
                out.append(
                    redact(
                        f"{prefix}Log limit of {self.max_job_log_bytes} bytes reached; the rest is at "
                        f"{job.get('web_url') or 'the job page'}",
                        self.secrets,
                    )
                )
                cursor.done = True
                return
            cursor.logged += size
            out.append(line)
        cursor.done = final

    # -- checking rows ----------------------------------------------------------------------------

    def _valid(self, rows: Any, kind: str, pipeline_id: int) -> Iterable[dict[str, Any]]:
        if not isinstance(rows, list):
            self._skip(f"a {kind} listing of pipeline {pipeline_id} that is not a list")
            return []
        valid = []
        for row in rows:
            if (
                isinstance(row, dict)
                and _positive_int(row.get("id"))
                and isinstance(row.get("status"), str)
                and isinstance(row.get("name"), str)
            ):
                valid.append(row)
            else:
                self._skip(f"a malformed {kind} row of pipeline {pipeline_id}: {str(row)[:200]}")
        return valid

    def _children(self, bridges: Any, pipeline_id: int) -> list[Downstream]:
        if not isinstance(bridges, list):
            self._skip(f"a bridge listing of pipeline {pipeline_id} that is not a list")
            return []
        children = []
        for bridge in bridges:
            try:
                child = downstream_of(bridge)
            except MalformedBridgeError as error:
                self._skip(f"{error} (pipeline {pipeline_id})")
                continue
            if child is not None:
                children.append(child)
        return children

    def _skip(self, what: str) -> None:
        self.skipped_rows += 1
        self.log.warning("Skipping %s (%d skipped so far).", redact(what, self.secrets), self.skipped_rows)


def _step(walk: _Walk, answer: Any) -> _Request | None:
    """The walk's next request, given the answer to its last one; None when it is done."""
    try:
        return walk.send(answer)  # the first send (None) starts the walk
    except StopIteration:
        return None


def _call(hook: Any, request: _Request) -> Any:
    """Send ``request`` with the hook method of its kind (a coroutine for the asynchronous hook)."""
    return getattr(hook, _METHODS[request[0]])(*request[1:])


def _positive_int(value: Any) -> bool:
    return _count(value) and value > 0


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


#: Key of a follower's :meth:`JobLogFollower.state` in Airflow 3.3's task state store.
STATE_KEY = "dataops_job_logs"


class TaskLogStream:
    """The worker's side of streaming: one follower per task try, its offsets kept where they survive.

    With Airflow 3.3's task state store (``context["task_state_store"]``) the offsets are saved after
    each read that logged something, so a reschedule, a retry or a resumed deferral goes on from
    there; without one they live as long as the try. Lines are logged before the offsets are saved:
    a worker that dies in between logs those lines again in the next try (at most one poll's worth).

    :param max_job_log_bytes: Bytes of cleaned text logged per job.
    :param log: The task's logger.
    :param from_start: See :class:`JobLogFollower`.
    """

    def __init__(self, max_job_log_bytes: int, log: logging.Logger | Any, *, from_start: bool = True) -> None:
        self.max_job_log_bytes = max_job_log_bytes
        self.log = log
        self.from_start = from_start
        self.follower: JobLogFollower | None = None
        self._saved: dict[str, Any] | None = None

    def prepare(self, hook: Any, project: int | str, pipeline_id: int, context: Any) -> JobLogFollower:
        """The follower of ``pipeline_id``, continued from the task state store when it has one."""
        if self.follower is None or self.follower.pipeline_id != pipeline_id:
            self.follower = JobLogFollower(
                project,
                pipeline_id,
                self.max_job_log_bytes,
                secrets=list(hook.settings.secrets),
                log=self.log,
                from_start=self.from_start,
            )
            store = _store(context)
            if store is not None:
                self._saved = store.get(STATE_KEY)
                self.follower.restore(self._saved)
        return self.follower

    def emit(self, hook: Any, project: int | str, pipeline: Mapping[str, Any], context: Any) -> None:
        """Log what the jobs of ``pipeline`` (and its children) wrote since the last call."""
        follower = self.prepare(hook, project, int(pipeline["id"]), context)
        for line in follower.follow(hook, pipeline):
            self.log.info("%s", line)
        self.save(follower.state(), context)

    def handover(self, hook: Any, project: int | str, pipeline_id: int, context: Any) -> dict[str, Any]:
        """The trigger's ``job_logs`` argument: the bound and the offsets so far (no secrets)."""
        state = self.prepare(hook, project, pipeline_id, context).state()
        return {"max_job_log_bytes": self.max_job_log_bytes, "from_start": self.from_start, "state": state}

    def save(self, state: Any, context: Any) -> None:
        """Keep ``state`` in the task state store (when there is one and it changed)."""
        store = _store(context)
        if store is None or not isinstance(state, Mapping) or state == self._saved:
            return
        try:
            store.set(STATE_KEY, dict(state))
            self._saved = dict(state)
        except Exception as error:  # the store is Airflow's; a failed save costs repeats, not the task
            self.log.warning("Could not save the job log offsets (%s); a retry may log lines again.", error)


def _store(context: Any) -> Any:
    return context.get("task_state_store") if isinstance(context, Mapping) else None
