"""1,000 concurrent pollers on one emulator, all answered."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

pytestmark = pytest.mark.integration

POLLERS = 1000


async def test_a_thousand_concurrent_pollers(emu, auth):
    created = httpx.post(f"{emu.api_url}/projects/1/trigger/pipeline", data={"token": emu.trigger_token, "ref": "main"})
    url = f"{emu.api_url}/projects/demo%2Fdataops-project/pipelines/{created.json()['id']}"
    limits = httpx.Limits(max_connections=POLLERS, max_keepalive_connections=POLLERS)
    async with httpx.AsyncClient(headers=auth, limits=limits, timeout=60) as client:
        began = time.perf_counter()
        responses = await asyncio.gather(*(client.get(url) for _ in range(POLLERS)))
        elapsed = time.perf_counter() - began
    statuses = [response.status_code for response in responses]
    assert statuses == [200] * POLLERS
    assert {response.json()["status"] for response in responses} == {"created"}
    print(f"\n{POLLERS} concurrent pollers answered in {elapsed:.2f}s")
    assert len(emu.requests()) == POLLERS + 1
