"""DataOpsHook: the synchronous client of the DataOps.live (GitLab v4) REST API.

Its policy (request building, redirects, error mapping, retries, masking) comes from
:class:`~airflow_provider_dataops.api.transport.TransportCore`, shared with the asynchronous hook; this
module holds the ``requests`` send loop and the typed API methods operators and sensors call.
``requests`` is imported when the hook first connects, not when a DAG file imports the provider.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_dataops.api import retry as retry_module
from airflow_provider_dataops.api.connection import CONN_TYPE, DEFAULT_CONN_ID, HOOK_NAME, ConnectionSettings
from airflow_provider_dataops.api.job_log import clean_line
from airflow_provider_dataops.api.limits import MAX_LISTING_PAGES, MAX_LOG_LINES, check_count
from airflow_provider_dataops.api.pages import PageGuard
from airflow_provider_dataops.api.paths import api_path, check_ref, job_path, pipeline_path, resource_id
from airflow_provider_dataops.api.project_rules import check_project_attributes
from airflow_provider_dataops.api.redaction import redact
from airflow_provider_dataops.api.retry import RetryPolicy
from airflow_provider_dataops.api.statuses import check_job_scope
from airflow_provider_dataops.api.transport import (
    ApiRequest,
    Delivery,
    TransportCore,
    caused_by,
    first_item,
    local_leaf,
    newest_pipeline_query,
    read_settings,
)
from airflow_provider_dataops.api.variables import normalize_variables, pipeline_variables
from airflow_provider_dataops.connection_form import connection_form_widgets, ui_field_behaviour
from airflow_provider_dataops.errors import (
    DataOpsAPIError,
    DataOpsAuthenticationError,
    DataOpsConfigError,
    DataOpsError,
    DataOpsMalformedResponseError,
    DataOpsNotFoundError,
    DataOpsPermissionError,
)
from airflow_provider_dataops.hooks.artifacts import JobArtifactMethods
from airflow_provider_dataops.hooks.ci_lint import CiLintMethods
from airflow_provider_dataops.hooks.job_logs import JobLogMethods
from airflow_provider_dataops.hooks.schedules import PipelineScheduleMethods
from airflow_provider_dataops.hooks.sync_session import SESSION_POOL_SIZE as SESSION_POOL_SIZE
from airflow_provider_dataops.hooks.sync_session import HookSession
from airflow_provider_dataops.outputs.budget import DEFAULT_MAX_BYTES, DownloadBudget
from airflow_provider_dataops.outputs.budget import DEFAULT_TIMEOUT as DEFAULT_DOWNLOAD_TIMEOUT
from airflow_provider_dataops.outputs.destinations import Destination, DownloadResult, Tally, destination_for

if TYPE_CHECKING:
    import requests

#: GitLab's page size ceiling.
MAX_PER_PAGE = 100
#: Bytes read and written at a time by a download: memory stays flat whatever the artifact's size.
DOWNLOAD_CHUNK = 1 << 20
_OFFSET_LIMIT_HINT = "keyset pagination"
#: The connection test answers a person waiting in the UI: fail fast rather than back off for minutes.
_TEST_POLICY = RetryPolicy(max_attempts=2, max_total_wait=5.0)
# Threads sharing a hook must not each make a session; one lock for all hooks keeps hooks copyable.
_SESSION_LOCK = threading.Lock()


def _delivery(exc: BaseException) -> Delivery | None:
    """What a ``requests`` failure says about the request; None for an exception not to map."""
    import requests
    from urllib3.exceptions import NewConnectionError

    local = (
        requests.exceptions.InvalidURL,  # a bad host or port, and InvalidProxyURL
        requests.exceptions.MissingSchema,
        requests.exceptions.InvalidSchema,  # also a proxy scheme (SOCKS) that cannot be used
        requests.exceptions.InvalidHeader,
        requests.exceptions.InvalidJSONError,
        requests.exceptions.URLRequired,
    )
    if isinstance(exc, local):
        return Delivery.LOCAL
    if isinstance(exc, requests.RequestException):
        # NewConnectionError: no TCP connection, to the server or to the proxy, was ever opened.
        if isinstance(exc, requests.ConnectTimeout) or caused_by(exc, NewConnectionError):
            return Delivery.UNSENT
        return Delivery.SENT
    return Delivery.LOCAL if local_leaf(exc) else None


class DataOpsHook(JobArtifactMethods, JobLogMethods, PipelineScheduleMethods, CiLintMethods, TransportCore, BaseHook):
    """Client for the DataOps.live REST API (GitLab API v4) behind an Airflow connection.

    One hook may be shared by threads: its session keeps up to :data:`SESSION_POOL_SIZE` connections.

    :param dataops_conn_id: Id of a ``dataops`` connection: host (default
        ``https://app.dataops.live``), password = access token, extras ``trigger_token``,
        ``timeout``, ``verify_ssl``, ``proxy``.
    :param timeout: Read timeout in seconds, overriding the connection's ``timeout`` extra.
    :param retry_policy: Retry attempts, total wait and backoff (a :class:`RetryPolicy` or its
        ``to_dict()`` form). Defaults cover GitLab's 60-second throttle windows.
    """

    conn_name_attr = "dataops_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = HOOK_NAME

    # -- connection form (Airflow 2.11-3.1; 3.2+ reads the same fields from provider info) -------

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """WTForms widgets for the extra fields, generated from the declarative ``conn-fields``."""
        return connection_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder fields, from the declarative ``ui-field-behaviour``."""
        return ui_field_behaviour()

    # -- connection and session -----------------------------------------------------------------

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The connection, read once and validated; its tokens are registered with the masker."""
        conn = self.get_connection(self.dataops_conn_id)
        settings = read_settings(
            self.dataops_conn_id,
            host=conn.host,
            port=conn.port,
            password=conn.password,
            extra=conn.extra_dejson,
            raw_extra=conn.extra,
        )
        return self._with_overrides(settings)

    @property
    def api_url(self) -> str:
        """API base URL, e.g. ``https://app.dataops.live/api/v4``."""
        return self.settings.api_url

    def get_conn(self) -> requests.Session:
        """The hook's one ``requests.Session``, created on first use and reused for every call.

        It carries the token, TLS and proxy settings, and a pool of :data:`SESSION_POOL_SIZE` connections.
        """
        return self._hook_session().session

    def _hook_session(self) -> HookSession:
        settings = self.settings  # read outside the lock: it may take a while
        with _SESSION_LOCK:
            hook_session = self.__dict__.get("_session")
            if hook_session is None:
                hook_session = self.__dict__["_session"] = HookSession(settings)
            return hook_session

    def close(self) -> None:
        """Close the session's pooled connections (a later call opens a new session)."""
        with _SESSION_LOCK:
            hook_session = self.__dict__.pop("_session", None)
        if hook_session is not None:
            hook_session.close()

    # -- requests -------------------------------------------------------------------------------

    def _send_once(self, request: ApiRequest, stream: bool, decode: bool) -> tuple[requests.Response, Any]:
        """One attempt: hold if throttled, send, follow read redirects, map the answer, decode it."""
        import requests

        settings = self.settings
        if (delay := self._hold()) > 0:
            self.log.info("Rate limit quota used up; waiting %.1fs before the next request.", delay)
            retry_module.sleep(delay)
        hook_session = self._hook_session()
        while True:
            try:
                response = hook_session.send(
                    request, timeout=(settings.connect_timeout, settings.timeout), stream=stream
                )
            except (requests.RequestException, ValueError, OverflowError) as exc:
                delivery = _delivery(exc)
                if delivery is None:
                    raise
                raise self._failure(exc, request, settings, delivery) from None
            follow = self._redirect(request, response.status_code, response.headers, settings)
            if follow is None:
                break
            response.close()
            request = follow
        if not 200 <= response.status_code < 300:
            response.content  # noqa: B018 - read the body of a streamed error before mapping it
        self._check(request, response, settings)
        body = (
            self._decode(request, response.status_code, response.headers, response.content, settings.secrets)
            if decode
            else None
        )
        return response, body

    def _exchange(
        self,
        method: str,
        endpoint: str,
        *,
        stream: bool = False,
        decode: bool = True,
        retry_policy: RetryPolicy | None = None,
        **request: Any,
    ) -> tuple[requests.Response, Any]:
        """Send one request under the retry policy; returns the 2xx response and its JSON body.

        :param stream: Leave the body unread, for :meth:`get_job_log` (implies ``decode=False``).
        :param decode: Decode the body as JSON inside the attempt, so a malformed body is retried.
        :param retry_policy: Overrides the hook's policy for this request.
        :param request: ``params``, ``json``, ``data``, ``idempotent``, ``trigger_route``,
            ``anonymous``, ``url``: see :meth:`TransportCore._prepare`.
        """
        prepared = self._prepare(self.settings, method, endpoint, **request)
        return (retry_policy or self.retry_policy).call(self._send_once, prepared, stream, decode and not stream)

    def _json(self, method: str, endpoint: str, **request: Any) -> Any:
        return self._exchange(method, endpoint, **request)[1]

    def _download(
        self,
        endpoint: str,
        destination: Any,
        *,
        params: Mapping[str, Any] | None = None,
        max_bytes: Any = DEFAULT_MAX_BYTES,
        download_timeout: Any = DEFAULT_DOWNLOAD_TIMEOUT,
    ) -> DownloadResult:
        """Stream a GET's body to ``destination``; every attempt of the retry policy starts over.

        Redirects (artifacts live in object storage) are followed as for any read: without the token
        on another host. ``max_bytes`` and ``download_timeout`` hold across attempts, while streaming.
        """
        budget = DownloadBudget(max_bytes, download_timeout)
        target = destination_for(destination)
        prepared = self._prepare(self.settings, "GET", endpoint, params=params)
        prepared = prepared._replace(headers={**prepared.headers, "Accept": "*/*"})
        try:
            tally = self.retry_policy.call(self._download_once, prepared, target, budget)
            target.commit()
        except BaseException:
            target.discard()
            raise
        where = target.label or "the file object"
        self.log.info("Downloaded %s to %s: %d bytes, sha256 %s.", prepared.path, where, tally.size, tally.sha256)
        return {"path": target.label, "size": tally.size, "sha256": tally.sha256}

    def _download_once(self, request: ApiRequest, target: Destination, budget: DownloadBudget) -> Tally:
        import requests

        label = f"GET {request.path}"
        budget.check(0, label)
        response, _ = self._send_once(request, stream=True, decode=False)
        tally = Tally()
        # A body dripping under the read timeout never ends a read: at the deadline the socket is shut.
        watchdog = threading.Timer(max(budget.remaining(), 0), _shut_socket, args=(response,))
        watchdog.daemon = True
        watchdog.start()
        try:
            with response, target.attempt() as stream:
                try:
                    for chunk in response.iter_content(chunk_size=DOWNLOAD_CHUNK):
                        budget.check(tally.size + len(chunk), label)
                        stream.write(chunk)
                        tally.add(chunk)
                    budget.check(tally.size, label)  # a body without a length "ends" when the socket is shut
                except requests.RequestException as exc:  # the body broke off: a retry starts again
                    if budget.remaining() <= 0:
                        raise budget.timed_out(label) from None
                    raise self._failure(exc, request, self.settings, Delivery.SENT) from None
        finally:
            watchdog.cancel()
        return tally

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
    ) -> Any:
        """Call any API endpoint and return the decoded JSON body (None for an empty body).

        :param method: HTTP method. Only GET, HEAD and OPTIONS are retried after a server error or a
            lost connection; other methods raise
            :class:`~airflow_provider_dataops.errors.DataOpsRequestMaybeAppliedError` instead.
        :param endpoint: Path relative to ``/api/v4``, with path parameters already encoded
            (see :func:`airflow_provider_dataops.api.paths.resource_id`), e.g. ``/projects/1/pipelines``.
        :param params: Query parameters.
        :param json: JSON body.
        :param data: Form body.
        """
        return self._json(method, endpoint, params=params, json=json, data=data)

    # -- pagination -----------------------------------------------------------------------------

    def _next_page_url(self, response: requests.Response) -> str | None:
        """The next page's URL from ``Link: rel="next"``, else from ``X-Next-Page``; None at the end."""
        link = response.links.get("next", {}).get("url")
        if link:
            target = urlsplit(urljoin(response.url, link))
            base = urlsplit(self.api_url)
            if target[:2] != base[:2]:
                # The server advertised another host (a proxy's view of itself); keep talking to
                # ours, so the token never leaves for a host the connection does not name.
                self.log.warning("Pagination link points to %s; using %s instead.", target.netloc, base.netloc)
            return target._replace(scheme=base.scheme, netloc=base.netloc).geturl()
        next_page = response.headers.get("x-next-page", "").strip()
        if next_page.isdigit():
            request_url = urlsplit(response.url)
            query = re.sub(r"(^|&)page=\d+", "", request_url.query).lstrip("&")
            return request_url._replace(query=f"{query}&page={next_page}".lstrip("&")).geturl()
        return None

    def paginate(
        self,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        per_page: int = MAX_PER_PAGE,
        max_pages: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Iterate lazily over every item of a listing, fetching one page at a time.

        Follows ``Link: rel="next"``, then ``X-Next-Page``, and never relies on ``X-Total`` (absent
        above 10,000 records). A page longer than ``per_page`` is cut to it (with a warning), and a
        page read twice (the same link, page number or rows) ends the walk with
        :class:`~airflow_provider_dataops.errors.DataOpsMalformedResponseError`
        (:mod:`~airflow_provider_dataops.api.pages`). Pass
        ``params={"pagination": "keyset", "order_by": "id"}`` for keyset paging. An offset listing
        that hits GitLab's offset ceiling (405 past 50,000 records) switches to keyset paging by id
        and skips what it already yielded.

        :param endpoint: Path relative to ``/api/v4``.
        :param params: Filters.
        :param per_page: Page size, 1 to 100.
        :param max_pages: Stop after this many pages (None: no limit).
        """
        if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= MAX_PER_PAGE:
            raise DataOpsConfigError(f"per_page must be an integer from 1 to {MAX_PER_PAGE}, got {per_page!r}")
        if max_pages is not None:
            check_count(max_pages, "max_pages", minimum=1, maximum=MAX_LISTING_PAGES)
        query: dict[str, Any] = {**(params or {}), "per_page": per_page}
        keyset = query.get("pagination") == "keyset"
        if keyset:
            query.setdefault("order_by", "id")
            query.setdefault("sort", "asc")
        # Offset pages can repeat items when data changes mid-walk, and the 405 switch restarts from
        # the first id; keyset pages cannot repeat, so only offset walks pay for remembering ids.
        seen: set[Any] | None = None if keyset else set()
        url: str | None = None
        guard = PageGuard(endpoint, per_page)
        pages = 0
        while max_pages is None or pages < max_pages:
            try:
                response, items = self._exchange("GET", endpoint, params=None if url else query, url=url)
            except DataOpsAPIError as error:
                if keyset or error.status != 405 or _OFFSET_LIMIT_HINT not in error.server_message.lower():
                    raise
                self.log.info("Offset pagination limit reached on %s; continuing with keyset pagination.", endpoint)
                keyset, url = True, None  # keep `seen`: the keyset walk restarts from the first id
                query = {**query, "pagination": "keyset", "order_by": "id", "sort": "asc"}
                query.pop("page", None)
                guard = PageGuard(endpoint, per_page)  # the keyset walk may read the first ids again
                continue
            pages += 1
            if not isinstance(items, list):
                raise DataOpsMalformedResponseError(
                    f"GET {endpoint} did not return a list",
                    status=response.status_code,
                    method="GET",
                    path=endpoint,
                )
            rows = guard.check(items, marker=response.url)
            if seen is None:
                yield from rows
            else:
                yield from _unseen(rows, seen)
            url = self._next_page_url(response)
            if url is None:
                return

    # -- connection test ------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection with a cheap authenticated read; the message never contains a token.

        :returns: ``(ok, message)``; the message names the user, the token's scopes and expiry when
            the server reports them. A trigger-token-only connection is reported as able to
            trigger pipelines but not to read them.
        """
        try:
            settings = self.settings
            if not settings.access_token:
                return self._test_trigger_only(settings)
            user = self._json("GET", "/user", retry_policy=_TEST_POLICY)
            message = f"Connected to {settings.api_url} as {user.get('username', '?')}"
            try:
                token = self._json("GET", "/personal_access_tokens/self", retry_policy=_TEST_POLICY)
            except (DataOpsNotFoundError, DataOpsAuthenticationError, DataOpsPermissionError):
                token = None  # older GitLab, or a token type that cannot describe itself
            if isinstance(token, dict):
                scopes = token.get("scopes") or []
                message += f"; token scopes: {', '.join(scopes) or 'none'}"
                if token.get("expires_at"):
                    message += f"; expires {token['expires_at']}"
                if "api" not in scopes:
                    message += " (without the 'api' scope it can read but cannot trigger or cancel pipelines)"
            if settings.trigger_token:
                message += "; a trigger token is also set"
            return True, message + "."
        except DataOpsError as error:
            return False, self._test_failure(str(error))
        except Exception as error:  # the UI shows the message; never let it crash the test button
            return False, self._test_failure(f"{type(error).__name__}: {error}")

    def _test_failure(self, message: str) -> str:
        """A failed test's message, naming the API URL rather than the connection id.

        Airflow's test endpoint tests every connection under a random transient id (``'UN7etAgD'``),
        which means nothing to the person who pressed the button; the URL they typed does.
        """
        read = "settings" in self.__dict__
        where = f"the connection to {self.settings.api_url}" if read else "the connection"
        message = message.replace(f"connection {self.dataops_conn_id!r}", where)
        return redact(message, self.settings.secrets if read else ())

    def _test_trigger_only(self, settings: ConnectionSettings) -> tuple[bool, str]:
        # A trigger token can call nothing but the trigger endpoint, which always starts a
        # pipeline; so check only that the server answers.
        with contextlib.suppress(DataOpsAuthenticationError):  # the expected answer: the server is there
            self._exchange("GET", "/version", retry_policy=_TEST_POLICY, anonymous=True, decode=False)
        return (
            True,
            f"{settings.api_url} is reachable. The connection holds only a pipeline trigger token: it "
            "can trigger pipelines but cannot read them (no waiting, no sensor), and the token itself "
            "cannot be checked without starting a pipeline. Add an access token as the password to read.",
        )

    # -- projects and namespaces ----------------------------------------------------------------

    def get_project(self, project: int | str) -> dict[str, Any]:
        """Get a project by numeric id or full path (``group/sub/project``)."""
        return self._json("GET", api_path("projects", resource_id(project, "project")))

    def list_projects(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Iterate over projects, e.g. ``list_projects(search="sales", membership=True, simple=True)``.

        Uses keyset paging (by id) unless ``order_by`` names another field, so listings of any size
        work; filters are GitLab's (``search``, ``membership``, ``owned``, ``visibility``, ...).
        """
        params = {key: _query_value(value) for key, value in filters.items()}
        if params.get("order_by", "id") == "id":
            params.setdefault("pagination", "keyset")
        return self.paginate("/projects", params=params)

    def get_namespace(self, namespace: int | str) -> dict[str, Any]:
        """Get a namespace (group or user) by numeric id or full path."""
        return self._json("GET", api_path("namespaces", resource_id(namespace, "namespace")))

    def create_project(
        self,
        name: str | None = None,
        *,
        path: str | None = None,
        namespace: int | str | None = None,
        description: str | None = None,
        visibility: str | None = None,
        initialize_with_readme: bool | None = None,
        default_branch: str | None = None,
        **attributes: Any,
    ) -> dict[str, Any]:
        """Create a project (``POST /projects``) and return it.

        :param name: Display name; derived from ``path`` when omitted.
        :param path: URL path; derived from ``name`` by GitLab when omitted.
        :param namespace: Group or user namespace, by id or full path (resolved to its id);
            defaults to the token owner's namespace.
        :param visibility: ``private``, ``internal`` or ``public``.
        :param default_branch: A short branch name such as ``main`` (GitLab silently ignores
            ``refs/heads/...``).
        :param attributes: Any other ``POST /projects`` attribute.
        :raises DataOpsRequestMaybeAppliedError: when the answer was lost; look the project up by
            path before trying again.
        """
        body = check_project_attributes(name, path, description, visibility, initialize_with_readme, default_branch)
        if namespace is not None:
            body["namespace_id"] = self.resolve_namespace_id(namespace)
        body.update(attributes)
        return self._json("POST", "/projects", json=body)

    def resolve_namespace_id(self, namespace: int | str) -> int:
        """The numeric id of a namespace given by id or full path."""
        segment = resource_id(namespace, "namespace")
        if segment.isdigit():
            return int(segment)
        return int(self.get_namespace(namespace)["id"])

    # -- pipelines ------------------------------------------------------------------------------

    def trigger_pipeline(
        self,
        project: int | str,
        ref: str,
        *,
        variables: Mapping[str, Any] | None = None,
        pipeline_file: str | None = None,
    ) -> dict[str, Any]:
        """Start a pipeline and return it (``status`` is ``created``).

        With an access token this calls ``POST /projects/:id/pipeline`` (variables as a list); with
        only a trigger token, ``POST /projects/:id/trigger/pipeline`` (``token``, ``ref``,
        ``variables[KEY]`` as a form). Every accepted call starts a new pipeline, so the request is
        never repeated after an ambiguous failure.

        :param project: Numeric id or full path.
        :param ref: Branch, tag or commit SHA.
        :param variables: Pipeline variables; numbers and booleans become strings, anything else
            is refused before sending.
        :param pipeline_file: DataOps.live pipeline file, e.g. ``full-ci.yml``; sent as the
            ``_PIPELINE_FILE_NAME`` variable.
        :raises DataOpsRequestMaybeAppliedError: when the answer was lost; look for the pipeline
            before trying again.
        """
        project_id = resource_id(project, "project")
        ref = check_ref(ref)
        values = pipeline_variables(variables, pipeline_file)
        settings = self.settings
        if settings.access_token:
            body = {
                "ref": ref,
                "variables": [{"key": k, "value": v, "variable_type": "env_var"} for k, v in values.items()],
            }
            try:
                return self._json("POST", api_path("projects", project_id, "pipeline"), json=body)
            except DataOpsPermissionError:
                if not settings.trigger_token:
                    raise
                # A read-only token: the server refused before acting, so the trigger token may try.
                self.log.info("The access token may not create pipelines; using the trigger token.")
        form = {"token": settings.trigger_token, "ref": ref}
        form.update({f"variables[{key}]": value for key, value in values.items()})
        return self._json(
            "POST", api_path("projects", project_id, "trigger", "pipeline"), data=form, trigger_route=True
        )

    def get_pipeline(self, project: int | str, pipeline_id: int | str) -> dict[str, Any]:
        """Get one pipeline: status, ``web_url``, ``sha``, ``ref``, times, ``duration``..."""
        return self._json("GET", pipeline_path(project, pipeline_id))

    def list_pipelines(self, project: int | str, **filters: Any) -> Iterator[dict[str, Any]]:
        """Iterate over a project's pipelines, newest first by default.

        Filters are GitLab's: ``ref``, ``status``, ``source``, ``scope``, ``sha``, ``username``,
        ``updated_after``/``updated_before``, ``created_after``/``created_before`` (datetimes or
        ISO 8601 strings), ``order_by``, ``sort``.
        """
        params = {key: _query_value(value) for key, value in filters.items()}
        return self.paginate(api_path("projects", resource_id(project, "project"), "pipelines"), params=params)

    def newest_pipeline(self, project: int | str, ref: str) -> dict[str, Any] | None:
        """The newest pipeline on ``ref`` (short form), or None when there is none yet."""
        path, params = newest_pipeline_query(project, ref)
        return first_item(self._json("GET", path, params=params), path)

    def get_pipeline_variables(self, project: int | str, pipeline_id: int | str) -> list[dict[str, Any]]:
        """The variables a pipeline was started with: ``[{key, value, variable_type}]``."""
        return self._json("GET", pipeline_path(project, pipeline_id, "variables"))

    def find_pipeline_by_variable(
        self,
        project: int | str,
        *,
        key: str,
        value: str,
        ref: str | None = None,
        updated_after: Any = None,
        max_candidates: int = 500,
    ) -> dict[str, Any] | None:
        """Find the newest pipeline started with variable ``key=value`` (e.g. a run marker).

        Used to reconcile after a trigger whose answer was lost, or a task retried after a crash:
        the pipelines of ``ref`` updated after ``updated_after`` are checked newest first.

        :param max_candidates: Pipelines to check at most (one request each).
        :raises DataOpsError: when more pipelines than that match the filters: "not found" could
            then be wrong, and a caller would start a duplicate.
        """
        check_count(max_candidates, "max_candidates", minimum=1, maximum=MAX_LISTING_PAGES)
        filters: dict[str, Any] = {"order_by": "id", "sort": "desc"}
        if ref is not None:
            filters["ref"] = check_ref(ref)
        if updated_after is not None:
            filters["updated_after"] = updated_after
        for index, pipeline in enumerate(self.list_pipelines(project, **filters)):
            if index >= max_candidates:
                raise DataOpsError(
                    f"More than {max_candidates} pipelines on {ref or 'any ref'} since {updated_after}: cannot "
                    f"tell whether one was started with {key}={value!r}"
                )
            for variable in self.get_pipeline_variables(project, pipeline["id"]):
                if variable.get("key") == key and variable.get("value") == value:
                    return pipeline
        return None

    def cancel_pipeline(self, project: int | str, pipeline_id: int | str) -> dict[str, Any]:
        """Ask GitLab to cancel a pipeline (200 whatever its state); returns the pipeline.

        Expect ``canceling`` before ``canceled``: re-read the pipeline to see the final state.
        Repeating a cancel is harmless, so it is retried like a read.
        """
        return self._json("POST", pipeline_path(project, pipeline_id, "cancel"), idempotent=True)

    def retry_pipeline(self, project: int | str, pipeline_id: int | str) -> dict[str, Any]:
        """Re-run the failed and canceled jobs of a pipeline; returns the pipeline.

        Repeating it is harmless (a second call finds nothing left to retry), so it is retried like
        a read.
        """
        return self._json("POST", pipeline_path(project, pipeline_id, "retry"), idempotent=True)

    def list_pipeline_jobs(
        self,
        project: int | str,
        pipeline_id: int | str,
        *,
        scope: str | list[str] | None = None,
        include_retried: bool = False,
    ) -> list[dict[str, Any]]:
        """The jobs of a pipeline, newest first.

        :param scope: One job status or several, e.g. ``["failed", "canceled"]``.
        :param include_retried: Include jobs that were retried.
        """
        params: dict[str, Any] = {}
        if scopes := check_job_scope(scope):
            params["scope[]"] = scopes
        if include_retried:
            params["include_retried"] = "true"
        return list(self.paginate(pipeline_path(project, pipeline_id, "jobs"), params=params))

    def get_test_report_summary(self, project: int | str, pipeline_id: int | str) -> dict[str, Any]:
        """A pipeline's test counts (``GET .../pipelines/:pipeline_id/test_report_summary``).

        ``{"total": {"time", "count", "success", "failed", "skipped", "error", "suite_error"},
        "test_suites": [{"name", "total_count", "failed_count", ...}]}``. A pipeline without test
        reports has a ``count`` of 0. Cheap, unlike :meth:`get_test_report`.
        """
        return self._json("GET", pipeline_path(project, pipeline_id, "test_report_summary"))

    def get_test_report(self, project: int | str, pipeline_id: int | str) -> dict[str, Any]:
        """A pipeline's full test report (``GET .../pipelines/:pipeline_id/test_report``).

        Totals (``total_count``, ``failed_count``, ...) and every suite with all its ``test_cases``
        (``status``, ``name``, ``classname``, ``file``, ``execution_time``, ``system_output``,
        ``stack_trace``). It can be large: read :meth:`get_test_report_summary` first.
        """
        return self._json("GET", pipeline_path(project, pipeline_id, "test_report"))

    def get_job_log(
        self,
        project: int | str,
        job_id: int | str,
        *,
        tail_lines: int | None = 100,
        strip_formatting: bool = True,
    ) -> str:
        """A job's log (trace). Streamed, keeping only the last ``tail_lines`` lines in memory.

        :param tail_lines: Lines to keep from the end; None keeps the whole log.
        :param strip_formatting: Show each line as a terminal would
            (:func:`~airflow_provider_dataops.api.job_log.clean_line`): no ANSI colours, a section
            start as a header line, the last state of carriage-return rewrites.
        """
        if tail_lines is not None:
            check_count(tail_lines, "tail_lines", minimum=1, maximum=MAX_LOG_LINES)
        path = job_path(project, job_id, "trace")
        response, _ = self._exchange("GET", path, stream=True)
        with response:
            if not response.encoding or response.encoding.lower() == "iso-8859-1":
                response.encoding = "utf-8"  # GitLab sends UTF-8 text/plain without a charset
            lines: deque[str] = deque(maxlen=tail_lines)
            for line in _log_lines(response.iter_content(chunk_size=65536, decode_unicode=True)):
                if strip_formatting:
                    cleaned = clean_line(line)
                    if cleaned is None:
                        continue
                    line = cleaned
                lines.append(line)
        return redact("\n".join(lines), self.settings.secrets)

    def play_job(
        self, project: int | str, job_id: int | str, *, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Start a ``manual`` job (``POST /projects/:id/jobs/:job_id/play``); returns the job.

        GitLab refuses a job that is not ``manual`` with 400 *Unplayable Job*, so a job is never
        played twice; still, the request is not repeated after an ambiguous failure: re-read the job
        to see whether it started.

        :param variables: Variables for this job only (``job_variables_attributes``); values are
            converted like pipeline variables, and refused before sending if they cannot be.
        """
        path = self._job_path(project, job_id, "play")
        values = normalize_variables(variables)
        body = {"job_variables_attributes": [{"key": key, "value": value} for key, value in values.items()]}
        return self._json("POST", path, json=body if values else None)

    def cancel_job(self, project: int | str, job_id: int | str) -> dict[str, Any]:
        """Cancel a job (GitLab answers whatever its state); returns the job. Retried like a read."""
        return self._json("POST", self._job_path(project, job_id, "cancel"), idempotent=True)

    def retry_job(self, project: int | str, job_id: int | str) -> dict[str, Any]:
        """Run a finished job again; returns the **new** job (another id).

        Every accepted call creates a job, so it is never repeated after an ambiguous failure.
        GitLab answers 403 *Job is not retryable* for a job that has not finished.
        """
        return self._json("POST", self._job_path(project, job_id, "retry"))

    @staticmethod
    def _job_path(project: int | str, job_id: int | str, *rest: str) -> str:
        return job_path(project, job_id, *rest)


def _unseen(rows: list[Any], seen: set[Any]) -> Iterator[Any]:
    """The rows whose id is not in ``seen`` (rows without a hashable id always), adding theirs."""
    for row in rows:
        key = row.get("id") if isinstance(row, dict) else None
        if key is not None:
            try:
                if key in seen:
                    continue
                seen.add(key)
            except TypeError:  # an id the server made a list or an object: not one to remember
                pass
        yield row


def _log_lines(chunks: Iterator[str]) -> Iterator[str]:
    """Split streamed text on newlines only (GitLab logs use bare carriage returns inside lines)."""
    pending = ""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split("\n")
        yield from complete
    if pending:
        yield pending


def _query_value(value: Any) -> Any:
    """GitLab query values: booleans as ``true``/``false``, datetimes as ISO 8601."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _shut_socket(response: requests.Response) -> None:
    """Shut a streaming response's socket, so a read blocked on a dripping body returns at once."""
    raw = response.raw
    # urllib3 keeps the socket on the connection, or (2.x, once the headers are read) only in the
    # http.client response's socket reader.
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is None:
        reader = getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None)
        sock = getattr(reader, "_sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
