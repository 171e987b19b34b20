"""DataOpsHook: the synchronous client of the DataOps.live (GitLab v4) REST API.

It owns every HTTP detail: the connection, auth headers, URL encoding, timeouts, redirects,
pagination, retries and error mapping. Operators and sensors only call its methods.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from collections import deque
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from airflow.providers.common.compat.sdk import BaseHook, mask_secret
from urllib3.exceptions import NewConnectionError

from airflow_provider_dataops import retry as retry_module
from airflow_provider_dataops._client import (
    MAX_REDIRECTS,
    SAFE_METHODS,
    TOKEN_HEADER,
    check_method,
    default_headers,
    raise_for_response,
    redirect_target,
    tls_error,
)
from airflow_provider_dataops.connection import ConnectionSettings, check_conn_id, check_read_timeout
from airflow_provider_dataops.connection_form import (
    CONN_FIELDS,
    CONN_TYPE,
    DEFAULT_CONN_ID,
    HOOK_NAME,
    UI_FIELD_BEHAVIOUR,
)
from airflow_provider_dataops.errors import (
    DataOpsAPIError,
    DataOpsAuthenticationError,
    DataOpsConfigError,
    DataOpsError,
    DataOpsNotFoundError,
    DataOpsPermissionError,
    DataOpsTransportError,
    redact,
)
from airflow_provider_dataops.paths import api_path, check_endpoint, check_ref, numeric_id, pipeline_path, resource_id
from airflow_provider_dataops.retry import RetryPolicy, throttle_delay
from airflow_provider_dataops.status import check_job_scope
from airflow_provider_dataops.variables import pipeline_variables

#: GitLab's page size ceiling.
MAX_PER_PAGE = 100
_VISIBILITIES = ("private", "internal", "public")
_OFFSET_LIMIT_HINT = "keyset pagination"
#: The connection test answers a person waiting in the UI: fail fast rather than back off for minutes.
_TEST_POLICY = RetryPolicy(max_attempts=2, max_total_wait=5.0)
# Colour codes and collapsible-section markers that GitLab job logs carry.
_LOG_NOISE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|section_(?:start|end):\d+:[\w.-]+(?:\[[^\]]*\])?\r?")


def _transport_error(
    exc: requests.RequestException, method: str, path: str, secrets: tuple[str, ...]
) -> DataOpsTransportError:
    """Map a ``requests`` failure, noting whether the request can have reached the server."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    sent = not (isinstance(exc, requests.ConnectTimeout) or isinstance(reason, NewConnectionError))
    detail = redact(f"{type(exc).__name__}: {exc}", secrets)
    return DataOpsTransportError(
        f"{method} {path} failed without a response ({detail})", method=method, path=path, sent=sent
    )


class DataOpsHook(BaseHook):
    """Client for the DataOps.live REST API (GitLab API v4) behind an Airflow connection.

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

    def __init__(
        self,
        dataops_conn_id: str = DEFAULT_CONN_ID,
        *,
        timeout: float | None = None,
        retry_policy: RetryPolicy | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.dataops_conn_id = check_conn_id(dataops_conn_id)
        self.timeout_override = None if timeout is None else check_read_timeout(timeout)
        self.retry_policy = (
            retry_policy if isinstance(retry_policy, RetryPolicy) else RetryPolicy.from_dict(retry_policy)
        )
        self._not_before = 0.0

    # -- connection form (Airflow 2.11-3.1; 3.2+ reads the same fields from provider info) -------

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """WTForms widgets for the extra fields, generated from the declarative ``conn-fields``."""
        from wtforms import BooleanField, IntegerField, PasswordField, StringField

        try:
            from flask_babel import lazy_gettext
        except ImportError:  # Airflow 3.0/3.1 API server without Flask-Babel

            def lazy_gettext(text: str) -> str:
                return text

        try:
            from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget

            text_widget: Any = BS3TextFieldWidget()
            password_widget: Any = BS3PasswordFieldWidget()
        except ImportError:
            text_widget = password_widget = None

        widgets: dict[str, Any] = {}
        for name, field in CONN_FIELDS.items():
            schema = field["schema"]
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            label = lazy_gettext(field["label"])
            options: dict[str, Any] = {"description": field.get("description", "")}
            if schema.get("format") == "password":
                widgets[name] = PasswordField(label, widget=password_widget, **options)
            elif "boolean" in types:
                widgets[name] = BooleanField(label, default=schema.get("default", False), **options)
            elif "integer" in types or "number" in types:
                widgets[name] = IntegerField(label, widget=text_widget, **options)
            else:
                widgets[name] = StringField(label, widget=text_widget, **options)
        return widgets

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder fields, from the declarative ``ui-field-behaviour``."""
        return {
            "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
            "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
            "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
        }

    # -- connection and session -----------------------------------------------------------------

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The connection, read once and validated."""
        conn = self.get_connection(self.dataops_conn_id)
        settings = ConnectionSettings.from_connection(
            self.dataops_conn_id,
            host=conn.host,
            port=conn.port,
            password=conn.password,
            extra=conn.extra_dejson,
            raw_extra=conn.extra,
        )
        for secret in settings.secrets:
            mask_secret(secret)
        if self.timeout_override is not None:
            settings = dataclasses.replace(settings, timeout=float(self.timeout_override))
        return settings

    @property
    def api_url(self) -> str:
        """API base URL, e.g. ``https://app.dataops.live/api/v4``."""
        return self.settings.api_url

    def get_conn(self) -> requests.Session:
        """The hook's one ``requests.Session``, created on first use and reused for every call."""
        return self._session

    @cached_property
    def _session(self) -> requests.Session:
        settings = self.settings
        session = requests.Session()
        session.headers.update(default_headers(settings))
        session.verify = settings.verify
        if settings.proxy:
            session.proxies = {"http": settings.proxy, "https": settings.proxy}
        return session

    def close(self) -> None:
        """Close the session's pooled connections (a later call opens a new session)."""
        if "_session" in self.__dict__:
            self.__dict__.pop("_session").close()

    # -- requests -------------------------------------------------------------------------------

    def _send_once(
        self,
        method: str,
        path: str,
        *,
        url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Any,
        idempotent: bool,
        trigger_route: bool,
        stream: bool,
    ) -> requests.Response:
        settings = self.settings
        if (delay := self._not_before - time.time()) > 0:
            self.log.info("Rate limit quota used up; waiting %.1fs before the next request.", delay)
            retry_module.sleep(delay)
        headers: dict[str, Any] = {}
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = self.get_conn().request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=headers,
                    timeout=(settings.connect_timeout, settings.timeout),
                    allow_redirects=False,
                    stream=stream,
                )
            except requests.RequestException as exc:
                if tls_failure := tls_error(exc, method, path):
                    raise tls_failure from None
                error = _transport_error(exc, method, path, settings.secrets)
                raise retry_module.guard_write(error, idempotent=idempotent) from None
            if not (response.is_redirect and method in SAFE_METHODS):
                break
            url, same_origin = redirect_target(url, response.headers["location"], settings.api_url)
            params = None
            if not same_origin:
                headers = {TOKEN_HEADER: None}  # None removes the session's header
            response.close()
        self._not_before = time.time() + (throttle_delay(response.headers) or 0.0)
        if not 200 <= response.status_code < 300:
            response.content  # noqa: B018 - read the body of a streamed error before mapping it
        raise_for_response(
            response,
            method=method,
            path=path,
            settings=settings,
            idempotent=idempotent,
            trigger_route=trigger_route,
        )
        return response

    def _send(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        idempotent: bool | None = None,
        trigger_route: bool = False,
        stream: bool = False,
        url: str | None = None,
        retry_policy: RetryPolicy | None = None,
        anonymous: bool = False,
    ) -> requests.Response:
        """Send one request with the retry policy; returns a 2xx response or raises.

        :param idempotent: Whether repeating it is harmless; defaults to True for GET and HEAD only.
        :param url: Absolute URL to fetch instead of ``endpoint`` (pagination links, already
            checked to stay on the API host).
        :param retry_policy: Overrides the hook's policy for this request.
        :param anonymous: The request is meant to go without an access token.
        """
        method = check_method(method)
        path = check_endpoint(endpoint)
        if not (self.settings.access_token or trigger_route or anonymous):
            raise DataOpsConfigError(
                f"connection {self.dataops_conn_id!r} holds only a pipeline trigger token, which can call "
                f"nothing but the trigger endpoint; add an access token (the password) to {method} {path}"
            )
        safe = method in SAFE_METHODS if idempotent is None else idempotent
        return (retry_policy or self.retry_policy).retrying()(
            self._send_once,
            method,
            path,
            url=url or self.api_url + path,
            params=params,
            json=json,
            data=data,
            idempotent=safe,
            trigger_route=trigger_route,
            stream=stream,
        )

    def _json(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        response = self._send(method, endpoint, **kwargs)
        return _decode_json(response, method, endpoint) if response.content else None

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
            (see :func:`airflow_provider_dataops.paths.resource_id`), e.g. ``/projects/1/pipelines``.
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
        above 10,000 records). Pass ``params={"pagination": "keyset", "order_by": "id"}`` for keyset
        paging. An offset listing that hits GitLab's offset ceiling (405 past 50,000 records)
        switches to keyset paging by id and skips what it already yielded.

        :param endpoint: Path relative to ``/api/v4``.
        :param params: Filters.
        :param per_page: Page size, 1 to 100.
        :param max_pages: Stop after this many pages (None: no limit).
        """
        if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= MAX_PER_PAGE:
            raise DataOpsConfigError(f"per_page must be an integer from 1 to {MAX_PER_PAGE}, got {per_page!r}")
        if max_pages is not None and (not isinstance(max_pages, int) or max_pages < 1):
            raise DataOpsConfigError(f"max_pages must be a positive integer or None, got {max_pages!r}")
        query: dict[str, Any] = {**(params or {}), "per_page": per_page}
        keyset = query.get("pagination") == "keyset"
        if keyset:
            query.setdefault("order_by", "id")
            query.setdefault("sort", "asc")
        # Offset pages can repeat items when data changes mid-walk, and the 405 switch restarts from
        # the first id; keyset pages cannot repeat, so only offset walks pay for remembering ids.
        seen: set[Any] | None = None if keyset else set()
        url: str | None = None
        pages = 0
        while max_pages is None or pages < max_pages:
            try:
                response = self._send("GET", endpoint, params=None if url else query, url=url)
            except DataOpsAPIError as error:
                if keyset or error.status != 405 or _OFFSET_LIMIT_HINT not in error.server_message.lower():
                    raise
                self.log.info("Offset pagination limit reached on %s; continuing with keyset pagination.", endpoint)
                keyset, url = True, None  # keep `seen`: the keyset walk restarts from the first id
                query = {**query, "pagination": "keyset", "order_by": "id", "sort": "asc"}
                query.pop("page", None)
                continue
            pages += 1
            items = _decode_json(response, "GET", endpoint)
            if not isinstance(items, list):
                raise DataOpsAPIError(
                    f"GET {endpoint} did not return a list",
                    status=response.status_code,
                    method="GET",
                    path=endpoint,
                )
            for item in items:
                key = item.get("id") if seen is not None and isinstance(item, dict) else None
                if key is not None and seen is not None:
                    if key in seen:
                        continue
                    seen.add(key)
                yield item
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
            return False, redact(str(error), self._secrets_or_empty())
        except Exception as error:  # the UI shows the message; never let it crash the test button
            return False, redact(f"{type(error).__name__}: {error}", self._secrets_or_empty())

    def _secrets_or_empty(self) -> tuple[str, ...]:
        return self.settings.secrets if "settings" in self.__dict__ else ()

    def _test_trigger_only(self, settings: ConnectionSettings) -> tuple[bool, str]:
        # A trigger token can call nothing but the trigger endpoint, which always starts a
        # pipeline; so check only that the server answers.
        with contextlib.suppress(DataOpsAuthenticationError):  # the expected answer: the server is there
            self._send("GET", "/version", retry_policy=_TEST_POLICY, anonymous=True)
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
        path = api_path("projects", resource_id(project, "project"), "pipelines")
        params = {"ref": check_ref(ref), "order_by": "id", "sort": "desc"}
        return next(self.paginate(path, params=params, per_page=1, max_pages=1), None)

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
        :param strip_formatting: Remove ANSI colours and GitLab section markers.
        """
        if tail_lines is not None and (not isinstance(tail_lines, int) or tail_lines < 1):
            raise DataOpsConfigError(f"tail_lines must be a positive integer or None, got {tail_lines!r}")
        path = api_path("projects", resource_id(project, "project"), "jobs", numeric_id(job_id, "job_id"), "trace")
        response = self._send("GET", path, stream=True)
        with response:
            if not response.encoding or response.encoding.lower() == "iso-8859-1":
                response.encoding = "utf-8"  # GitLab sends UTF-8 text/plain without a charset
            lines: deque[str] = deque(maxlen=tail_lines)
            for line in _log_lines(response.iter_content(chunk_size=65536, decode_unicode=True)):
                if strip_formatting:
                    line = _readable(line)
                    if not line:
                        continue
                lines.append(line)
        return "\n".join(lines)


def _decode_json(response: requests.Response, method: str, path: str) -> Any:
    """The JSON body, or a clear error when a 2xx came back as something else (a proxy's page)."""
    try:
        return response.json()
    except ValueError:
        raise DataOpsAPIError(
            f"{method} {path} -> HTTP {response.status_code}: expected a JSON body, got "
            f"{response.headers.get('content-type', 'no content type')}",
            status=response.status_code,
            method=method,
            path=path,
        ) from None


def _log_lines(chunks: Iterator[str]) -> Iterator[str]:
    """Split streamed text on newlines only (GitLab logs use bare carriage returns inside lines)."""
    pending = ""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split("\n")
        yield from complete
    if pending:
        yield pending


def _readable(line: str) -> str:
    """A log line as a terminal shows it: no colour codes or section markers, last overwrite only."""
    return _LOG_NOISE.sub("", line).rsplit("\r", 1)[-1].rstrip()


def _query_value(value: Any) -> Any:
    """GitLab query values: booleans as ``true``/``false``, datetimes as ISO 8601."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def check_project_attributes(
    name: str | None,
    path: str | None,
    description: str | None = None,
    visibility: str | None = None,
    initialize_with_readme: bool | None = None,
    default_branch: str | None = None,
) -> dict[str, Any]:
    """Validate ``POST /projects`` attributes before anything is sent; returns the request body."""
    if not name and not path:
        raise DataOpsConfigError("create_project needs name or path (or both)")
    for label, value in (("name", name), ("path", path), ("description", description)):
        if value is not None and not isinstance(value, str):
            raise DataOpsConfigError(f"{label} must be a string, got {type(value).__name__}")
    if path is not None and not re.fullmatch(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?", path):
        raise DataOpsConfigError(
            f"path must be letters, digits, '_', '-' or '.', not starting or ending with '-' or '.', got {path!r}"
        )
    if initialize_with_readme is not None and not isinstance(initialize_with_readme, bool):
        raise DataOpsConfigError(f"initialize_with_readme must be True or False, got {initialize_with_readme!r}")
    if visibility is not None and visibility not in _VISIBILITIES:
        raise DataOpsConfigError(f"visibility must be one of {', '.join(_VISIBILITIES)}, got {visibility!r}")
    if default_branch is not None:
        if not isinstance(default_branch, str) or default_branch.startswith("refs/"):
            raise DataOpsConfigError(
                f"default_branch must be a short branch name such as 'main', got {default_branch!r}"
            )
        check_ref(default_branch)
    body: dict[str, Any] = {
        "name": name,
        "path": path,
        "description": description,
        "visibility": visibility,
        "initialize_with_readme": initialize_with_readme,
        "default_branch": default_branch,
    }
    return {key: value for key, value in body.items() if value is not None}
