"""DataOpsCreateProjectOperator: create a project, or find it already there."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_dataops.api.connection import DEFAULT_CONN_ID
from airflow_provider_dataops.api.paths import resource_id
from airflow_provider_dataops.api.project_rules import check_project_attributes
from airflow_provider_dataops.api.timestamps import parse_api_time
from airflow_provider_dataops.errors import (
    DataOpsBadRequestError,
    DataOpsConfigError,
    DataOpsConflictError,
    DataOpsNotFoundError,
    DataOpsProjectExistsError,
    DataOpsRequestMaybeAppliedError,
)
from airflow_provider_dataops.links import DataOpsProjectLink, begin_publishing, publish_project
from airflow_provider_dataops.operators.arguments import DataOpsHookMixin, is_template
from airflow_provider_dataops.operators.reconcile import dag_run_started, look_for, reconcile_patience

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

IF_EXISTS_CHOICES = ("fail", "skip")
#: Task state store keys (Airflow 3.3+): the id of the project this task instance created, and the
#: path and time of the create it sent (written before sending, so even a lost answer is on record).
CREATED_PROJECT_KEY = "dataops_created_project_id"
CREATE_SENT_KEY = "dataops_project_create_sent"
#: How much earlier than the recorded create (or the DAG run's start) a project may have been created
#: and still count as this task's: the clocks of Airflow and the server may differ a little.
OWNERSHIP_MARGIN = timedelta(minutes=2)


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
    taken" and 409 also count as "exists" (another task may have created it in between). When the
    answer to the create is lost, the project is looked for by path for the read timeout plus a
    margin. A project this task instance created, in this try or an earlier one, is never "already
    there": see :meth:`_created_by_this_task` for the rule. Pushes ``project_id``, ``project_path``
    and ``project_url`` to XCom and returns the project id.

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
        self._use_connection(dataops_conn_id, hook_params)
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
        begin_publishing(self)
        user = self.hook.request("GET", "/user")  # the namespace by default, and who creates
        namespace = self.hook.get_namespace(self.namespace) if self.namespace is not None else None
        full_path = f"{namespace['full_path'] if namespace else user['username']}/{path}"
        existing = self._find(full_path)
        if existing is not None:
            return self._use_existing(context, existing, user)
        self._record_create(context, full_path)
        try:
            project = self.hook.create_project(namespace=namespace["id"] if namespace else None, **body)
        except (DataOpsBadRequestError, DataOpsConflictError) as error:
            raced = self._find(full_path) if isinstance(error, DataOpsConflictError) or error.already_exists else None
            if raced is None:
                raise
            return self._use_existing(context, raced, user)
        except DataOpsRequestMaybeAppliedError as error:
            # The server may still be committing the create: look for it as the trigger operator
            # looks for its pipeline, then decide as for any project found at the path.
            patience = reconcile_patience(self.hook)
            self.log.warning("%s Looking for %s for %.0fs.", error, full_path, patience)
            found = look_for(lambda: self._find(full_path), patience)
            if found is None:
                raise
            return self._use_existing(context, found, user)
        self.log.info("Created project %s: %s", project["path_with_namespace"], project.get("web_url"))
        return self._own(context, project)

    def _own(self, context: Context, project: Mapping[str, Any]) -> int:
        """Succeed with a project this task created: remember it for later tries, publish it."""
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

    def _record_create(self, context: Context, full_path: str) -> None:
        """Note in the task state store (Airflow 3.3+) that this task instance sends a create now.

        Written before the request, so that a later try, or a run after a clear, can tell the project
        as its own even when this try never learns the outcome. An earlier record for the same path
        is kept: the project may come from that earlier create.
        """
        store = context.get("task_state_store")
        if store is None:
            return
        earlier = store.get(CREATE_SENT_KEY)
        if isinstance(earlier, Mapping) and str(earlier.get("path", "")).lower() == full_path.lower():
            return
        store.set(CREATE_SENT_KEY, {"path": full_path, "sent_at": datetime.now(timezone.utc).isoformat()})

    def _created_by_this_task(self, context: Context, project: Mapping[str, Any], user: Mapping[str, Any]) -> bool:
        """Whether this task instance created ``project`` (in this try or an earlier one).

        With a task state store (Airflow 3.3+): the store holds the project's id, or a create this
        task sent for its path, and the token's user created the project at most
        :data:`OWNERSHIP_MARGIN` before that create was sent. Without one: the token's user created
        the project at most :data:`OWNERSHIP_MARGIN` before the DAG run started.
        """
        store = context.get("task_state_store")
        if store is not None:
            if store.get(CREATED_PROJECT_KEY) == int(project["id"]):
                return True
            record = store.get(CREATE_SENT_KEY)
            same_path = isinstance(record, Mapping) and str(record.get("path", "")).lower() == (
                str(project["path_with_namespace"]).lower()
            )
            since = parse_api_time(record.get("sent_at")) if same_path and isinstance(record, Mapping) else None
        else:
            since = dag_run_started(context)
        created = parse_api_time(project.get("created_at"))
        return (
            since is not None
            and created is not None
            and project.get("creator_id") is not None
            and project.get("creator_id") == user.get("id")
            and created >= since - OWNERSHIP_MARGIN
        )

    def _use_existing(self, context: Context, project: Mapping[str, Any], user: Mapping[str, Any]) -> int:
        message = f"Project {project['path_with_namespace']} already exists: {project.get('web_url')}"
        if self._created_by_this_task(context, project, user):
            self.log.info("%s; this task created it (in this try or an earlier one).", message)
            return self._own(context, project)
        if self.if_exists == "fail":
            raise DataOpsProjectExistsError(f"{message} (if_exists='fail')")
        self.log.info("%s; using it (if_exists='skip').", message)
        publish_project(context, project)
        return int(project["id"])
