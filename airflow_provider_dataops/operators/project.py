"""DataOpsCreateProjectOperator: create a project, or find it already there."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, BaseOperator

from airflow_provider_dataops.connection_form import DEFAULT_CONN_ID
from airflow_provider_dataops.errors import (
    DataOpsBadRequestError,
    DataOpsConfigError,
    DataOpsConflictError,
    DataOpsNotFoundError,
    DataOpsRequestMaybeAppliedError,
)
from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.links import PROJECT_ID_KEY, PROJECT_PATH_KEY, PROJECT_URL_KEY, DataOpsProjectLink

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

IF_EXISTS_CHOICES = ("fail", "skip")


class DataOpsProjectExistsError(AirflowException):
    """The project is already there and ``if_exists="fail"``."""


def derive_path(name: str) -> str:
    """The URL path GitLab would derive from a project name: lower case, dashes for the rest."""
    path = re.sub(r"[^a-z0-9_.]+", "-", name.strip().lower())
    path = re.sub(r"[-_.]{2,}", "-", path).strip("-_.")
    if not path:
        raise DataOpsConfigError(f"cannot derive a project path from name {name!r}; pass path explicitly")
    return path


class DataOpsCreateProjectOperator(BaseOperator):
    """Create a DataOps.live project; idempotent by path.

    The project's full path (namespace + path) is looked up first; GitLab's 400 "has already been
    taken" and 409 also count as "exists" (another task may have created it in between). Pushes
    ``project_id``, ``project_path`` and ``project_url`` to XCom and returns the project id.

    :param name: Display name. Templated.
    :param path: URL path; derived from ``name`` like GitLab does when omitted. Templated.
    :param namespace: Group or user namespace, by id or full path; default: the token owner's.
        Templated.
    :param description: Description. Templated.
    :param visibility: ``private``, ``internal`` or ``public``; default: GitLab's.
    :param initialize_with_readme: Create the default branch with a README.
    :param default_branch: Short branch name, e.g. ``main``.
    :param if_exists: ``fail`` (default) or ``skip``, which succeeds with the existing project.
    :param dataops_conn_id: A ``dataops`` connection with an access token.
    :param hook_params: Extra :class:`DataOpsHook` arguments.
    """

    template_fields: Sequence[str] = ("name", "path", "namespace", "description")
    operator_extra_links = (DataOpsProjectLink(),)
    ui_color = "#e8f1ff"

    def __init__(
        self,
        *,
        name: str,
        path: str | None = None,
        namespace: int | str | None = None,
        description: str | None = None,
        visibility: str | None = None,
        initialize_with_readme: bool | None = None,
        default_branch: str | None = None,
        if_exists: str = "fail",
        dataops_conn_id: str = DEFAULT_CONN_ID,
        hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(name, str) or not name.strip():
            raise DataOpsConfigError(f"name must be a non-empty string, got {name!r}")
        if if_exists not in IF_EXISTS_CHOICES:
            raise DataOpsConfigError(f"if_exists must be 'fail' or 'skip', got {if_exists!r}")
        self.name = name
        self.path = path
        self.namespace = namespace
        self.description = description
        self.visibility = visibility
        self.initialize_with_readme = initialize_with_readme
        self.default_branch = default_branch
        self.if_exists = if_exists
        self.dataops_conn_id = dataops_conn_id
        self.hook_params = dict(hook_params or {})

    @cached_property
    def hook(self) -> DataOpsHook:
        """The hook, created on first use (never at DAG parse time)."""
        return DataOpsHook(self.dataops_conn_id, **self.hook_params)

    def execute(self, context: Context) -> int:
        """Find or create the project; returns its id."""
        path = self.path or derive_path(self.name)
        namespace = self.hook.get_namespace(self.namespace) if self.namespace is not None else None
        namespace_path = namespace["full_path"] if namespace else self.hook.request("GET", "/user")["username"]
        full_path = f"{namespace_path}/{path}"
        existing = self._find(full_path)
        if existing is not None:
            return self._use_existing(context, existing)
        try:
            project = self.hook.create_project(
                self.name,
                path=path,
                namespace=namespace["id"] if namespace else None,
                description=self.description,
                visibility=self.visibility,
                initialize_with_readme=self.initialize_with_readme,
                default_branch=self.default_branch,
            )
        except (DataOpsBadRequestError, DataOpsConflictError) as error:
            raced = self._find(full_path) if isinstance(error, DataOpsConflictError) or error.already_exists else None
            if raced is None:
                raise
            return self._use_existing(context, raced)
        except DataOpsRequestMaybeAppliedError:
            found = self._find(full_path)  # the create's answer was lost: did it happen?
            if found is None:
                raise
            project = found
        self.log.info("Created project %s: %s", project["path_with_namespace"], project.get("web_url"))
        return self._publish(context, project)

    def _find(self, full_path: str) -> dict[str, Any] | None:
        try:
            return self.hook.get_project(full_path)
        except DataOpsNotFoundError:
            return None

    def _use_existing(self, context: Context, project: Mapping[str, Any]) -> int:
        message = f"Project {project['path_with_namespace']} already exists: {project.get('web_url')}"
        if self.if_exists == "fail":
            raise DataOpsProjectExistsError(f"{message} (if_exists='fail')")
        self.log.info("%s; using it (if_exists='skip').", message)
        return self._publish(context, project)

    def _publish(self, context: Context, project: Mapping[str, Any]) -> int:
        ti = context["ti"]
        ti.xcom_push(key=PROJECT_ID_KEY, value=int(project["id"]))
        ti.xcom_push(key=PROJECT_PATH_KEY, value=project["path_with_namespace"])
        ti.xcom_push(key=PROJECT_URL_KEY, value=project.get("web_url"))
        return int(project["id"])
