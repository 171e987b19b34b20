"""Query-parameter readers and list filters of the ``/api/v4`` handlers, following Grape's rules."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_dataops.emulator import errors
from airflow_provider_dataops.emulator.clock import parse_iso
from airflow_provider_dataops.emulator.model import COMPLETED, Project
from airflow_provider_dataops.emulator.state import USERNAME

_TRUE = frozenset({"true", "1", "yes", "t", "on"})


def truthy(value: str | None) -> bool:
    """Grape's Boolean: ``true``, ``1``, ``yes``, ``t`` or ``on``.

    :param value: the raw parameter.
    """
    return (value or "").strip().lower() in _TRUE


def choice(query: Mapping[str, str], name: str, allowed: frozenset[str], default: str) -> str:
    """An enumerated parameter.

    :param query: the query parameters.
    :param name: the parameter.
    :param allowed: its valid values.
    :param default: the value when it is absent.
    :raises ApiError: 400 ``<name> does not have a valid value``.
    """
    value = query.get(name) or default
    if value not in allowed:
        raise errors.param_error(f"{name} does not have a valid value")
    return value


def ascending_sort(query: Mapping[str, str]) -> bool:
    """Whether ``sort`` asks for ascending order (the default is ``desc``)."""
    return choice(query, "sort", frozenset({"asc", "desc"}), "desc") == "asc"


def time_param(query: Mapping[str, str], name: str) -> float | None:
    """An ISO-8601 parameter as epoch seconds, or ``None`` when absent.

    :param query: the query parameters.
    :param name: the parameter.
    :raises ApiError: 400 ``<name> is invalid``.
    """
    raw = query.get(name)
    if not raw:
        return None
    try:
        return parse_iso(raw)
    except ValueError:
        raise errors.param_error(f"{name} is invalid") from None


def text_or_none(value: Any) -> str | None:
    """A parameter as text; ``None`` when absent or blank.

    :param value: the raw parameter.
    """
    return None if value is None or value == "" else str(value)


def variable_list(raw: Any) -> list[dict[str, str]]:
    """``variables`` of ``POST /pipeline``: a list of ``{key, value, variable_type}``.

    :param raw: the parameter (a JSON list, or a decoded ``variables[0][key]`` form).
    :raises ApiError: 400 in Grape's words for a malformed list.
    """
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise errors.param_error("variables is invalid")
    variables = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise errors.param_error("variables is invalid")
        for required in ("key", "value"):
            if item.get(required) is None:
                raise errors.param_error(f"variables[{index}][{required}] is missing")
        variable_type = item.get("variable_type") or "env_var"
        if variable_type not in ("env_var", "file"):
            raise errors.param_error(f"variables[{index}][variable_type] does not have a valid value")
        variables.append({"key": str(item["key"]), "value": str(item["value"]), "variable_type": variable_type})
    return variables


def filter_projects(projects: list[Project], query: Mapping[str, str], *, public_only: bool) -> list[Project]:
    """Apply the ``/projects`` filters; ``projects`` is in id order and stays so.

    :param projects: every project, by id.
    :param query: the query parameters.
    :param public_only: keep only public projects (an unauthenticated caller).
    """
    id_after, id_before = query.get("id_after"), query.get("id_before")
    try:
        if id_after:
            projects = projects[bisect_right(projects, int(id_after), key=lambda project: project.id) :]
        if id_before:
            projects = projects[: bisect_left(projects, int(id_before), key=lambda project: project.id)]
    except ValueError:
        raise errors.param_error("id_after or id_before is invalid") from None
    if public_only:
        projects = [project for project in projects if project.visibility == "public"]
    if visibility := query.get("visibility"):
        projects = [project for project in projects if project.visibility == visibility]
    if search := (query.get("search") or "").lower():
        in_namespaces = truthy(query.get("search_namespaces"))
        projects = [
            project
            for project in projects
            if search in project.name.lower()
            or search in project.path.lower()
            or (in_namespaces and search in project.path_with_namespace.lower())
        ]
    # membership, owned and the like match everything: the emulator's user owns every project.
    return projects


def project_sort_key(order_by: str) -> Callable[[Project], tuple[Any, int]]:
    """The sort key for ``order_by`` values other than ``id`` and ``created_at``; ties go by id.

    :param order_by: ``name``, ``path``, ``updated_at`` or ``last_activity_at``.
    """
    if order_by == "name":
        return lambda project: (project.name.lower(), project.id)
    if order_by == "path":
        return lambda project: (project.path.lower(), project.id)
    return lambda project: (project.last_activity_at, project.id)


def filter_pipelines(
    rows: list[dict[str, Any]], query: Mapping[str, str], scope: str | None, bounds: dict[str, float | None]
) -> list[dict[str, Any]]:
    """Apply the ``/pipelines`` filters to short pipeline objects carrying ``_created`` and ``_updated``.

    :param rows: the pipelines, as dicts.
    :param query: the query parameters.
    :param scope: ``running``, ``pending``, ``finished``, ``branches``, ``tags`` or ``None``.
    :param bounds: the parsed ``created_*`` and ``updated_*`` times.
    :returns: the matching rows.
    """
    for name in ("ref", "sha", "status", "source"):
        if value := query.get(name):
            rows = [row for row in rows if row[name] == value]
    if query.get("source") != "parent_pipeline":
        # As GitLab 17+: child pipelines are listed only when asked for by source.
        rows = [row for row in rows if row["source"] != "parent_pipeline"]
    if query.get("username") and query["username"] != USERNAME:
        rows = []
    if scope == "running":
        rows = [row for row in rows if row["status"] == "running"]
    elif scope == "pending":
        rows = [row for row in rows if row["status"] == "pending"]
    elif scope == "finished":
        rows = [row for row in rows if row["status"] in COMPLETED]
    elif scope == "branches":
        latest: dict[str, dict[str, Any]] = {}
        for row in rows:
            latest[row["ref"]] = row
        rows = list(latest.values())
    elif scope == "tags":
        rows = []
    checks = {
        "created_after": ("_created", lambda value, bound: value >= bound),
        "created_before": ("_created", lambda value, bound: value <= bound),
        "updated_after": ("_updated", lambda value, bound: value > bound),  # exclusive, as on GitLab.com
        "updated_before": ("_updated", lambda value, bound: value <= bound),
    }
    for name, (field, keep) in checks.items():
        bound = bounds[name]
        if bound is not None:
            rows = [row for row in rows if keep(row[field], bound)]
    return rows
