"""Building API paths: each path parameter is checked, then URL-encoded exactly once.

GitLab takes a project as a numeric id or as its URL-encoded full path (``group/sub/project`` becomes
``group%2Fsub%2Fproject``). Encoding with ``safe=""`` turns ``/``, ``?`` and ``#`` into escapes, and
dot segments are refused, so no value can change which endpoint a request reaches.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

from airflow_provider_dataops.errors import DataOpsConfigError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_path_segments(value: str, parameter: str) -> None:
    segments = value.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise DataOpsConfigError(
            f"{parameter} must be a numeric id or a full path such as 'group/project' "
            f"(no empty, '.' or '..' segments, no leading or trailing '/'), got {value!r}"
        )


def resource_id(value: object, parameter: str) -> str:
    """Return the URL path segment for a numeric id or a full path.

    :param value: A positive integer, a string of digits, or a full path (``group/sub/project``).
    :param parameter: Name of the argument, used in the error message.
    :raises DataOpsConfigError: if the value cannot name a resource.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise DataOpsConfigError(f"{parameter} must be a numeric id or a full path string, got {type(value).__name__}")
    if isinstance(value, int):
        if value < 1:
            raise DataOpsConfigError(f"{parameter} must be a positive id, got {value}")
        return str(value)
    text = value.strip()
    if not text or text != value or _CONTROL.search(text) or any(ch.isspace() for ch in text):
        raise DataOpsConfigError(f"{parameter} must be a numeric id or a full path without spaces, got {value!r}")
    if text.isascii() and text.isdigit():
        return resource_id(int(text), parameter)
    if "%" in text:
        raise DataOpsConfigError(
            f"{parameter} looks URL-encoded ({value!r}); pass the plain path such as 'group/project', "
            "it is encoded once for you"
        )
    _check_path_segments(text, parameter)
    return quote(text, safe="")


def check_ref(ref: object) -> str:
    """Refuse what git's ref-name rules refuse, so a typo fails before a request is sent."""
    if not isinstance(ref, str) or not ref or ".." in ref or re.search(r"[\x00-\x20\x7f~^:?*\[\\]", ref):
        raise DataOpsConfigError(
            f"ref must be a branch, tag or commit SHA such as 'main' (no spaces or control characters), got {ref!r}"
        )
    return ref


def check_job_name(job_name: object) -> str:
    """A job's name as the pipeline lists it, such as ``Build all Models``."""
    if not isinstance(job_name, str) or not job_name.strip() or _CONTROL.search(job_name):
        raise DataOpsConfigError(
            "job_name must be the non-empty name of a job in the pipeline such as 'Build all Models' "
            f"(no control characters), got {job_name!r}"
        )
    return job_name


def numeric_id(value: object, parameter: str) -> int:
    """Return ``value`` as a positive integer id (pipelines and jobs only have numeric ids).

    :raises DataOpsConfigError: if it is not a positive integer or a string of digits.
    """
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataOpsConfigError(f"{parameter} must be a positive integer id, got {value!r}")
    return value


def api_path(*segments: str | int) -> str:
    """Join already-checked segments into an API path such as ``/projects/demo%2Fp/pipelines``.

    Integers and the literal words of the route are used as they are; use :func:`resource_id` for
    any value that comes from a user.
    """
    return "/" + "/".join(str(segment) for segment in segments)


def pipeline_path(project: object, pipeline_id: object, *rest: str) -> str:
    """``/projects/:id/pipelines/:pipeline_id[/rest...]``, each parameter checked and encoded."""
    return api_path(
        "projects", resource_id(project, "project"), "pipelines", numeric_id(pipeline_id, "pipeline_id"), *rest
    )


def job_path(project: object, job_id: object, *rest: str) -> str:
    """``/projects/:id/jobs/:job_id[/rest...]``, each parameter checked and encoded."""
    return api_path("projects", resource_id(project, "project"), "jobs", numeric_id(job_id, "job_id"), *rest)


def check_endpoint(endpoint: str) -> str:
    """Validate a caller-supplied endpoint for :meth:`DataOpsHook.request`.

    It must be a path relative to the API base (``/projects/1/pipelines``), already encoded, with no
    scheme or host (the token must never go to another server), no query string or fragment (pass
    ``params`` instead) and no dot segments.

    :returns: The endpoint with a leading ``/``.
    """
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise DataOpsConfigError(f"endpoint must be a non-empty API path, got {endpoint!r}")
    parts = urlsplit(endpoint)
    if parts.scheme or parts.netloc or endpoint.startswith("//"):
        raise DataOpsConfigError(
            f"endpoint must be a path relative to the API base such as '/projects', not a URL: {endpoint!r}"
        )
    if "?" in endpoint or "#" in endpoint:
        raise DataOpsConfigError(f"endpoint must not contain '?' or '#'; pass query parameters as params: {endpoint!r}")
    if _CONTROL.search(endpoint) or " " in endpoint:
        raise DataOpsConfigError(f"endpoint must not contain spaces or control characters: {endpoint!r}")
    path = endpoint if endpoint.startswith("/") else "/" + endpoint
    # Servers decode %2E, so an encoded dot segment moves the request just like a plain one.
    if any(unquote(segment) in (".", "..") for segment in path.split("/")[1:]):
        raise DataOpsConfigError(f"endpoint must not contain '.' or '..' segments: {endpoint!r}")
    return path
