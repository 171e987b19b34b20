"""The /-/emulator control API, and /projects pagination on large seeded sets."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_dataops.emulator.state import (
    DEMO_PROJECT_ID,
    INGESTION_PROJECT_ID,
    SEEDED_PROJECT_COUNT,
)

pytestmark = pytest.mark.integration


def control(emu, method, path, **kwargs):
    return requests.request(method, f"{emu.url}/-/emulator{path}", timeout=60, **kwargs)


def projects(emu, auth, **params):
    return requests.get(f"{emu.api_url}/projects", headers=auth, params=params, timeout=30)


def parse_links(header):
    links = {}
    for part in header.split(", "):
        url, rel = part.split("; ")
        links[rel.split('"')[1]] = url.strip("<>")
    return links


def test_health_and_reset(emu, auth):
    assert control(emu, "GET", "/health").json() == {"status": "ok"}
    requests.post(f"{emu.api_url}/projects", headers=auth, json={"name": "temp"}, timeout=10)
    assert control(emu, "POST", "/reset").status_code == 200
    assert [project["id"] for project in projects(emu, auth).json()] == [INGESTION_PROJECT_ID, DEMO_PROJECT_ID]


def test_seed_over_http(emu, auth):
    response = control(emu, "POST", "/projects/seed", json={"count": 25, "namespace": "demo"})
    assert response.status_code == 201
    assert response.json() == {"created": 25, "total": 25 + SEEDED_PROJECT_COUNT}
    assert control(emu, "POST", "/projects/seed", json={"count": -1}).status_code == 400


def test_faults_control(emu):
    created = control(emu, "POST", "/faults", json={"method": "GET", "path": "^/api/v4/user$", "status": 503})
    assert created.status_code == 201
    fault = created.json()
    assert fault["id"] == 1
    assert fault["action"] == "status"
    assert fault["times"] == 1
    assert fault["hits"] == 0
    assert control(emu, "GET", "/faults").json() == [fault]
    bad = control(emu, "POST", "/faults", json={"action": "latency"})
    assert bad.status_code == 400
    assert "seconds" in bad.json()["error"]
    assert control(emu, "DELETE", "/faults").status_code == 204
    assert control(emu, "GET", "/faults").json() == []


def test_requests_and_pipelines_control(emu, auth):
    requests.get(f"{emu.api_url}/user", headers=auth, timeout=10)
    requests.post(
        f"{emu.api_url}/projects/1/trigger/pipeline", data={"token": emu.trigger_token, "ref": "main"}, timeout=10
    )
    log = control(emu, "GET", "/requests").json()
    assert [entry["status"] for entry in log] == [200, 201]
    pipelines = control(emu, "GET", "/pipelines").json()
    assert pipelines[0]["source"] == "trigger"
    assert pipelines[0]["status"] == "created"
    assert control(emu, "DELETE", "/requests").status_code == 204
    assert control(emu, "GET", "/requests").json() == []  # control calls are not logged


def test_clock_control(emu, auth):
    assert control(emu, "GET", "/clock").json()["mode"] == "manual"
    requests.post(
        f"{emu.url}/api/v4/projects/1/trigger/pipeline", data={"token": emu.trigger_token, "ref": "main"}, timeout=10
    )
    before = control(emu, "GET", "/clock").json()["epoch"]
    after = control(emu, "POST", "/clock/advance", json={"seconds": 10}).json()
    assert after["epoch"] == pytest.approx(before + 10)
    assert emu.pipelines()[0]["status"] == "success"
    assert control(emu, "POST", "/clock/advance", json={"seconds": "x"}).status_code == 400
    assert control(emu, "POST", "/clock", json={"mode": "real"}).json()["mode"] == "real"
    emu.reset()
    assert control(emu, "GET", "/clock").json()["mode"] == "manual"


def test_rate_limit_control(emu, auth):
    assert control(emu, "POST", "/rate-limit", json={"requests_per_minute": 2}).json() == {"requests_per_minute": 2}
    statuses = [requests.get(f"{emu.api_url}/user", headers=auth, timeout=10).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    emu.reset()
    assert control(emu, "GET", "/rate-limit").json() == {"requests_per_minute": None}


def test_offset_pagination_follows_links_with_the_requests_base_url(emu, auth):
    emu.seed_projects(45 - SEEDED_PROJECT_COUNT)  # 45 projects
    first = projects(emu, auth, per_page=20, order_by="id", sort="asc")
    assert first.headers["x-total"] == "45"
    assert first.headers["x-total-pages"] == "3"
    assert first.headers["x-prev-page"] == ""
    assert first.headers["x-next-page"] == "2"
    links = parse_links(first.headers["link"])
    assert set(links) == {"next", "first", "last"}
    assert links["next"].startswith(f"{emu.api_url}/projects?")
    assert "order_by=id" in links["next"]
    assert "page=2" in links["next"]
    seen, url = [], f"{emu.api_url}/projects?per_page=20&order_by=id&sort=asc"
    while url:
        page = requests.get(url, headers=auth, timeout=10)
        seen += [project["id"] for project in page.json()]
        url = parse_links(page.headers["link"]).get("next")
    assert seen == list(range(1, 46))


def test_host_header_decides_the_link_base(emu, auth):
    response = requests.get(
        f"{emu.api_url}/projects", headers={**auth, "Host": f"localhost:{emu.port}"}, params={"per_page": 1}
    )
    assert f"<http://localhost:{emu.port}/api/v4/projects?" in response.headers["link"]


def test_keyset_pagination(emu, auth):
    emu.seed_projects(25 - SEEDED_PROJECT_COUNT)  # 25 projects
    url = f"{emu.api_url}/projects?pagination=keyset&order_by=id&sort=asc&per_page=10"
    seen, pages = [], 0
    while url:
        page = requests.get(url, headers=auth, timeout=10)
        pages += 1
        assert not any(name.lower().startswith("x-") for name in page.headers)
        seen += [project["id"] for project in page.json()]
        link = page.headers.get("link")
        url = parse_links(link)["next"] if link else None
        if link:
            assert "id_after=" in link
    assert seen == list(range(1, 26))
    assert pages == 3
    descending = projects(emu, auth, pagination="keyset", order_by="id", sort="desc", per_page=25)
    assert "id_before=1" in descending.headers["link"]
    end = requests.get(parse_links(descending.headers["link"])["next"], headers=auth, timeout=10)
    assert end.json() == []
    assert "link" not in end.headers


def test_keyset_needs_order_by_id(emu, auth):
    response = projects(emu, auth, pagination="keyset", order_by="name")
    assert response.status_code == 405
    assert response.json() == {"error": "Keyset pagination is not yet available for this type of request"}


def test_ten_thousand_and_one_projects_hide_totals(emu, auth):
    emu.seed_projects(10_001 - SEEDED_PROJECT_COUNT)  # how long seeding takes: python -m benchmarks pagination
    response = projects(emu, auth, per_page=100)
    assert response.status_code == 200
    assert len(response.json()) == 100
    assert "x-total" not in response.headers
    assert "x-total-pages" not in response.headers
    assert 'rel="last"' not in response.headers["link"]
    assert response.headers["x-next-page"] == "2"


def test_offset_limit_405_and_keyset_beyond_it(emu, auth):
    response = control(emu, "POST", "/projects/seed", json={"count": 60_000})
    total = 60_000 + SEEDED_PROJECT_COUNT
    assert response.json()["total"] == total
    assert projects(emu, auth, page=500, per_page=100).status_code == 200
    too_far = projects(emu, auth, page=501, per_page=100)
    assert too_far.status_code == 405
    assert too_far.json() == {
        "error": "Offset pagination has a maximum allowed offset of 50000 for requests that return objects of "
        "type Project. Remaining records can be retrieved using keyset pagination."
    }
    beyond = projects(emu, auth, pagination="keyset", order_by="id", sort="asc", per_page=100, id_after=59_950)
    assert [project["id"] for project in beyond.json()] == list(range(59_951, total + 1))
    assert "link" not in beyond.headers
