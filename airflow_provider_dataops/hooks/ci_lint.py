"""CI lint methods of :class:`~airflow_provider_dataops.hooks.dataops.DataOpsHook`.

``POST /projects/:id/ci/lint`` checks a configuration without running it; with ``dry_run`` it
simulates creating a pipeline on a ref, and ``include_jobs`` lists the jobs that pipeline would have.
A DataOps pipeline file is rarely the project's default CI file, so the configuration sent is one
that includes the file (``include: [{local: <file>}]``).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from airflow_provider_dataops.api.paths import api_path, check_ref, resource_id
from airflow_provider_dataops.api.variables import check_pipeline_file


class _Sender(Protocol):
    """What these methods need from the hook they are mixed into."""

    def _json(self, method: str, endpoint: str, **request: Any) -> Any: ...


def include_config(pipeline_file: str) -> str:
    """A CI configuration that is the pipeline file, by ``include: local``; JSON is valid YAML."""
    return json.dumps({"include": [{"local": pipeline_file}]})


class CiLintMethods:
    """``/projects/:id/ci/lint``: validate a pipeline file and list its jobs without running it."""

    def lint_pipeline_file(
        self: _Sender, project: int | str, *, ref: str, pipeline_file: str, include_jobs: bool = True
    ) -> dict[str, Any]:
        """Lint ``pipeline_file`` as a pipeline on ``ref`` would run it (a dry run); returns GitLab's answer.

        ``{"valid", "errors", "warnings", "merged_yaml", "includes", "jobs"}``, where each job has its
        ``name``, ``stage``, ``when`` and ``allow_failure`` (and ``needs`` where the file sets them).
        Nothing is created, so the request is retried like a read.

        :param ref: The branch or tag whose version of the file to lint.
        :param pipeline_file: The pipeline file, ending in ``-ci.yml``.
        :param include_jobs: Ask for the job list.
        """
        pipeline_file = check_pipeline_file(pipeline_file)
        body = {
            "content": include_config(pipeline_file),
            "dry_run": True,
            "ref": check_ref(ref),
            "include_jobs": include_jobs,
        }
        path = api_path("projects", resource_id(project, "project"), "ci", "lint")
        return self._json("POST", path, json=body, idempotent=True)
