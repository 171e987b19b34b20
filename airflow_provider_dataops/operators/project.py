"""DataOpsCreateProjectOperator: create a project, or find it already there."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
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
from airflow_provider_dataops.links import DataOpsProjectLink, publish_project
from airflow_provider_dataops.operators._base import DataOpsHookMixin, check_hook_params
from airflow_provider_dataops.operators._validation import is_template
from airflow_provider_dataops.paths import resource_id
from airflow_provider_dataops.project_rules import check_project_attributes

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

IF_EXISTS_CHOICES = ("fail", "skip")
#: Task state store key (Airflow 3.3) naming the project this task created, so a retry accepts it.
CREATED_PROJECT_KEY = "dataops_created_project_id"


class DataOpsProjectExistsError(AirflowException):
    """The project is already there and ``if_exists="fail"``."""


def derive_path(name: str) -> str:
    """The URL path GitLab would derive from a project name: lower case, dashes for the rest."""
    path = re.sub(r"[^a-z0-9_.]+", "-", name.strip().lower())
    path = re.sub(r"[-_.]{2,}", "-", path).strip("-_.")
    if not path:
        raise DataOpsConfigError(f"cannot derive a project path from name {name!r}; pass path explicitly")
    return path


class DataOpsCreateProjectOperator(DataOpsHookMixin, BaseOperator):
    """Create a DataOps.live project; idempotent by path.

    The project's full path (namespace + path) is looked up first; GitLab's 400 "has already been
    taken" and 409 also count as "exists" (another task may have created it in between). Pushes
    ``project_id``, ``project_path`` and ``project_url`` to XCom and returns the project id. On
    Airflow 3.3 a retry recognises the project its earlier try created (task state store), so
    ``if_exists="fail"`` does not fail on the task's own work.

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
        self.hook_params = check_hook_params(dataops_conn_id, hook_params)
        if not is_template([name, path, namespace, description]):
            self._validate_arguments()

    def _validate_arguments(self) -> tuple[str, dict[str, Any]]:
        """Check every argument before any request; returns the path and the request body."""
        if not isinstance(self.name, str) or not self.name.strip():
            raise DataOpsConfigError(f"name must be a non-empty string, got {self.name!r}")
        if self.namespace is not None:
            resource_id(self.namespace, "namespace")
        path = self.path or derive_path(self.name)
        body = check_project_attributes(
            self.name,
            path,
            self.description,
            self.visibility,
            self.initialize_with_readme,
            self.default_branch,
        )
        return path, body

    def execute(self, context: Context) -> int:
        """Find or create the project; returns its id."""
        path, body = self._validate_arguments()
        namespace = self.hook.get_namespace(self.namespace) if self.namespace is not None else None
        namespace_path = namespace["full_path"] if namespace else self.hook.request("GET", "/user")["username"]
        full_path = f"{namespace_path}/{path}"
        existing = self._find(full_path)
        if existing is not None:
            return self._use_existing(context, existing)
        try:
            project = self.hook.create_project(namespace=namespace["id"] if namespace else None, **body)
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
        if (store := context.get("task_state_store")) is not None:
            store.set(CREATED_PROJECT_KEY, int(project["id"]))
        publish_project(context, project)
        return int(project["id"])

    def _find(self, full_path: str) -> dict[str, Any] | None:
        """The project at ``full_path``; a moved project's old path (a redirect) counts as free."""
        try:
            project = self.hook.get_project(full_path)
        except DataOpsNotFoundError:
            return None
        return project if str(project["path_with_namespace"]).lower() == full_path.lower() else None

    def _use_existing(self, context: Context, project: Mapping[str, Any]) -> int:
        store = context.get("task_state_store")
        ours = store is not None and store.get(CREATED_PROJECT_KEY) == int(project["id"])
        message = f"Project {project['path_with_namespace']} already exists: {project.get('web_url')}"
        if ours:
            self.log.info("%s; an earlier try of this task created it.", message)
        elif self.if_exists == "fail":
            raise DataOpsProjectExistsError(f"{message} (if_exists='fail')")
        else:
            self.log.info("%s; using it (if_exists='skip').", message)
        publish_project(context, project)
        return int(project["id"])
