from __future__ import annotations

from importlib.util import find_spec
from typing import Any

import pytest

if find_spec("starlette") is None or find_spec("uvicorn") is None:  # pragma: no cover
    # The emulator is an optional extra; without it there is nothing here to test.
    collect_ignore_glob = ["test_*.py"]
else:
    # A server of this folder's own: a session fixture is computed once, with the options of the
    # first test that asks, so sharing the kit's would give the integration tests this manual clock.
    from airflow_provider_dataops.testing.pytest_plugin import (  # noqa: F401
        dataops_connection_env,
        dataops_emulator,
        dataops_emulator_server,
    )

    @pytest.fixture(scope="session")
    def dataops_emulator_options() -> dict[str, Any]:
        # A frozen clock: lifecycle tests move time with advance() instead of sleeping.
        return {"clock": "manual", "pipeline_seconds": 10}


@pytest.fixture
def emu(dataops_emulator: Any) -> Any:
    """Short name for the freshly reset, manual-clock emulator."""
    return dataops_emulator


@pytest.fixture
def auth(emu: Any) -> dict[str, str]:
    return {"PRIVATE-TOKEN": emu.access_token}
