"""Task arguments shared by the operators and the sensor: checked at DAG parse, each error naming the argument.

Also the hook a task builds from its checked ``dataops_conn_id`` and ``hook_params``, on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_dataops.api.connection import check_conn_id
from airflow_provider_dataops.api.paths import check_job_name, numeric_id, resource_id
from airflow_provider_dataops.api.transport import check_hook_options
from airflow_provider_dataops.errors import DataOpsConfigError

if TYPE_CHECKING:  # the hook's module loads only when a task runs (python -m benchmarks imports)
    from airflow_provider_dataops.hooks.dataops import DataOpsHook

#: The DataOpsHook options a task may pass through ``hook_params``.
HOOK_PARAMS = ("timeout", "retry_policy")


def check_bool(value: Any, name: str) -> bool:
    """``value`` if it is a bool; a clear error otherwise (``"false"`` would be truthy)."""
    if not isinstance(value, bool):
        raise DataOpsConfigError(f"{name} must be True or False, got {value!r}")
    return value


def is_template(value: Any) -> bool:
    """Whether ``value`` (or anything inside it) still holds Jinja, to be checked once rendered."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(is_template(key) or is_template(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(is_template(item) for item in value)
    return False


def validate_when_rendered(value: Any, check: Callable[[Any], object]) -> None:
    """Run ``check`` now unless ``value`` is still a template; execute calls it again once rendered."""
    if not is_template(value):
        check(value)


def validate_job_arguments(project: Any, pipeline_id: Any, job_name: Any) -> None:
    """Check a task's ``project``, ``pipeline_id`` and ``job_name`` (each once it holds no template)."""
    validate_when_rendered(project, lambda value: resource_id(value, "project"))
    validate_when_rendered(pipeline_id, lambda value: numeric_id(value, "pipeline_id"))
    validate_when_rendered(job_name, check_job_name)


def check_hook_params(dataops_conn_id: Any, hook_params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate ``dataops_conn_id`` and ``hook_params`` at DAG parse time, each error naming its argument.

    ``hook_params`` are checked as the hook checks them
    (:func:`~airflow_provider_dataops.api.transport.check_hook_options`), without building one.
    """
    check_conn_id(dataops_conn_id)
    if hook_params is not None and not isinstance(hook_params, Mapping):
        raise DataOpsConfigError(f"hook_params must be a mapping, got {type(hook_params).__name__}")
    params = dict(hook_params or {})
    unknown = sorted(set(params) - set(HOOK_PARAMS))
    if unknown:
        raise DataOpsConfigError(f"hook_params accepts {', '.join(HOOK_PARAMS)}; unknown: {', '.join(unknown)}")
    try:
        check_hook_options(**params)
    except DataOpsConfigError as error:
        raise DataOpsConfigError(f"hook_params: {error}") from None
    return params


class DataOpsHookMixin:
    """Gives an operator a ``hook`` made on first use, never at DAG parse time."""

    dataops_conn_id: str
    hook_params: dict[str, Any]

    def _use_connection(self, dataops_conn_id: Any, hook_params: Mapping[str, Any] | None) -> None:
        """Check and keep ``dataops_conn_id`` and ``hook_params`` (see :func:`check_hook_params`)."""
        self.hook_params = check_hook_params(dataops_conn_id, hook_params)
        self.dataops_conn_id = dataops_conn_id

    @cached_property
    def hook(self) -> DataOpsHook:
        """The operator's DataOpsHook."""
        from airflow_provider_dataops.hooks.dataops import DataOpsHook

        return DataOpsHook(self.dataops_conn_id, **self.hook_params)
