"""Assets for DataOps.live projects: the ``dataops://`` URI scheme and the extra on asset events.

A project asset names one project on one DataOps.live instance, optionally one ref::

    dataops://app.dataops.live/my-group/my-project
    dataops://app.dataops.live/my-group/sub-group/my-project?ref=main

Airflow calls :func:`sanitize_uri` (registered under ``asset-uris`` in the provider info) for every
``dataops://`` asset, after its own clean-up (fragment and password dropped, query sorted, trailing
``/`` removed). It makes equal projects equal URIs and refuses what cannot name a project:

* the host is lower-cased and the default port (443) dropped; user info is refused;
* the path is the project's full path, at least ``namespace/project``: it is URL-decoded and
  lower-cased (GitLab resolves paths case-insensitively), and a trailing ``.git`` is dropped, so a
  clone URL's path works; empty, ``.`` and ``..`` segments and characters GitLab refuses in a path
  are refused, and so is a bare numeric id (the same project by id and by path would be two assets);
* the only query parameter is ``ref``, once, checked like the operators' ``ref``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlencode, urlsplit

from airflow_provider_dataops.api.paths import check_ref
from airflow_provider_dataops.errors import DataOpsConfigError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Asset, Context

SCHEME = "dataops"
DEFAULT_ASSET_HOST = "app.dataops.live"
_DEFAULT_PORT = 443
#: What GitLab accepts in one path segment (it also refuses a leading ``-``).
_SEGMENT = re.compile(r"[a-z0-9_.][a-z0-9_.-]*")
#: The keys of the ``extra`` the trigger operator puts on each asset event it emits.
EXTRA_KEYS = ("pipeline_id", "web_url", "ref", "sha", "status")


def _refuse(uri: SplitResult | str, why: str) -> DataOpsConfigError:
    shown = uri if isinstance(uri, str) else uri._replace(netloc=uri.netloc.rpartition("@")[2]).geturl()
    return DataOpsConfigError(
        f"not a DataOps.live project asset URI ({why}): {shown!r}; expected "
        f"'{SCHEME}://<host>/<namespace>/<project>' with an optional '?ref=<branch, tag or SHA>'"
    )


def _project_path(uri: SplitResult) -> str:
    path = unquote(uri.path).strip("/").lower()
    if path.endswith(".git"):
        path = path[: -len(".git")]
    segments = path.split("/")
    if len(segments) < 2:
        raise _refuse(uri, "the path must be the project's full path, at least 'namespace/project'")
    for segment in segments:
        if segment in (".", "..") or not _SEGMENT.fullmatch(segment):
            raise _refuse(uri, f"{segment!r} is not a valid project path segment")
    return path


def _ref(uri: SplitResult) -> str | None:
    params = parse_qsl(uri.query, keep_blank_values=True)
    unknown = sorted({key for key, _ in params} - {"ref"})
    if unknown:
        raise _refuse(uri, f"unknown query parameter(s) {', '.join(unknown)}; only 'ref' is allowed")
    refs = [value for _, value in params]
    if len(refs) > 1:
        raise _refuse(uri, "'ref' is given more than once")
    if not refs:
        return None
    try:
        return check_ref(refs[0])
    except DataOpsConfigError as error:
        raise _refuse(uri, str(error)) from None


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Validate and canonicalise a ``dataops://`` project asset URI (Airflow's asset URI handler).

    :param uri: The URI, already split (and cleaned up) by Airflow.
    :returns: The canonical URI.
    :raises DataOpsConfigError: (a ``ValueError``) if the URI cannot name a DataOps.live project.
    """
    if uri.scheme != SCHEME:
        raise _refuse(uri, f"the scheme must be {SCHEME!r}")
    if "@" in uri.netloc:
        raise _refuse(uri, "user info is not allowed")
    try:
        port = uri.port
    except ValueError:
        raise _refuse(uri, "the port must be a number from 1 to 65535") from None
    host = (uri.hostname or "").lower()
    if not host:
        raise _refuse(uri, "the host is missing")
    netloc = host if port in (None, _DEFAULT_PORT) else f"{host}:{port}"
    ref = _ref(uri)
    return SplitResult(
        scheme=SCHEME,
        netloc=netloc,
        path="/" + quote(_project_path(uri)),
        query=urlencode({"ref": ref}) if ref is not None else "",
        fragment="",
    )


def project_uri(project: str, *, ref: str | None = None, host: str = DEFAULT_ASSET_HOST) -> str:
    """The canonical ``dataops://`` URI of a project (and optionally a ref).

    :param project: The project's full path, e.g. ``my-group/my-project``.
    :param ref: A branch, tag or commit SHA, or None for the whole project.
    :param host: The DataOps.live host (with ``:port`` if not 443).
    :raises DataOpsConfigError: if the parts cannot name a project.
    """
    if not isinstance(project, str) or not isinstance(host, str):
        raise DataOpsConfigError(f"project and host must be strings, got {project!r} and {host!r}")
    query = urlencode({"ref": ref}) if ref is not None else ""
    return sanitize_uri(urlsplit(f"{SCHEME}://{host}/{project}?{query}")).geturl()


def create_asset(
    *, project: str, ref: str | None = None, host: str = DEFAULT_ASSET_HOST, extra: dict[str, Any] | None = None
) -> Asset:
    """An asset for a DataOps.live project (Airflow's asset factory for the ``dataops`` scheme).

    :param project: The project's full path, e.g. ``my-group/my-project``.
    :param ref: A branch, tag or commit SHA, or None for the whole project.
    :param host: The DataOps.live host (with ``:port`` if not 443).
    :param extra: The asset's own extra (not the events').
    """
    from airflow.providers.common.compat.sdk import Asset

    return Asset(uri=project_uri(project, ref=ref, host=host), extra=extra or {})


def convert_asset_to_openlineage(asset: Asset, lineage_context: Any) -> Any:
    """The OpenLineage dataset of a project asset: namespace ``dataops://<host>``, name the project path.

    A ref, when the URI has one, stays in the name (``group/project?ref=main``).
    """
    from airflow.providers.common.compat.openlineage.facet import Dataset

    parsed = urlsplit(asset.uri)
    name = unquote(parsed.path).lstrip("/") + (f"?{parsed.query}" if parsed.query else "")
    return Dataset(namespace=f"{SCHEME}://{parsed.netloc}", name=name)


def pipeline_event_extra(pipeline: Mapping[str, Any], ref: str) -> dict[str, Any]:
    """The ``extra`` of an asset event for a pipeline: its id, URL, ref, commit and status."""
    return {
        "pipeline_id": int(pipeline["id"]),
        "web_url": pipeline.get("web_url"),
        "ref": pipeline.get("ref") or ref,
        "sha": pipeline.get("sha"),
        "status": pipeline.get("status"),
    }


def annotate_outlet_events(context: Context, outlets: Iterable[Any], extra: Mapping[str, Any]) -> None:
    """Put ``extra`` on the event each asset outlet will emit when the task succeeds.

    Asset aliases and references are left alone: they name no asset until the user adds one.
    """
    from airflow.providers.common.compat.sdk import Asset

    events = context.get("outlet_events")
    if events is None:
        return
    for outlet in outlets:
        if isinstance(outlet, Asset):
            events[outlet].extra.update(extra)
