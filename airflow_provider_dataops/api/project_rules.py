"""Project attributes: GitLab's rules for ``POST /projects``, checked before anything is sent.

Shared by :meth:`DataOpsHook.create_project` and the create-project operator, which checks them at
DAG parse time.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_dataops.api.paths import check_ref
from airflow_provider_dataops.errors import DataOpsConfigError

VISIBILITIES = ("private", "internal", "public")
# GitLab 14.9+: letters, digits, '_', '-', '.'; no special character first or last.
_PROJECT_PATH = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?")


def check_project_attributes(
    name: str | None,
    path: str | None,
    description: str | None = None,
    visibility: str | None = None,
    initialize_with_readme: bool | None = None,
    default_branch: str | None = None,
) -> dict[str, Any]:
    """Validate ``POST /projects`` attributes before anything is sent; returns the request body.

    :raises DataOpsConfigError: naming the attribute and what was expected.
    """
    if not name and not path:
        raise DataOpsConfigError("create_project needs name or path (or both)")
    for label, value in (("name", name), ("path", path), ("description", description)):
        if value is not None and not isinstance(value, str):
            raise DataOpsConfigError(f"{label} must be a string, got {type(value).__name__}")
    if path is not None and not _PROJECT_PATH.fullmatch(path):
        raise DataOpsConfigError(
            f"path must be letters, digits, '_', '-' or '.', not starting or ending with '-' or '.', got {path!r}"
        )
    if initialize_with_readme is not None and not isinstance(initialize_with_readme, bool):
        raise DataOpsConfigError(f"initialize_with_readme must be True or False, got {initialize_with_readme!r}")
    if visibility is not None and visibility not in VISIBILITIES:
        raise DataOpsConfigError(f"visibility must be one of {', '.join(VISIBILITIES)}, got {visibility!r}")
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
