"""Bridges (trigger jobs) and the downstream pipelines they start: GitLab's rows, checked one by one.

``GET /projects/:id/pipelines/:pipeline_id/bridges`` lists a pipeline's trigger jobs; each row's
``downstream_pipeline`` is ``null`` until the bridge has started its child (or multi-project)
pipeline, then ``{id, project_id, status, web_url, ...}``.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Downstream(NamedTuple):
    """A pipeline a bridge started."""

    id: int
    #: The project the pipeline runs in (another one for a multi-project pipeline), when the row says.
    project_id: int | None
    status: str
    web_url: str | None


class MalformedBridgeError(ValueError):
    """A bridge row that cannot be read; the caller skips it with a warning."""


def downstream_of(bridge: Any) -> Downstream | None:
    """The pipeline ``bridge`` started; None while it has started none.

    :raises MalformedBridgeError: for a row that is not a bridge with a usable ``downstream_pipeline``.
    """
    if not isinstance(bridge, dict):
        raise MalformedBridgeError(f"a bridge row that is not an object: {str(bridge)[:200]}")
    child = bridge.get("downstream_pipeline")
    if child is None:
        return None
    if not isinstance(child, dict) or not _positive(child.get("id")) or not isinstance(child.get("status"), str):
        raise MalformedBridgeError(f"a malformed downstream_pipeline: {str(child)[:200]}")
    project_id = child.get("project_id")
    web_url = child.get("web_url")
    return Downstream(
        child["id"],
        project_id if _positive(project_id) else None,
        child["status"],
        web_url if isinstance(web_url, str) else None,
    )


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
