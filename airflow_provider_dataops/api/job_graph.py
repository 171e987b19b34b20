"""A pipeline's job graph: which jobs it has, in which stages, and which job waits for which.

Pure data rules, no requests: the graph comes from a DAG author's ``jobs`` argument, from CI lint's
dry run (``POST /projects/:id/ci/lint`` with ``include_jobs``) or from a pipeline's job listing, and
each server row is checked on its own (a bad one is skipped with a warning and counted).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_dataops.api.paths import check_job_name
from airflow_provider_dataops.errors import DataOpsConfigError, DataOpsError, DataOpsJobNotFoundError

log = logging.getLogger(__name__)

#: The most jobs a group renders: a bound on what a server answer can make a DAG file build.
MAX_JOBS = 500


@dataclass(frozen=True)
class JobSpec:
    """One job of a pipeline definition.

    :param name: The job's name, unique in the pipeline.
    :param stage: Its stage (None when the DAG author gave only names).
    :param needs: The jobs it waits for (``needs:``); None when it waits for the previous stage.
    """

    name: str
    stage: str | None = None
    needs: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as the job graph cache stores it."""
        return {"name": self.name, "stage": self.stage, "needs": None if self.needs is None else list(self.needs)}


def jobs_argument(jobs: Any) -> list[JobSpec]:
    """The group's ``jobs`` argument as specs, checked before anything is built.

    * a list of names: each job waits for the one before it (the list is in stage order);
    * a mapping of name to the names it waits for (its ``needs``; an empty list for none).

    :raises DataOpsConfigError: naming ``jobs`` and what was expected.
    """
    if isinstance(jobs, Mapping):
        specs = []
        for name, needs in jobs.items():
            if isinstance(needs, str) or not isinstance(needs, Iterable):
                raise DataOpsConfigError(
                    f"jobs: the jobs {name!r} waits for must be a list of job names, got {needs!r}"
                )
            specs.append(JobSpec(_job_name(name), needs=tuple(_job_name(need) for need in needs)))
    elif isinstance(jobs, Sequence) and not isinstance(jobs, str):
        names = [_job_name(name) for name in jobs]
        specs = [JobSpec(name, needs=tuple(names[index - 1 : index])) for index, name in enumerate(names)]
    else:
        raise DataOpsConfigError(
            "jobs must be a list of job names in stage order, or a mapping of job name to the names it "
            f"waits for, got {type(jobs).__name__}"
        )
    check_graph(specs, "jobs")
    return specs


def _job_name(value: Any) -> str:
    try:
        return check_job_name(value)
    except DataOpsConfigError:
        raise DataOpsConfigError(
            f"jobs must hold non-empty job names such as 'Build all Models' (no control characters), got {value!r}"
        ) from None


def check_graph(specs: Sequence[JobSpec], source: str) -> None:
    """Refuse an empty graph, duplicate names, unknown ``needs`` and cycles.

    :param source: What the graph came from, for the message (``jobs``, ``CI lint``...).
    """
    if not specs:
        raise DataOpsConfigError(f"{source}: the pipeline has no jobs to render")
    if len(specs) > MAX_JOBS:
        raise DataOpsConfigError(f"{source}: {len(specs)} jobs, more than the {MAX_JOBS} a group renders")
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DataOpsConfigError(f"{source}: job names must be unique, repeated: {', '.join(duplicates)}")
    known = set(names)
    for spec in specs:
        unknown = [need for need in spec.needs or () if need not in known]
        if unknown:
            raise DataOpsConfigError(f"{source}: job {spec.name!r} waits for unknown jobs: {', '.join(unknown)}")
    upstream = upstream_jobs(specs)
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*path[path.index(name) :], name]
            raise DataOpsConfigError(f"{source}: jobs wait for each other in a cycle: {' -> '.join(cycle)}")
        state[name] = 1
        for parent in upstream[name]:
            visit(parent, [*path, name])
        state[name] = 2

    for name in names:
        visit(name, [])


def upstream_jobs(specs: Sequence[JobSpec]) -> dict[str, list[str]]:
    """For each job, the jobs its task waits for: its ``needs``, else every job of the stage before.

    Stages are ordered as they first appear in ``specs``; a job without a stage and without
    ``needs`` waits for nothing.
    """
    stages: list[str] = []
    by_stage: dict[str, list[str]] = {}
    for spec in specs:
        if spec.stage is not None:
            if spec.stage not in by_stage:
                stages.append(spec.stage)
            by_stage.setdefault(spec.stage, []).append(spec.name)
    result: dict[str, list[str]] = {}
    for spec in specs:
        if spec.needs is not None:
            result[spec.name] = list(spec.needs)
        elif spec.stage is not None and stages.index(spec.stage) > 0:
            result[spec.name] = list(by_stage[stages[stages.index(spec.stage) - 1]])
        else:
            result[spec.name] = []
    return result


def graph_from_lint(answer: Any) -> list[JobSpec]:
    """The jobs of a CI lint dry run (``include_jobs=true``), in the order GitLab lists them.

    :raises DataOpsError: when the configuration is invalid (GitLab's errors are listed) or the answer
        holds no usable job.
    """
    if not isinstance(answer, Mapping):
        raise DataOpsError(f"CI lint answered {type(answer).__name__}, not an object")
    if answer.get("valid") is not True:
        errors = answer.get("errors")
        listed = "; ".join(str(error) for error in errors) if isinstance(errors, list) and errors else "no reason given"
        raise DataOpsError(f"CI lint found the pipeline file invalid: {listed}")
    rows = answer.get("jobs")
    if not isinstance(rows, list):
        raise DataOpsError("CI lint listed no jobs (was include_jobs sent?)")
    return _specs(rows, "CI lint")


def graph_from_pipeline_jobs(rows: Any) -> list[JobSpec]:
    """The jobs of a pipeline's job listing (newest first, as GitLab lists them), oldest first.

    A retried job appears once (its newest run); stages keep the order their first jobs were created.
    """
    if not isinstance(rows, list):
        raise DataOpsError(f"the job listing is {type(rows).__name__}, not a list")
    usable = [row for row in rows if isinstance(row, Mapping) and isinstance(row.get("id"), int)]
    usable.sort(key=lambda row: int(row["id"]))
    newest: dict[Any, Mapping[str, Any]] = {}
    for row in usable:
        newest.pop(row.get("name"), None)
        newest[row.get("name")] = row
    first_seen = {row.get("name"): row for row in reversed(usable)}
    ordered = sorted(newest.values(), key=lambda row: int(first_seen[row.get("name")]["id"]))
    skipped = len(rows) - len(usable)
    if skipped:
        log.warning("Skipped %d job rows without a numeric id.", skipped)
    return _specs(ordered, "the pipeline's jobs")


def _specs(rows: Iterable[Any], source: str) -> list[JobSpec]:
    specs: list[JobSpec] = []
    skipped = 0
    for row in rows:
        spec = _spec(row)
        if spec is None:
            skipped += 1
            log.warning("%s: skipped a job row that is not a job: %.200r", source, row)
            continue
        specs.append(spec)
    if skipped:
        log.warning("%s: skipped %d malformed job rows of %d.", source, skipped, skipped + len(specs))
    if not specs:
        raise DataOpsError(f"{source} listed no usable job")
    try:
        check_graph(specs, source)
    except DataOpsConfigError as error:
        raise DataOpsError(str(error)) from None
    return specs


def _spec(row: Any) -> JobSpec | None:
    if not isinstance(row, Mapping):
        return None
    name, stage = row.get("name"), row.get("stage")
    if not isinstance(name, str) or not name.strip() or not isinstance(stage, str) or not stage.strip():
        return None
    try:
        check_job_name(name)
    except DataOpsConfigError:
        return None
    needs = row.get("needs")
    if needs is None:
        return JobSpec(name, stage)
    if not isinstance(needs, list):
        return None
    needed = []
    for need in needs:
        # GitLab writes a need as a name or as {"name": ..., "artifacts": ...}.
        need_name = need.get("name") if isinstance(need, Mapping) else need
        if not isinstance(need_name, str) or not need_name:
            return None
        needed.append(need_name)
    return JobSpec(name, stage, tuple(needed))


def newest_job_named(jobs: Sequence[Mapping[str, Any]], job_name: str, pipeline_id: int) -> dict[str, Any]:
    """The newest job called ``job_name`` (a retried job is replaced by its re-run).

    :raises DataOpsJobNotFoundError: when the pipeline has no such job; the message lists the jobs it has.
    """
    named = [job for job in jobs if job.get("name") == job_name and isinstance(job.get("id"), int)]
    if not named:
        names = ", ".join(sorted({str(job.get("name")) for job in jobs})) or "none"
        raise DataOpsJobNotFoundError(f"Pipeline {pipeline_id} has no job named {job_name!r}; its jobs are: {names}")
    return dict(max(named, key=lambda item: int(item["id"])))
