"""The child and multi-project pipelines a pipeline started, found through its bridges.

Read once, when a task ends: the failure report descends into the failed ones, the extra links
offer the first few. Each level costs one bridge listing per pipeline descended into.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from airflow_provider_dataops.api.bridges import Downstream, MalformedBridgeError, downstream_of
from airflow_provider_dataops.api.redaction import redact
from airflow_provider_dataops.errors import DataOpsError

#: Pipeline levels read: the pipeline, its children and their children.
MAX_DOWNSTREAM_LEVELS = 3


class Found(NamedTuple):
    """A downstream pipeline, where it runs, and how deep (the children of the pipeline are level 2)."""

    level: int
    project: int | str
    pipeline: Downstream


def downstream_pipelines(
    hook: Any,
    project: int | str,
    pipeline_id: int,
    *,
    descend: Callable[[Downstream], bool] = lambda child: True,
    limit: int | None = None,
    log: Any = None,
) -> list[Found]:
    """The pipelines started below ``pipeline_id``, breadth first, at most :data:`MAX_DOWNSTREAM_LEVELS` deep.

    A bridge listing that fails, or a malformed row, is skipped (with a warning on ``log``).

    :param descend: Whether to look below a found pipeline.
    :param limit: Stop after this many pipelines.
    """
    found: list[Found] = []
    queue: list[tuple[int, int | str, int]] = [(1, project, pipeline_id)]
    while queue:
        level, where, current = queue.pop(0)
        try:
            bridges = hook.list_pipeline_bridges(where, current)
        except DataOpsError as error:
            if log is not None:
                log.warning("Cannot list the bridges of pipeline %s (%s).", current, error)
            continue
        for bridge in bridges:
            try:
                child = downstream_of(bridge)
            except MalformedBridgeError as error:
                if log is not None:
                    log.warning("Skipping %s (pipeline %s).", error, current)
                continue
            if child is None:
                continue
            child_project = child.project_id or where
            found.append(Found(level + 1, child_project, child))
            if limit is not None and len(found) >= limit:
                return found
            if level + 1 < MAX_DOWNSTREAM_LEVELS and descend(child):
                queue.append((level + 1, child_project, child.id))
    return found


def downstream_urls(hook: Any, project: int | str, pipeline_id: int, *, log: Any = None) -> list[str]:
    """The URLs of the first three downstream pipelines, for the extra links; the connection's secrets redacted."""
    secrets = hook.settings.secrets
    found = downstream_pipelines(hook, project, pipeline_id, limit=3, log=log)
    return [redact(item.pipeline.web_url, secrets) for item in found if item.pipeline.web_url]
