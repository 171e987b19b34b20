"""GitLab v4 JSON shapes of the emulator's entities.

The serialisers share their parameters' meaning: ``now`` is the emulator's time (statuses and
durations depend on it) and ``base_url`` the server's base URL (links are absolute).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_dataops.emulator.artifacts import artifacts_json
from airflow_provider_dataops.emulator.clock import iso
from airflow_provider_dataops.emulator.model import AccessToken, Job, Namespace, Pipeline, Project, User
from airflow_provider_dataops.emulator.schedules import Schedule
from airflow_provider_dataops.emulator.state import pipeline_web_url

# status -> (icon, text, label, group)
_DETAILED = {
    "created": ("status_created", "Created", "created", "created"),
    "pending": ("status_pending", "Pending", "pending", "pending"),
    "running": ("status_running", "Running", "running", "running"),
    "success": ("status_success", "Passed", "passed", "success"),
    "failed": ("status_failed", "Failed", "failed", "failed"),
    "canceling": ("status_canceled", "Canceling", "canceling", "canceling"),
    "canceled": ("status_canceled", "Canceled", "canceled", "canceled"),
    "skipped": ("status_skipped", "Skipped", "skipped", "skipped"),
    "manual": ("status_manual", "Blocked", "waiting for manual action", "manual"),
}


def detailed_status(status: str, details_path: str) -> dict[str, Any]:
    """GitLab's ``detailed_status`` object.

    :param status: the status.
    :param details_path: the path of the pipeline or job page.
    """
    icon, text, label, group = _DETAILED.get(status, (f"status_{status}", status.title(), status, status))
    return {
        "icon": icon,
        "text": text,
        "label": label,
        "group": group,
        "tooltip": label,
        "has_details": True,
        "details_path": details_path,
        "illustration": None,
        "favicon": f"/assets/ci_favicons/favicon_{icon}.png",
    }


def user_json(user: User, base_url: str) -> dict[str, Any]:
    """The user as ``GET /user`` returns it: the short form plus profile fields.

    :param user: the user.
    """
    return {
        **user_brief(user, base_url),
        "created_at": iso(user.created_at),
        "bio": "",
        "public_email": None,
        "email": f"{user.username}@example.com",
        "is_admin": False,
        "bot": False,
    }


def user_brief(user: User, base_url: str) -> dict[str, Any]:
    """The short user object embedded in pipelines and jobs.

    :param user: the user.
    """
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "state": "active",
        "locked": False,
        "avatar_url": None,
        "web_url": f"{base_url}/{user.username}",
    }


def token_json(token: AccessToken, user: User) -> dict[str, Any]:
    """The token as ``GET /personal_access_tokens/self`` returns it.

    :param token: the token record.
    :param user: its owner.
    """
    return {
        "id": token.id,
        "name": token.name,
        "description": "Seeded by the DataOps.live emulator",
        "revoked": False,
        "active": True,
        "created_at": iso(token.created_at),
        "last_used_at": None,
        "expires_at": token.expires_at,
        "scopes": list(token.scopes),
        "user_id": user.id,
    }


def namespace_json(namespace: Namespace, base_url: str) -> dict[str, Any]:
    """A namespace as ``GET /namespaces`` returns it.

    :param namespace: the namespace.
    """
    web_path = namespace.full_path if namespace.kind == "user" else f"groups/{namespace.full_path}"
    return _namespace_fields(namespace, f"{base_url}/{web_path}")


def _namespace_fields(namespace: Namespace, web_url: str) -> dict[str, Any]:
    return {
        "id": namespace.id,
        "name": namespace.name,
        "path": namespace.path,
        "kind": namespace.kind,
        "full_path": namespace.full_path,
        "parent_id": namespace.parent_id,
        "avatar_url": None,
        "web_url": web_url,
    }


def group_json(group: Namespace, base_url: str) -> dict[str, Any]:
    """A group as ``GET /groups`` returns it.

    :param group: the group namespace.
    """
    return {
        "id": group.id,
        "name": group.name,
        "path": group.path,
        "description": "",
        "visibility": "private",
        "full_name": group.full_path.replace("/", " / "),
        "full_path": group.full_path,
        "parent_id": group.parent_id,
        "created_at": iso(group.created_at),
        "web_url": f"{base_url}/groups/{group.full_path}",
        "avatar_url": None,
    }


def project_json(project: Project, base_url: str, *, simple: bool = False) -> dict[str, Any]:
    """A project as ``GET /projects/:id`` (or, with ``simple``, ``?simple=true``) returns it.

    :param project: the project.
    :param simple: the smaller object.
    """
    web_url = f"{base_url}/{project.path_with_namespace}"
    host = base_url.split("://", 1)[-1]
    namespace = project.namespace
    data: dict[str, Any] = {
        "id": project.id,
        "description": project.description,
        "name": project.name,
        "name_with_namespace": project.name_with_namespace,
        "path": project.path,
        "path_with_namespace": project.path_with_namespace,
        "created_at": iso(project.created_at),
        "default_branch": project.default_branch,
        "tag_list": [],
        "topics": [],
        "ssh_url_to_repo": f"git@{host.split(':')[0]}:{project.path_with_namespace}.git",
        "http_url_to_repo": f"{web_url}.git",
        "web_url": web_url,
        "readme_url": None,
        "forks_count": 0,
        "avatar_url": None,
        "star_count": 0,
        "last_activity_at": iso(project.last_activity_at),
        # as GitLab's project answers embed it, with the namespace's page as its web_url
        "namespace": _namespace_fields(namespace, f"{base_url}/{namespace.full_path}"),
    }
    if simple:
        return data
    data.update(
        {
            "visibility": project.visibility,
            "updated_at": iso(project.last_activity_at),
            "archived": False,
            "empty_repo": False,
            "issues_enabled": True,
            "merge_requests_enabled": True,
            "jobs_enabled": True,
            "wiki_enabled": True,
            "container_registry_enabled": False,
            "creator_id": 1,
            "import_status": "none",
            "open_issues_count": 0,
            "ci_config_path": None,
            "shared_runners_enabled": True,
            "public_jobs": True,
            "only_allow_merge_if_pipeline_succeeds": False,
            "request_access_enabled": True,
            "permissions": {"project_access": {"access_level": 50, "notification_level": 3}, "group_access": None},
            "_links": {
                "self": f"{base_url}/api/v4/projects/{project.id}",
                "repo_branches": f"{base_url}/api/v4/projects/{project.id}/repository/branches",
                "events": f"{base_url}/api/v4/projects/{project.id}/events",
            },
        }
    )
    return data


def pipeline_short_json(pipeline: Pipeline, now: float, base_url: str) -> dict[str, Any]:
    """A pipeline as ``GET /projects/:id/pipelines`` lists it.

    :param pipeline: the pipeline.
    """
    return {
        "id": pipeline.id,
        "iid": pipeline.iid,
        "project_id": pipeline.project.id,
        "sha": pipeline.sha,
        "ref": pipeline.ref,
        "status": pipeline.status(now),
        "source": pipeline.source,
        "name": None,
        "created_at": iso(pipeline.created_at),
        "updated_at": iso(pipeline.updated(now)),
        "web_url": pipeline_web_url(base_url, pipeline),
    }


def pipeline_json(pipeline: Pipeline, now: float, base_url: str, user: User) -> dict[str, Any]:
    """A pipeline as ``GET /projects/:id/pipelines/:pipeline_id`` returns it.

    :param pipeline: the pipeline.
    :param user: who started it.
    """
    status = pipeline.status(now)
    started = pipeline.started(now)
    finished = pipeline.finished(now)
    data = pipeline_short_json(pipeline, now, base_url)
    data.update(
        {
            "before_sha": "0" * 40,
            "tag": False,
            "yaml_errors": None,
            "user": user_brief(user, base_url),
            "started_at": iso(started),
            "finished_at": iso(finished),
            "committed_at": None,
            "duration": int(finished - started) if finished is not None and started is not None else None,
            "queued_duration": round(started - pipeline.created_at, 3) if started is not None else None,
            "coverage": None,
            "detailed_status": detailed_status(
                status, f"/{pipeline.project.path_with_namespace}/-/pipelines/{pipeline.id}"
            ),
            "archived": False,
        }
    )
    return data


def job_json(job: Job, pipeline: Pipeline, now: float, base_url: str, user: User) -> dict[str, Any]:
    """A job as ``GET /projects/:id/pipelines/:pipeline_id/jobs`` lists it.

    :param job: the job.
    :param pipeline: its pipeline.
    :param user: who started the pipeline.
    """
    status = job.status(now)
    started = job.started(now)
    finished = job.finished(now)
    queued = job.queued(now)
    project = pipeline.project
    job_path = f"/{project.path_with_namespace}/-/jobs/{job.id}"
    data: dict[str, Any] = {
        "id": job.id,
        "status": status,
        "stage": job.stage,
        "name": job.name,
        "ref": pipeline.ref,
        "tag": False,
        "coverage": None,
        "allow_failure": job.allow_failure,
        "created_at": iso(job.created_at),
        "started_at": iso(started),
        "finished_at": iso(finished),
        "erased_at": None,
        "duration": _elapsed(started, finished, now),
        "queued_duration": _elapsed(queued, started, now),
        "user": user_brief(user, base_url),
        "commit": {
            "id": pipeline.sha,
            "short_id": pipeline.sha[:8],
            "title": "Update DataOps pipeline",
            "message": "Update DataOps pipeline\n",
            "author_name": user.name,
            "created_at": iso(pipeline.created_at),
        },
        "pipeline": {
            "id": pipeline.id,
            "iid": pipeline.iid,
            "project_id": project.id,
            "sha": pipeline.sha,
            "ref": pipeline.ref,
            "status": pipeline.status(now),
            "source": pipeline.source,
            "created_at": iso(pipeline.created_at),
            "updated_at": iso(pipeline.updated(now)),
            "web_url": pipeline_web_url(base_url, pipeline),
        },
        "web_url": f"{base_url}{job_path}",
        "project": {"ci_job_token_scope_enabled": False},
        **artifacts_json(job, pipeline, now),
        "runner": None,
        "archived": False,
        "tag_list": [],
    }
    if status == "failed":
        # GitLab only exposes failure_reason on failed jobs.
        data["failure_reason"] = job.failure_reason
    return data


def bridge_json(job: Job, pipeline: Pipeline, now: float, base_url: str, user: User) -> dict[str, Any]:
    """A trigger job as ``GET /projects/:id/pipelines/:pipeline_id/bridges`` lists it.

    A job's fields (without artifacts) plus ``downstream_pipeline``, which stays ``null`` until the
    bridge has started its child.

    :param job: the bridge.
    :param pipeline: its (parent) pipeline.
    :param now: the emulator time.
    :param base_url: the server's base URL.
    :param user: who started the pipeline.
    """
    data = job_json(job, pipeline, now, base_url, user)
    for key in ("artifacts", "artifacts_file", "artifacts_expire_at", "runner", "tag_list", "coverage"):
        data.pop(key, None)
    child = job.downstream
    started = child is not None and job.started(now) is not None
    data["downstream_pipeline"] = (
        {
            "id": child.id,
            "iid": child.iid,
            "project_id": child.project.id,
            "sha": child.sha,
            "ref": child.ref,
            "status": child.status(now),
            "source": child.source,
            "created_at": iso(child.created_at),
            "updated_at": iso(child.updated(now)),
            "web_url": pipeline_web_url(base_url, child),
        }
        if started and child is not None
        else None
    )
    return data


def _elapsed(since: float | None, until: float | None, now: float) -> float | None:
    # Seconds from ``since`` to ``until`` (or to now while still going), as GitLab reports durations.
    if since is None:
        return None
    return round((until if until is not None else now) - since, 3)


def schedule_json(schedule: Schedule, now: float, base_url: str) -> dict[str, Any]:
    """A pipeline schedule as ``GET /projects/:id/pipeline_schedules`` lists it.

    :param schedule: the schedule.
    """
    return {
        "id": schedule.id,
        "description": schedule.description,
        "ref": schedule.ref,
        "cron": schedule.cron,
        "cron_timezone": schedule.cron_timezone,
        "next_run_at": iso(schedule.next_run_at(now)),
        "active": schedule.active,
        "created_at": iso(schedule.created_at),
        "updated_at": iso(schedule.updated_at),
        "owner": user_brief(schedule.owner, base_url),
    }


def schedule_detail_json(
    schedule: Schedule, now: float, base_url: str, last_pipeline: Pipeline | None
) -> dict[str, Any]:
    """A pipeline schedule as ``GET .../pipeline_schedules/:id`` returns it: with its last pipeline and variables.

    :param schedule: the schedule.
    :param last_pipeline: the pipeline it last started; ``None`` if it never ran.
    """
    last = None
    if last_pipeline is not None:
        short = pipeline_short_json(last_pipeline, now, base_url)
        last = {
            key: short[key]
            for key in (
                "id",
                "iid",
                "project_id",
                "sha",
                "ref",
                "status",
                "source",
                "created_at",
                "updated_at",
                "web_url",
            )
        }
    return {
        **schedule_json(schedule, now, base_url),
        "last_pipeline": last,
        "variables": [{"variable_type": "env_var", **variable, "raw": False} for variable in schedule.variables],
    }
