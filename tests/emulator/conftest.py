from __future__ import annotations

from importlib.util import find_spec
from typing import Any

import pytest

if find_spec("starlette") is None or find_spec("uvicorn") is None:  # pragma: no cover
    # The emulator is an optional extra; without it there is nothing here to test.
    collect_ignore_glob = ["test_*.py"]
else:
    # The fixtures come from the test kit, which pytest loads by itself.

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
