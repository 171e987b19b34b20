"""What the operators and the sensor share: their hook, built from checked arguments."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from airflow_provider_dataops.errors import DataOpsConfigError
from airflow_provider_dataops.hooks.dataops import DataOpsHook

#: The DataOpsHook options an operator may pass through ``hook_params``.
HOOK_PARAMS = ("timeout", "retry_policy")


def check_hook_params(dataops_conn_id: Any, hook_params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate ``hook_params`` at DAG parse time by building (and dropping) a hook with them."""
    params = dict(hook_params or {})
    unknown = sorted(set(params) - set(HOOK_PARAMS))
    if unknown:
        raise DataOpsConfigError(f"hook_params accepts {', '.join(HOOK_PARAMS)}; unknown: {', '.join(unknown)}")
    try:
        DataOpsHook(dataops_conn_id, **params)  # validates; reads no connection
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
