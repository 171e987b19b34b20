"""Assets for DataOps.live projects: the ``dataops://`` URI scheme and the extra on asset events.

A project asset names one project on one DataOps.live instance, optionally one ref::

    dataops://app.dataops.live/my-group/my-project
    dataops://app.dataops.live/my-group/sub-group/my-project?ref=main

Airflow calls :func:`sanitize_uri` (registered under ``asset-uris`` in the provider info) for every
``dataops://`` asset, after its own clean-up (fragment and password dropped, query sorted, trailing
``/`` removed). It makes equal projects equal URIs and refuses what cannot name a project:

* the host is normalised as a browser would: an internationalised name becomes its IDNA (punycode)
  form, so ``grün.example`` is ``xn--grn-ioa.example`` and the Kelvin sign (U+212A) is ``k``; a
  trailing dot is dropped; an IP address is written in its canonical form (IPv6 in brackets);
  the default port (443) is dropped, and a port must be from 1 to 65535. A host with a space, a
  ``%`` escape or another character no host name has is refused;
* user info: Airflow itself drops ``user:password@`` (with a warning) before this check, so such a
  URI names the project without it; a bare ``user@`` reaches the check and is refused;
* the path is the project's full path, at least ``namespace/project``: it is URL-decoded and
  lower-cased (GitLab resolves paths case-insensitively), and a trailing ``.git`` is dropped, so a
  clone URL's path works; empty, ``.`` and ``..`` segments and characters GitLab refuses in a path
  are refused, and so is a bare numeric id (the same project by id and by path would be two assets);
* the only query parameter is ``ref``, once, checked like the operators' ``ref``. Airflow drops
  query parameters with an empty value before this check, so ``?ref=`` names the whole project;
  :func:`project_uri` and :func:`create_asset` refuse ``ref=""`` instead.

:func:`project_uri` builds the URI from its parts (nothing is concatenated), so a ``project`` or
``host`` holding ``?``, ``#``, ``/`` or ``@`` is refused rather than read as another part.
"""

from __future__ import annotations

import ipaddress
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


#: A host name's labels once in IDNA form: letters, digits, hyphens (and ``_``, which DNS allows).
_ASCII_HOST = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")


def _canonical_host(uri: SplitResult | str, hostname: str) -> str:
    """The host as it goes into the netloc: IDNA for names, canonical IP form (IPv6 bracketed)."""
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        pass
    else:
        return f"[{address.compressed}]" if address.version == 6 else address.compressed
    name = hostname[:-1] if hostname.endswith(".") else hostname
    if not name.isascii():
        import idna  # installed with requests

        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except idna.IDNAError as error:
            raise _refuse(uri, f"the host {hostname!r} is not a valid internationalised name ({error})") from None
    name = name.lower()
    if not _ASCII_HOST.fullmatch(name) or len(name) > 253:
        raise _refuse(uri, f"the host {hostname!r} is not a valid host name")
    return name


def _netloc(uri: SplitResult | str, hostname: str | None, port: int | None) -> str:
    if not hostname:
        raise _refuse(uri, "the host is missing")
    if port is not None and not 1 <= port <= 65535:
        raise _refuse(uri, "the port must be a number from 1 to 65535")
    host = _canonical_host(uri, hostname)
    return host if port in (None, _DEFAULT_PORT) else f"{host}:{port}"


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
    netloc = _netloc(uri, uri.hostname, port)
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
    if ref is not None and not isinstance(ref, str):
        raise DataOpsConfigError(f"ref must be a string or None, got {ref!r}")
    shown = f"project={project!r}, host={host!r}" + (f", ref={ref!r}" if ref is not None else "")
    if re.search(r"[/?#@\\\s%]", host) or not host:
        raise _refuse(shown, "the host must be a host name or address, with an optional ':port'")
    bracketed = host if host.startswith("[") or host.count(":") < 2 else f"[{host}]"  # a bare IPv6 address
    try:
        parts = urlsplit(f"//{bracketed}")
        port = parts.port
    except ValueError as error:
        raise _refuse(shown, f"the host or port is not valid ({error})") from None
    uri = SplitResult(
        scheme=SCHEME,
        netloc=_netloc(shown, parts.hostname, port),
        path="/" + quote(project, safe="/"),  # '?' and '#' stay in the path, where the check refuses them
        query=urlencode({"ref": ref}) if ref is not None else "",
        fragment="",
    )
    return sanitize_uri(uri).geturl()


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
