"""The GitLab v4 API subset, under ``/api/v4``.

Routes see the raw (still percent-encoded) path, so ``/projects/demo%2Fdataops-project`` matches
``/projects/{id}`` while an unencoded ``/projects/demo/dataops-project`` matches nothing: both as in GitLab.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import airflow_provider_dataops.emulator.routing  # noqa: F401  (registers {name:id})
from airflow_provider_dataops.emulator import errors
from airflow_provider_dataops.emulator.filters import (
    ascending_sort,
    choice,
    filter_pipelines,
    filter_projects,
    project_sort_key,
    text_or_none,
    time_param,
    truthy,
    variable_list,
)
from airflow_provider_dataops.emulator.json_response import JSONResponse
from airflow_provider_dataops.emulator.lint import included_file, lint_result
from airflow_provider_dataops.emulator.model import Job, Namespace, Pipeline, Project, User
from airflow_provider_dataops.emulator.pagination import (
    check_offset_limit,
    keyset_next_link,
    offset_page,
    page_size,
)
from airflow_provider_dataops.emulator.params import request_params
from airflow_provider_dataops.emulator.reports import test_report_json, test_report_summary_json
from airflow_provider_dataops.emulator.serializers import (
    bridge_json,
    group_json,
    job_json,
    namespace_json,
    pipeline_json,
    pipeline_short_json,
    project_json,
    token_json,
    user_json,
)
from airflow_provider_dataops.emulator.state import EmulatorState

PREFIX = "/api/v4"
T = TypeVar("T")
_RANGE = re.compile(r"bytes=(\d{1,15})-(\d{0,15})")
GITLAB_VERSION = "17.11.0-ee"

PIPELINE_STATUSES = frozenset(
    {
        "created",
        "waiting_for_resource",
        "preparing",
        "waiting_for_callback",
        "pending",
        "running",
        "success",
        "failed",
        "canceling",
        "canceled",
        "skipped",
        "manual",
        "scheduled",
    }
)
PIPELINE_SCOPES = frozenset({"running", "pending", "finished", "branches", "tags"})
PROJECT_ORDERS = frozenset({"id", "name", "path", "created_at", "updated_at", "last_activity_at"})
PIPELINE_ORDERS = frozenset({"id", "status", "ref", "updated_at", "user_id"})


def request_token(request: Request) -> str | None:
    """The access token of a request: ``PRIVATE-TOKEN``, ``Authorization: Bearer`` or ``private_token``.

    :param request: the request.
    """
    token = request.headers.get("private-token")
    if token:
        return token
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("private_token") or None


def base_url(request: Request) -> str:
    """The server's base URL as the client sees it, for ``web_url`` fields."""
    return str(request.base_url).rstrip("/")


class Api:
    """Handlers of the ``/api/v4`` routes over one :class:`EmulatorState`.

    :param state: the emulator's state.
    """

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        """The Starlette routes."""
        table: list[tuple[str, Callable[[Request], Any], str]] = [
            ("/user", self.current_user, "GET"),
            ("/version", self.version, "GET"),
            ("/metadata", self.version, "GET"),
            ("/personal_access_tokens/self", self.token_self, "GET"),
            ("/namespaces", self.list_namespaces, "GET"),
            ("/namespaces/{id}", self.get_namespace, "GET"),
            ("/groups", self.list_groups, "GET"),
            ("/groups/{id}", self.get_group, "GET"),
            ("/projects", self.list_projects, "GET"),
            ("/projects", self.create_project, "POST"),
            ("/projects/{id}", self.get_project, "GET"),
            ("/projects/{id}/pipeline", self.create_pipeline, "POST"),
            ("/projects/{id}/trigger/pipeline", self.trigger_pipeline, "POST"),
            ("/projects/{id}/ref/{ref}/trigger/pipeline", self.trigger_pipeline, "POST"),
            ("/projects/{id}/pipelines", self.list_pipelines, "GET"),
            ("/projects/{id}/pipelines/latest", self.latest_pipeline, "GET"),
            ("/projects/{id}/pipelines/{pipeline_id:id}", self.get_pipeline, "GET"),
            ("/projects/{id}/pipelines/{pipeline_id:id}/cancel", self.cancel_pipeline, "POST"),
            ("/projects/{id}/pipelines/{pipeline_id:id}/retry", self.retry_pipeline, "POST"),
            ("/projects/{id}/pipelines/{pipeline_id:id}/variables", self.pipeline_variables, "GET"),
            ("/projects/{id}/pipelines/{pipeline_id:id}/jobs", self.pipeline_jobs, "GET"),
            ("/projects/{id}/pipelines/{pipeline_id:id}/bridges", self.pipeline_bridges, "GET"),
            ("/projects/{id}/pipelines/{pipeline_id:id}/test_report", self.test_report, "GET"),
            ("/projects/{id}/pipelines/{pipeline_id:id}/test_report_summary", self.test_report_summary, "GET"),
            ("/projects/{id}/jobs/{job_id:id}", self.get_job, "GET"),
            ("/projects/{id}/jobs/{job_id:id}/trace", self.job_trace, "GET"),
            ("/projects/{id}/jobs/{job_id:id}/play", self.play_job, "POST"),
            ("/projects/{id}/jobs/{job_id:id}/cancel", self.cancel_job, "POST"),
            ("/projects/{id}/jobs/{job_id:id}/retry", self.retry_job, "POST"),
            ("/projects/{id}/ci/lint", self.lint_config, "POST"),
            ("/projects/{id}/ci/lint", self.lint_project_config, "GET"),
            *self.extra_routes(),
        ]
        merged: dict[str, dict[str, Callable[[Request], Any]]] = {}
        for path, handler, method in table:
            merged.setdefault(path, {})[method] = handler
        return [
            Route(PREFIX + path, self._dispatch(handlers), methods=list(handlers)) for path, handlers in merged.items()
        ]

    def extra_routes(self) -> list[tuple[str, Callable[[Request], Any], str]]:
        """``(path, handler, method)`` rows a subclass adds to :meth:`routes`."""
        return []

    @staticmethod
    def _dispatch(handlers: dict[str, Callable[[Request], Any]]) -> Callable[[Request], Any]:
        if len(handlers) == 1:
            return next(iter(handlers.values()))

        async def by_method(request: Request) -> Response:
            # Starlette routes HEAD wherever GET is served; GitLab answers it as a GET without a body.
            method = "GET" if request.method == "HEAD" else request.method
            response: Response = await handlers[method](request)
            return response

        return by_method

    # -- helpers ----------------------------------------------------------------------------------

    def _user(self, request: Request) -> User:
        if self.state.token_info(request_token(request)) is None:
            raise errors.unauthorized()
        return self.state.user

    def _optional_user(self, request: Request) -> User | None:
        """The user, ``None`` when no token was sent; 401 for a bad token."""
        if request_token(request) is None:
            return None
        return self._user(request)

    def _project(self, request: Request, user: User | None = None) -> Project:
        project = self.state.find_project(unquote(request.path_params["id"]))
        if project is None or (user is None and project.visibility != "public"):
            raise errors.not_found("Project")
        return project

    def _pipeline(self, request: Request) -> Pipeline:
        return self._in_project(request, self.state.find_pipeline, "pipeline_id")

    def _in_project(self, request: Request, find: Callable[[Project, Any], T | None], key: str) -> T:
        """What ``find`` returns for the request's project and path parameter ``key``; GitLab's 404 if nothing."""
        found = find(self._project(request, self._user(request)), request.path_params[key])
        if found is None:
            raise errors.message(404, "404 Not found")
        return found

    def _pipeline_response(self, request: Request, pipeline: Pipeline, status: int = 200) -> JSONResponse:
        with self.state.lock:
            body = pipeline_json(pipeline, self.state.now(), base_url(request), self.state.user)
        return JSONResponse(body, status_code=status)

    # -- identity ---------------------------------------------------------------------------------

    async def current_user(self, request: Request) -> Response:
        """``GET /user``."""
        return JSONResponse(user_json(self._user(request), base_url(request)))

    async def version(self, request: Request) -> Response:
        """``GET /version`` (and ``/metadata``)."""
        self._user(request)
        return JSONResponse(
            {"version": GITLAB_VERSION, "revision": "emulator", "kas": {"enabled": False}, "enterprise": True}
        )

    async def token_self(self, request: Request) -> Response:
        """``GET /personal_access_tokens/self``."""
        info = self.state.token_info(request_token(request))
        if info is None:
            raise errors.unauthorized()
        return JSONResponse(token_json(info, self.state.user))

    # -- namespaces and groups --------------------------------------------------------------------

    async def list_namespaces(self, request: Request) -> Response:
        """``GET /namespaces`` with ``search`` (path or name) and ``top_level_only``."""
        self._user(request)
        found = _namespace_filter(self.state.namespaces(), request.query_params, search_names=True)
        return _namespace_page(request, found, namespace_json)

    async def get_namespace(self, request: Request) -> Response:
        """``GET /namespaces/:id`` by id or URL-encoded full path."""
        self._user(request)
        return JSONResponse(namespace_json(self._namespace(request, "Namespace"), base_url(request)))

    async def list_groups(self, request: Request) -> Response:
        """``GET /groups`` with ``search`` (path), ``top_level_only`` and ``sort`` (by name)."""
        self._user(request)
        query = request.query_params
        groups = [ns for ns in self.state.namespaces() if ns.kind == "group"]
        groups = _namespace_filter(groups, query, search_names=False)
        groups.sort(key=lambda group: group.name.lower(), reverse=query.get("sort") == "desc")
        return _namespace_page(request, groups, group_json)

    async def get_group(self, request: Request) -> Response:
        """``GET /groups/:id`` by id or URL-encoded full path."""
        self._user(request)
        return JSONResponse(group_json(self._namespace(request, "Group", kind="group"), base_url(request)))

    def _namespace(self, request: Request, what: str, *, kind: str | None = None) -> Namespace:
        """The namespace the ``id`` path parameter names (id or URL-encoded full path); 404 otherwise."""
        namespace = self.state.find_namespace(unquote(request.path_params["id"]))
        if namespace is None or (kind is not None and namespace.kind != kind):
            raise errors.not_found(what)
        return namespace

    # -- projects ---------------------------------------------------------------------------------

    async def list_projects(self, request: Request) -> Response:
        """``GET /projects``: filters, ordering, offset and keyset pagination as GitLab does them."""
        user = self._optional_user(request)
        query = request.query_params
        keyset = query.get("pagination") == "keyset"
        order_by = choice(query, "order_by", PROJECT_ORDERS, "id" if keyset else "created_at")
        ascending = ascending_sort(query)
        if keyset and order_by != "id":
            raise errors.ApiError(405, {"error": "Keyset pagination is not yet available for this type of request"})
        if not keyset:
            check_offset_limit(query, "Project")
        projects = filter_projects(self.state.projects(), query, public_only=user is None)
        if order_by in ("id", "created_at"):
            # Ids and creation times rise together, so the list is already in order.
            ordered = projects if ascending else projects[::-1]
        else:
            ordered = sorted(projects, key=project_sort_key(order_by), reverse=not ascending)
        headers: dict[str, str] = {}
        page: Sequence[Project]
        if keyset:
            per_page = page_size(query)
            page = ordered[:per_page]
            if len(page) == per_page:
                headers["link"] = keyset_next_link(request.url, page[-1].id, ascending)
        else:
            page, headers = offset_page(ordered, request.url, query)
        base, simple = base_url(request), truthy(query.get("simple"))
        return JSONResponse([project_json(project, base, simple=simple) for project in page], headers=headers)

    async def get_project(self, request: Request) -> Response:
        """``GET /projects/:id`` by id or URL-encoded path."""
        user = self._optional_user(request)
        project = self._project(request, user)
        return JSONResponse(project_json(project, base_url(request)))

    async def create_project(self, request: Request) -> Response:
        """``POST /projects`` (JSON or form)."""
        self._user(request)
        params = await request_params(request)
        namespace_id = params.get("namespace_id")
        if namespace_id not in (None, ""):
            try:
                namespace_id = int(namespace_id)
            except (TypeError, ValueError):
                raise errors.param_error("namespace_id is invalid") from None
        project = self.state.create_project(
            name=text_or_none(params.get("name")),
            path=text_or_none(params.get("path")),
            namespace_id=namespace_id or None,
            description=text_or_none(params.get("description")),
            visibility=text_or_none(params.get("visibility")),
            default_branch=text_or_none(params.get("default_branch")),
        )
        return JSONResponse(project_json(project, base_url(request)), status_code=201)

    # -- pipelines --------------------------------------------------------------------------------

    async def create_pipeline(self, request: Request) -> Response:
        """``POST /projects/:id/pipeline`` with an access token; variables are a list."""
        user = self._user(request)
        params = await request_params(request)
        ref = params.get("ref")
        if ref in (None, ""):
            raise errors.param_error("ref is missing")
        variables = variable_list(params.get("variables"))
        project = self._project(request, user)
        pipeline = self.state.create_pipeline(project, ref=str(ref), variables=variables, source="api")
        return self._pipeline_response(request, pipeline, 201)

    async def trigger_pipeline(self, request: Request) -> Response:
        """``POST /projects/:id/trigger/pipeline``: the ``token`` parameter authenticates."""
        if request.headers.get("x-gitlab-event") == "Pipeline Hook":
            raise errors.forbidden()  # GitLab's guard against webhook loops
        params = await request_params(request)
        if "ref" in request.path_params:
            params["ref"] = unquote(request.path_params["ref"])
        missing = [name for name in ("token", "ref") if params.get(name) in (None, "")]
        if missing:
            raise errors.param_error(", ".join(f"{name} is missing" for name in missing))
        variables = params.get("variables") or {}
        if not isinstance(variables, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in variables.items()
        ):
            raise errors.message(400, "variables needs to be a map of key-valued strings")
        project = self.state.find_project(unquote(request.path_params["id"]))
        if project is None or not self.state.trigger_token_valid(project, str(params["token"])):
            raise errors.not_found()
        pipeline = self.state.create_pipeline(
            project,
            ref=str(params["ref"]),
            variables=[{"key": key, "value": value, "variable_type": "env_var"} for key, value in variables.items()],
            source="trigger",
        )
        return self._pipeline_response(request, pipeline, 201)

    async def list_pipelines(self, request: Request) -> Response:
        """``GET /projects/:id/pipelines`` with GitLab's filters, ordering and offset pagination."""
        user = self._user(request)
        project = self._project(request, user)
        query = request.query_params
        order_by = choice(query, "order_by", PIPELINE_ORDERS, "id")
        ascending = ascending_sort(query)
        status = query.get("status")
        if status and status not in PIPELINE_STATUSES:
            raise errors.param_error("status does not have a valid value")
        scope = query.get("scope")
        if scope and scope not in PIPELINE_SCOPES:
            raise errors.param_error("scope does not have a valid value")
        bounds = {
            name: time_param(query, name)
            for name in ("created_after", "created_before", "updated_after", "updated_before")
        }
        base = base_url(request)
        # Filter and page on the few fields the filters read; serialise only the page.
        with self.state.lock:
            now = self.state.now()
            rows: list[dict[str, Any]] = [
                {
                    "id": pipeline.id,
                    "ref": pipeline.ref,
                    "sha": pipeline.sha,
                    "source": pipeline.source,
                    "status": pipeline.status(now),
                    "_created": pipeline.created_at,
                    "_updated": pipeline.updated(now),
                    "_pipeline": pipeline,
                }
                for pipeline in self.state.pipelines_updated_since(project, bounds["updated_after"])
                if all(getattr(pipeline, name) == query[name] for name in ("ref", "sha", "source") if query.get(name))
            ]
        rows = filter_pipelines(rows, query, scope, bounds)
        if order_by in ("id", "user_id"):
            rows.sort(key=lambda row: row["id"], reverse=not ascending)
        else:
            field = "_updated" if order_by == "updated_at" else order_by
            rows.sort(key=lambda row: (row[field], row["id"]), reverse=not ascending)
        page, headers = offset_page(rows, request.url, query)
        with self.state.lock:
            body = [pipeline_short_json(row["_pipeline"], now, base) for row in page]
        return JSONResponse(body, headers=headers)

    async def latest_pipeline(self, request: Request) -> Response:
        """``GET /projects/:id/pipelines/latest?ref=``: 403 when there is none, as in GitLab."""
        user = self._user(request)
        project = self._project(request, user)
        ref = request.query_params.get("ref") or project.default_branch
        matching = [pipeline for pipeline in self.state.project_pipelines(project) if pipeline.ref == ref]
        if not matching:
            raise errors.forbidden()
        return self._pipeline_response(request, matching[-1])

    async def get_pipeline(self, request: Request) -> Response:
        """``GET /projects/:id/pipelines/:pipeline_id``: the full object."""
        return self._pipeline_response(request, self._pipeline(request))

    async def cancel_pipeline(self, request: Request) -> Response:
        """``POST .../cancel``: 200 in any state."""
        pipeline = self._pipeline(request)
        self.state.cancel_pipeline(pipeline)
        return self._pipeline_response(request, pipeline)

    async def retry_pipeline(self, request: Request) -> Response:
        """``POST .../retry``: 201; re-runs failed and canceled jobs."""
        pipeline = self._pipeline(request)
        self.state.retry_pipeline(pipeline)
        return self._pipeline_response(request, pipeline, 201)

    async def pipeline_variables(self, request: Request) -> Response:
        """``GET .../variables``."""
        pipeline = self._pipeline(request)
        return JSONResponse([{**variable, "raw": False} for variable in pipeline.variables])

    async def pipeline_jobs(self, request: Request) -> Response:
        """``GET .../jobs`` with ``scope`` / ``scope[]`` and ``include_retried``; newest first."""
        pipeline = self._pipeline(request)
        include_retried = truthy(request.query_params.get("include_retried"))

        def jobs() -> list[Job]:  # bridges are listed at .../bridges
            listed = pipeline.jobs if include_retried else pipeline.current_jobs()
            return [job for job in listed if job.downstream is None]

        return self._job_listing(request, pipeline, jobs, job_json)

    async def pipeline_bridges(self, request: Request) -> Response:
        """``GET .../bridges`` with ``scope`` / ``scope[]``: the trigger jobs, each with ``downstream_pipeline``."""
        pipeline = self._pipeline(request)
        return self._job_listing(request, pipeline, pipeline.bridges, bridge_json)

    def _job_listing(
        self,
        request: Request,
        pipeline: Pipeline,
        jobs: Callable[[], list[Job]],
        serialize: Callable[[Job, Pipeline, float, str, User], dict[str, Any]],
    ) -> Response:
        """One page of ``jobs()`` (read under the state's lock), newest first, in the query's scopes."""
        query = request.query_params
        scopes = job_scopes(query)
        base = base_url(request)
        with self.state.lock:
            now = self.state.now()
            listed = sorted(jobs(), key=lambda job: job.id, reverse=True)
            if scopes:
                listed = [job for job in listed if job.status(now) in scopes]
            page, headers = offset_page(listed, request.url, query)
            body = [serialize(job, pipeline, now, base, self.state.user) for job in page]
        return JSONResponse(body, headers=headers)

    async def test_report(self, request: Request) -> Response:
        """``GET .../test_report``: every suite with its cases (zero counts before any report)."""
        pipeline = self._pipeline(request)
        with self.state.lock:
            return JSONResponse(test_report_json(pipeline, self.state.now()))

    async def test_report_summary(self, request: Request) -> Response:
        """``GET .../test_report_summary``: the totals and per-suite counts, without cases."""
        pipeline = self._pipeline(request)
        with self.state.lock:
            return JSONResponse(test_report_summary_json(pipeline, self.state.now()))

    def _job(self, request: Request) -> tuple[Job, Pipeline]:
        return self._in_project(request, self.state.find_job, "job_id")

    def _job_response(self, request: Request, job: Job, pipeline: Pipeline, status: int = 200) -> JSONResponse:
        with self.state.lock:
            body = job_json(job, pipeline, self.state.now(), base_url(request), self.state.user)
        return JSONResponse(body, status_code=status)

    async def get_job(self, request: Request) -> Response:
        """``GET /projects/:id/jobs/:job_id``."""
        return self._job_response(request, *self._job(request))

    async def play_job(self, request: Request) -> Response:
        """``POST .../jobs/:job_id/play`` with ``job_variables_attributes``: 200; 400 unless ``manual``."""
        job, pipeline = self._job(request)
        variables = (await request_params(request)).get("job_variables_attributes") or []
        if not isinstance(variables, list) or not all(isinstance(item, dict) for item in variables):
            raise errors.param_error("job_variables_attributes is invalid")
        self.state.play_job(job, pipeline, variables)
        return self._job_response(request, job, pipeline)

    async def cancel_job(self, request: Request) -> Response:
        """``POST .../jobs/:job_id/cancel``: 201 in any state; a finished job stays as it is."""
        job, pipeline = self._job(request)
        self.state.cancel_job(job, pipeline)
        return self._job_response(request, job, pipeline, 201)

    async def retry_job(self, request: Request) -> Response:
        """``POST .../jobs/:job_id/retry``: 201 with the new job; 403 unless the job finished."""
        job, pipeline = self._job(request)
        return self._job_response(request, self.state.retry_job(job, pipeline), pipeline, 201)

    async def lint_config(self, request: Request) -> Response:
        """``POST /projects/:id/ci/lint`` with ``content``, ``dry_run``, ``include_jobs`` and ``ref``."""
        user = self._user(request)
        project = self._project(request, user)
        params = await request_params(request)
        content = params.get("content")
        if not isinstance(content, str) or not content:
            raise errors.param_error("content is missing")
        return self._lint(project, included_file(content), params)

    async def lint_project_config(self, request: Request) -> Response:
        """``GET /projects/:id/ci/lint``: the project's default pipeline file, with ``dry_run`` and ``include_jobs``."""
        user = self._user(request)
        project = self._project(request, user)
        return self._lint(project, self.state.default_pipeline_file, dict(request.query_params))

    def _lint(self, project: Project, pipeline_file: str | None, params: dict[str, Any]) -> Response:
        # A JSON body carries real booleans, a form or query string Grape's words.
        dry_run = truthy(str(params.get("dry_run") or ""))
        ref = str(params.get("dry_run_ref") or params.get("ref") or project.default_branch)
        result = lint_result(
            pipeline_file,
            known_files=project.pipeline_files,
            include_jobs=truthy(str(params.get("include_jobs") or "")),
            ref_found=not dry_run or project.has_ref(ref),
        )
        return JSONResponse(result)

    async def job_trace(self, request: Request) -> Response:
        """``GET /projects/:id/jobs/:job_id/trace``: the log as plain text; 404 if the job never ran.

        As GitLab: a live trace is served whole (200) whatever ``Range`` asks; a finished job's
        (archived) trace answers ``Range: bytes=N-`` with 206 and ``Content-Range``, or 416 past its end.
        """
        user = self._user(request)
        project = self._project(request, user)
        found = self.state.find_job(project, request.path_params["job_id"])
        with self.state.lock:
            now = self.state.now()
            lines = found[0].visible_log(now) if found is not None else None
            archived = found is not None and found[0].finished(now) is not None
        if found is None or lines is None:
            raise errors.not_found()
        body = ("\n".join(lines) + "\n").encode()
        headers = {"content-disposition": f'inline; filename="{found[0].id}.log"'}
        start = range_start(request.headers.get("range")) if archived else None
        if start is None:
            return PlainTextResponse(body, headers=headers)
        if start >= len(body):
            return Response(status_code=416, headers={"content-range": f"bytes */{len(body)}"})
        headers["content-range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        return PlainTextResponse(body[start:], status_code=206, headers=headers)


def job_scopes(query: Any) -> set[str]:
    """The statuses of ``scope`` / ``scope[]`` (GitLab takes either); 400 for an unknown one."""
    scopes = set(query.getlist("scope[]") + query.getlist("scope"))
    if scopes - PIPELINE_STATUSES:
        raise errors.param_error("scope does not have a valid value")
    return scopes


def range_start(header: str | None) -> int | None:
    """The start of a ``Range: bytes=N-`` (or ``bytes=N-M``) header; None for none or another form.

    :param header: the ``Range`` header.
    """
    match = _RANGE.fullmatch((header or "").strip())
    return int(match.group(1)) if match else None


def _namespace_filter(namespaces: list[Namespace], query: Mapping[str, str], *, search_names: bool) -> list[Namespace]:
    """``search`` (in the full path, and in the name when ``search_names``) and ``top_level_only``."""
    if search := (query.get("search") or "").lower():
        namespaces = [
            ns for ns in namespaces if search in ns.full_path.lower() or (search_names and search in ns.name.lower())
        ]
    if truthy(query.get("top_level_only")):
        namespaces = [ns for ns in namespaces if ns.parent_id is None]
    return namespaces


def _namespace_page(
    request: Request, namespaces: list[Namespace], serialize: Callable[[Namespace, str], dict[str, Any]]
) -> Response:
    """One offset page of ``namespaces``, each serialised, with GitLab's paging headers."""
    page, headers = offset_page(namespaces, request.url, request.query_params)
    base = base_url(request)
    return JSONResponse([serialize(namespace, base) for namespace in page], headers=headers)
