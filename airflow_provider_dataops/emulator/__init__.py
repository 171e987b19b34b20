"""A local emulator of the DataOps.live (GitLab v4) API, for tests, demos and benchmarks.

Needs the ``emulator`` extra. Heavy imports are deferred until a name is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as _missing:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "The DataOps.live emulator needs Starlette and uvicorn: pip install 'airflow-provider-dataops[emulator]'"
    ) from _missing

if TYPE_CHECKING:
    from airflow_provider_dataops.emulator.server import DataOpsEmulator
    from airflow_provider_dataops.emulator.state import EmulatorState

__all__ = [
    "DEFAULT_ACCESS_TOKEN",
    "DEFAULT_TRIGGER_TOKEN",
    "DataOpsEmulator",
    "EmulatorState",
]

_LAZY = {
    "DataOpsEmulator": "airflow_provider_dataops.emulator.server",
    "EmulatorState": "airflow_provider_dataops.emulator.state",
    "DEFAULT_ACCESS_TOKEN": "airflow_provider_dataops.emulator.state",
    "DEFAULT_TRIGGER_TOKEN": "airflow_provider_dataops.emulator.state",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
