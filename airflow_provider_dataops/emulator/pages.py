"""HTML pages behind the ``web_url`` of every namespace, project, pipeline and job.

They let a person follow a link (the Airflow UI's "DataOps.live pipeline" link, a URL in a log) to
something readable during local development. The pages need no token, never show one, and show
pipeline variable values only for the emulator's own steering variables: other values may be
secrets a DAG passes on. They sit outside the fault, throttle and request-log middleware, so a
person watching a page cannot use up a fault a test planned or add to the request log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

import airflow_provider_dataops.emulator.routing  # noqa: F401  (registers {name:id})
from airflow_provider_dataops.emulator.clock import parse_iso
from airflow_provider_dataops.emulator.markup import (
    Html,
    ansi_to_html,
    duration,
    join,
    layout,
    render,
    status_badge,
    when,
)
from airflow_provider_dataops.emulator.model import COMPLETED, Job, Namespace, Pipeline, Project
from airflow_provider_dataops.emulator.state import (
    OUTCOME_VARIABLE,
    PIPELINE_FILE_VARIABLE,
    SECONDS_VARIABLE,
    EmulatorState,
)

#: How often a page of something still running reloads itself.
T = TypeVar("T")
REFRESH_SECONDS = 2
#: Rows shown in a list before "and N more".
LIST_LIMIT = 100
#: Variables whose values are shown: they steer the emulator and are never secret.
SHOWN_VARIABLES = frozenset({OUTCOME_VARIABLE, SECONDS_VARIABLE, PIPELINE_FILE_VARIABLE})
#: Statuses after which a page stops reloading: completed, or waiting for a person (``manual``).
SETTLED = COMPLETED | {"manual"}


class PageNotFound(Exception):
    """Nothing lives at the requested page path.

    :param what: e.g. ``"Project demo/nope"``.
    """

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class Pages:
    """The page handlers over one :class:`EmulatorState`.

    :param state: the emulator's state.
    """

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def app(self) -> Starlette:
        """The pages as their own Starlette application, with HTML error pages."""
        routes = [
            Route("/", self.home, methods=["GET"]),
            Route("/groups/{path:path}", self.namespace_page, methods=["GET"]),
            Route("/{path:path}/-/pipelines/{pipeline_id:id}", self.pipeline_page, methods=["GET"]),
            Route("/{path:path}/-/pipelines", self.project_page, methods=["GET"]),
            Route("/{path:path}/-/jobs/{job_id:id}", self.job_page, methods=["GET"]),
            Route("/{path:path}", self.project_or_namespace_page, methods=["GET"]),
        ]
        return Starlette(routes=routes, exception_handlers={PageNotFound: _not_found, HTTPException: _http_error})

    # -- lookups by the path in the URL (never by numeric id, which web URLs do not use) ------------

    def _project(self, path: str) -> Project:
        path = path.strip("/")
        project = self.state.find_project(path) if "/" in path else None
        if project is None or project.path_with_namespace.lower() != path.lower():
            raise PageNotFound(f"Project {path}")
        return project

    def _in_project(
        self, request: Request, find: Callable[[Project, Any], T | None], key: str, what: str
    ) -> tuple[Project, T]:
        """The page's project and what ``find`` returns for its path parameter ``key``; a 404 page if nothing."""
        project = self._project(request.path_params["path"])
        found = find(project, request.path_params[key])
        if found is None:
            raise PageNotFound(f"{what} {request.path_params[key]} of {project.path_with_namespace}")
        return project, found

    def _namespace(self, path: str) -> Namespace | None:
        path = path.strip("/")
        namespace = self.state.find_namespace(path)
        if namespace is None or namespace.full_path.lower() != path.lower():
            return None
        return namespace

    # -- handlers ---------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        """``/``: the namespaces and the latest pipelines."""
        records = self.state.pipeline_records()[::-1][:20]
        rows = join(
            render(
                '<tr><td><a href="{url}">#{id}</a></td><td>{status}</td><td><a href="/{project}">{project}</a></td>'
                "<td><code>{ref}</code></td><td>{created}</td></tr>",
                url=record["web_url"],
                id=record["id"],
                status=status_badge(record["status"]),
                project=record["project"],
                ref=record["ref"],
                created=when(parse_iso(record["created_at"])),  # as the other pages show times
            )
            for record in records
        )
        pipelines = (
            render(
                "<table><tr><th>Pipeline</th><th>Status</th><th>Project</th><th>Ref</th><th>Created</th></tr>"
                "{rows}</table>",
                rows=rows,
            )
            if records
            else Html('<p class="muted">No pipelines yet.</p>')
        )
        namespaces = join(
            render('<li><a href="{href}">{path}</a> <span class="muted">({kind})</span></li>', **_namespace_link(ns))
            for ns in self.state.namespaces()
        )
        body = render(
            "<h1>DataOps.live emulator</h1>"
            '<p class="muted">A local stand-in for the DataOps.live API. These pages show what it holds.</p>'
            "<h2>Latest pipelines</h2>{pipelines}<h2>Namespaces</h2><ul>{namespaces}</ul>",
            pipelines=pipelines,
            namespaces=namespaces,
        )
        return _page("Home", body, refresh=not all(record["status"] in SETTLED for record in records))

    async def project_or_namespace_page(self, request: Request) -> Response:
        """``/{namespace}`` or ``/{namespace}/{project}``: whichever exists."""
        path = request.path_params["path"]
        namespace = self._namespace(path)
        if namespace is not None:
            return self._namespace_response(namespace)
        return await self.project_page(request)

    async def namespace_page(self, request: Request) -> Response:
        """``/groups/{path}``: a group's subgroups and projects."""
        namespace = self._namespace(request.path_params["path"])
        if namespace is None:
            raise PageNotFound(f"Group {request.path_params['path'].strip('/')}")
        return self._namespace_response(namespace)

    def _namespace_response(self, namespace: Namespace) -> Response:
        projects = [project for project in self.state.projects() if project.namespace is namespace]
        shown = projects[::-1][:LIST_LIMIT]
        rows = join(
            render(
                '<tr><td><a href="/{path}">{name}</a></td><td class="muted">{description}</td><td>{count}</td></tr>',
                path=project.path_with_namespace,
                name=project.name,
                description=project.description or "",
                count=project.pipeline_count,
            )
            for project in shown
        )
        subgroups = join(
            render('<li><a href="{href}">{path}</a></li>', **_namespace_link(ns))
            for ns in self.state.namespaces()
            if ns.parent_id == namespace.id
        )
        body = render(
            '<h1>{name}</h1><p class="muted">{kind} <code>{path}</code></p>{subgroups}'
            "<h2>Projects</h2><table><tr><th>Project</th><th>Description</th><th>Pipelines</th></tr>{rows}</table>"
            "{more}",
            name=namespace.name,
            kind="Group" if namespace.kind == "group" else "User",
            path=namespace.full_path,
            subgroups=render("<h2>Subgroups</h2><ul>{items}</ul>", items=subgroups) if subgroups else Html(""),
            rows=rows,
            more=_more(len(projects), len(shown)),
        )
        return _page(namespace.name, body, crumbs=_namespace_crumbs(namespace))

    async def project_page(self, request: Request) -> Response:
        """``/{project path}`` (and ``/-/pipelines``): the project's pipelines, newest first."""
        project = self._project(request.path_params["path"])
        with self.state.lock:
            now = self.state.now()
            pipelines = self.state.project_pipelines(project)[::-1]
            shown = pipelines[:LIST_LIMIT]
            statuses = {pipeline.id: pipeline.status(now) for pipeline in shown}
            rows = join(
                render(
                    '<tr><td><a href="{url}">#{id}</a></td><td>{status}</td><td><code>{ref}</code></td>'
                    "<td>{source}</td><td>{created}</td><td>{duration}</td></tr>",
                    url=_pipeline_path(pipeline),
                    id=pipeline.id,
                    status=status_badge(statuses[pipeline.id]),
                    ref=pipeline.ref,
                    source=pipeline.source,
                    created=when(pipeline.created_at),
                    duration=duration(_pipeline_duration(pipeline, now)),
                )
                for pipeline in shown
            )
        table = (
            render(
                "<table><tr><th>Pipeline</th><th>Status</th><th>Ref</th><th>Source</th><th>Created</th>"
                "<th>Duration</th></tr>{rows}</table>{more}",
                rows=rows,
                more=_more(len(pipelines), len(shown)),
            )
            if pipelines
            else Html('<p class="muted">No pipelines yet.</p>')
        )
        body = render(
            '<h1>{name}</h1><p class="muted"><code>{path}</code></p><p>{description}</p><h2>Pipelines</h2>{table}',
            name=project.name_with_namespace,
            path=project.path_with_namespace,
            description=project.description or "",
            table=table,
        )
        busy = any(status not in SETTLED for status in statuses.values())
        return _page(project.name, body, crumbs=_project_crumbs(project), refresh=busy)

    async def pipeline_page(self, request: Request) -> Response:
        """``/{project path}/-/pipelines/{id}``: the pipeline's stages and jobs."""
        project, pipeline = self._in_project(request, self.state.find_pipeline, "pipeline_id", "Pipeline")
        with self.state.lock:
            now = self.state.now()
            status = pipeline.status(now)
            stages: dict[str, list[Html]] = {}
            for job in pipeline.jobs:
                stages.setdefault(job.stage, []).append(_job_row(job, project, now))
            summary = _facts(
                ("Ref", render("<code>{ref}</code>", ref=pipeline.ref)),
                ("Commit", render("<code>{sha}</code>", sha=pipeline.sha[:8])),
                ("Source", pipeline.source),
                ("Created", when(pipeline.created_at)),
                ("Started", when(pipeline.started(now))),
                ("Finished", when(pipeline.finished(now))),
                ("Duration", duration(_pipeline_duration(pipeline, now))),
            )
        columns = join(
            render('<div class="stage"><h3>{stage}</h3>{jobs}</div>', stage=stage, jobs=join(jobs))
            for stage, jobs in stages.items()
        )
        variables = join(
            render(
                "<tr><td><code>{key}</code></td><td>{value}</td></tr>",
                key=variable["key"],
                value=render("<code>{value}</code>", value=variable["value"])
                if variable["key"] in SHOWN_VARIABLES
                else Html('<span class="muted">hidden</span>'),
            )
            for variable in pipeline.variables
        )
        running, heading = _status_heading(f"Pipeline #{pipeline.id}", status, "pipeline")
        body = render(
            '{heading}{summary}<h2>Stages</h2><div class="stages">{columns}</div>{variables}',
            heading=heading,
            summary=summary,
            columns=columns,
            variables=render(
                "<h2>Variables</h2><table><tr><th>Key</th><th>Value</th></tr>{rows}</table>", rows=variables
            )
            if variables
            else Html(""),
        )
        crumbs = [*_project_crumbs(project), (f"#{pipeline.id}", _pipeline_path(pipeline))]
        return _page(f"Pipeline #{pipeline.id}", body, crumbs=crumbs, refresh=running)

    async def job_page(self, request: Request) -> Response:
        """``/{project path}/-/jobs/{id}``: the job and its log."""
        project, (job, pipeline) = self._in_project(request, self.state.find_job, "job_id", "Job")
        with self.state.lock:
            now = self.state.now()
            status = job.status(now)
            lines = job.visible_log(now)
            started, finished = job.started(now), job.finished(now)
            facts = _facts(
                ("Stage", job.stage),
                ("Pipeline", render('<a href="{url}">#{id}</a>', url=_pipeline_path(pipeline), id=pipeline.id)),
                ("Started", when(started)),
                ("Finished", when(finished)),
                ("Duration", duration(_elapsed(started, finished, now))),
                *((("Failure reason", job.failure_reason),) if status == "failed" and job.failure_reason else ()),
                *((("Retried", "yes, a newer job replaced this one"),) if job.retried else ()),
            )
        log = (
            render('<pre class="log">{text}</pre>', text=ansi_to_html("\n".join(lines)))
            if lines is not None
            else Html('<p class="muted">No log: this job has not run.</p>')
        )
        running, heading = _status_heading(job.name, status, "job")
        body = render("{heading}{facts}<h2>Log</h2>{log}", heading=heading, facts=facts, log=log)
        crumbs = [
            *_project_crumbs(project),
            (f"#{pipeline.id}", _pipeline_path(pipeline)),
            (f"Job {job.id}", _job_path(job, project)),
        ]
        return _page(f"{job.name} (job {job.id})", body, crumbs=crumbs, refresh=running)


# -- pieces ----------------------------------------------------------------------------------------


def _page(title: str, body: Html, *, crumbs: list[tuple[str, str]] | None = None, refresh: bool = False) -> Response:
    html = layout(title, body, crumbs=crumbs or (), refresh_seconds=REFRESH_SECONDS if refresh else None)
    return HTMLResponse(html, headers={"cache-control": "no-store"})


def _not_found_response(what: str) -> Response:
    body = render(
        '<h1>Not found</h1><p>{what} does not exist in this emulator.</p><p><a href="/">Back to the start</a></p>',
        what=what,
    )
    return HTMLResponse(layout("Not found", body), status_code=404)


async def _not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageNotFound)
    return _not_found_response(exc.what)


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette's own errors (no route matched) as HTML too.
    assert isinstance(exc, HTTPException)
    return _not_found_response(f"The page {request.url.path}")


def _facts(*pairs: tuple[str, str | Html]) -> Html:
    items = join(render("<dt>{name}</dt><dd>{value}</dd>", name=name, value=value) for name, value in pairs)
    return render("<dl>{items}</dl>", items=items)


def _status_heading(title: str, status: str, what: str) -> tuple[bool, Html]:
    """Whether a page of this status reloads itself, and its heading: title, badge, and the reload note."""
    running = status not in SETTLED
    note = _refresh_note(what) if running else Html("")
    return running, render("<h1>{title} {badge}</h1>{note}", title=title, badge=status_badge(status), note=note)


def _refresh_note(what: str) -> Html:
    return render(
        '<p class="note">This {what} is still running; the page reloads every {seconds} s.</p>',
        what=what,
        seconds=REFRESH_SECONDS,
    )


def _more(total: int, shown: int) -> Html:
    if total <= shown:
        return Html("")
    return render('<p class="muted">Showing the newest {shown} of {total}.</p>', shown=shown, total=total)


def _job_row(job: Job, project: Project, now: float) -> Html:
    started, finished = job.started(now), job.finished(now)
    return render(
        '<div class="job{retried}">{badge}<a href="{url}">{name}</a>{suffix}<span class="took">{duration}</span></div>',
        retried=" retried" if job.retried else "",
        url=_job_path(job, project),
        name=job.name,
        suffix=Html(' <span class="muted">(retried)</span>') if job.retried else Html(""),
        badge=status_badge(job.status(now)),
        duration=duration(_elapsed(started, finished, now)) if started is not None else "",
    )


def _pipeline_duration(pipeline: Pipeline, now: float) -> float | None:
    return _elapsed(pipeline.started(now), pipeline.finished(now), now)


def _elapsed(since: float | None, until: float | None, now: float) -> float | None:
    # Until the end, or until now while it is still going.
    if since is None:
        return None
    return (until if until is not None else now) - since


def _pipeline_path(pipeline: Pipeline) -> str:
    return f"/{pipeline.project.path_with_namespace}/-/pipelines/{pipeline.id}"


def _job_path(job: Job, project: Project) -> str:
    return f"/{project.path_with_namespace}/-/jobs/{job.id}"


def _namespace_link(namespace: Namespace) -> dict[str, str]:
    href = f"/groups/{namespace.full_path}" if namespace.kind == "group" else f"/{namespace.full_path}"
    return {"href": href, "path": namespace.full_path, "kind": namespace.kind}


def _namespace_crumbs(namespace: Namespace) -> list[tuple[str, str]]:
    prefix = "/groups/" if namespace.kind == "group" else "/"
    parts = namespace.full_path.split("/")
    return [(part, prefix + "/".join(parts[: index + 1])) for index, part in enumerate(parts)]


def _project_crumbs(project: Project) -> list[tuple[str, str]]:
    return [*_namespace_crumbs(project.namespace), (project.name, f"/{project.path_with_namespace}")]
