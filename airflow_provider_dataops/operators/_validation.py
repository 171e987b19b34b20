"""Argument checks shared by the operators and the sensor: fail at DAG parse, naming the argument."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_dataops.errors import DataOpsConfigError


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
