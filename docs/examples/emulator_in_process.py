"""Example: the emulator in-process, with a planned fault (CI runs this file)."""

from __future__ import annotations

import requests

from airflow_provider_dataops.emulator import DataOpsEmulator


def main() -> list[int]:
    """Trigger through a 503 and return the status codes seen."""
    with DataOpsEmulator(pipeline_seconds=5, clock="manual") as emu:
        # The next trigger fails with a 503 and a Retry-After header; later ones succeed.
        emu.inject_fault(
            method="POST",
            path=r"^/api/v4/projects/[^/]+/trigger/pipeline$",
            status=503,
            headers={"Retry-After": "1"},
        )
        statuses = []
        for _ in range(2):
            response = requests.post(
                f"{emu.api_url}/projects/demo%2Fdataops-project/trigger/pipeline",
                data={"token": emu.trigger_token, "ref": "main"},
                timeout=10,
            )
            statuses.append(response.status_code)
        emu.advance(5)
        assert [p["status"] for p in emu.pipelines()] == ["success"]
    return statuses


if __name__ == "__main__":
    print(main())
