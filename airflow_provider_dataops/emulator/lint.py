"""CI lint (``/projects/:id/ci/lint``): what the emulator's pipeline files hold, checked like GitLab's linter.

The emulator knows no YAML: every pipeline file holds the jobs of :data:`~.lifecycle.STAGES` (the
manual deploy job that ``DATAOPS_EMULATOR_OUTCOME=manual_deploy`` adds is not in the file), and a
configuration is understood when it is one of those files, or includes one with ``local:``, which is how
a client lints a DataOps pipeline file that is not the project's default CI file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from airflow_provider_dataops.emulator.lifecycle import STAGES

# ``local: file`` in YAML, or ``"local": "file"`` in JSON (which YAML also reads).
_LOCAL_INCLUDE = re.compile(r"""local['"]?\s*:\s*['"]?(?P<file>[^'"\s,}\]]+)""")


def included_file(content: str) -> str | None:
    """The file a configuration includes with ``local:`` (a leading ``/`` dropped), if any."""
    match = _LOCAL_INCLUDE.search(content)
    return match.group("file").lstrip("/") if match else None


def lint_result(
    pipeline_file: str | None, *, known_files: Iterable[str], include_jobs: bool, ref_found: bool
) -> dict[str, Any]:
    """GitLab's lint answer: ``valid``, ``errors``, ``warnings``, ``merged_yaml``, ``includes`` and ``jobs``.

    :param pipeline_file: the file the configuration names, or None when it names none.
    :param known_files: the project's pipeline files.
    :param include_jobs: add ``jobs`` (name, stage, when, allow_failure and the scripts) as a dry run lists them.
    :param ref_found: whether the dry run's ref exists.
    """
    problems: list[str] = []
    if pipeline_file is None:
        problems.append("jobs config should contain at least one visible job")
    elif pipeline_file not in set(known_files):
        problems.append(f"Local file `{pipeline_file}` does not exist!")
    if not ref_found:
        problems.append("Reference not found")
    valid = not problems
    result: dict[str, Any] = {
        "valid": valid,
        "errors": problems,
        "warnings": [],
        "merged_yaml": _merged_yaml() if valid else None,
        "includes": [{"type": "local", "location": pipeline_file, "blob": None, "raw": None}] if valid else [],
    }
    if include_jobs:
        result["jobs"] = _jobs() if valid else []
    return result


def _jobs() -> list[dict[str, Any]]:
    return [_job(stage, name) for stage, name in STAGES]


def _job(stage: str, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "stage": stage,
        "before_script": [],
        "script": ["/dataops"],
        "after_script": [],
        "tag_list": ["dataops-runner"],
        "environment": None,
        "when": "on_success",
        "allow_failure": False,
    }


def _merged_yaml() -> str:
    lines = ["stages:", *(f"- {stage}" for stage, _ in STAGES)]
    for stage, name in STAGES:
        lines += [f"{name}:", f"  stage: {stage}", "  script:", "  - /dataops"]
    return "\n".join(lines) + "\n"
