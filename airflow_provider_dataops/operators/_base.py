"""What the operators and the sensor share: their hook, built from checked arguments."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from airflow_provider_dataops.connection import check_conn_id
from airflow_provider_dataops.errors import DataOpsConfigError
from airflow_provider_dataops.hooks.dataops import DataOpsHook

#: The DataOpsHook options an operator may pass through ``hook_params``.
HOOK_PARAMS = ("timeout", "retry_policy")


def check_hook_params(dataops_conn_id: Any, hook_params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate ``dataops_conn_id`` and ``hook_params`` at DAG parse time, each error naming its argument.

    ``hook_params`` are checked by building (and dropping) a hook with them, which reads no connection.
    """
    conn_id = check_conn_id(dataops_conn_id)
    if hook_params is not None and not isinstance(hook_params, Mapping):
        raise DataOpsConfigError(f"hook_params must be a mapping, got {type(hook_params).__name__}")
    params = dict(hook_params or {})
    unknown = sorted(set(params) - set(HOOK_PARAMS))
    if unknown:
        raise DataOpsConfigError(f"hook_params accepts {', '.join(HOOK_PARAMS)}; unknown: {', '.join(unknown)}")
    try:
        DataOpsHook(conn_id, **params)
    except DataOpsConfigError as error:
        raise DataOpsConfigError(f"hook_params: {error}") from None
    return params


class DataOpsHookMixin:
    """Gives an operator a ``hook`` made on first use, never at DAG parse time."""

    dataops_conn_id: str
    hook_params: dict[str, Any]

    @cached_property
    def hook(self) -> DataOpsHook:
        """The operator's DataOpsHook."""
        return DataOpsHook(self.dataops_conn_id, **self.hook_params)
