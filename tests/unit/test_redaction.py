"""One redaction of the connection's secrets for everything the provider publishes, masker or not."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests_mock as rm

from airflow_provider_dataops.api.redaction import redact, redact_body, redact_value
from airflow_provider_dataops.errors import DataOpsPipelineFailedError
from airflow_provider_dataops.hooks.dataops import DataOpsHook
from airflow_provider_dataops.operators.artifacts import DataOpsJobArtifactOperator
from airflow_provider_dataops.triggers import events

from .conftest import ACCESS_TOKEN, API, TRIGGER_TOKEN
from .test_event_trigger import FakeApi, api_fixture, make  # noqa: F401  (the api fixture)
from .test_event_trigger import drive as drive  # the fixture
from .test_pipeline_operator import PROJECT, make_context, operator, task_log

ECHO = f"https://x/demo/p/-/pipelines/7?private_token={ACCESS_TOKEN}"


def test_redact_value_reaches_every_string() -> None:
    value = {ACCESS_TOKEN: [f"a {ACCESS_TOKEN}", (TRIGGER_TOKEN, 3)], "n": None, "ok": True}
    assert redact_value(value, (ACCESS_TOKEN, TRIGGER_TOKEN, None)) == {
        "***": ["a ***", ("***", 3)],
        "n": None,
        "ok": True,
    }
    assert redact(f"x{ACCESS_TOKEN}y", ["", ACCESS_TOKEN]) == "x***y"
    assert redact_value(value, ()) is value


@pytest.mark.parametrize("secret", ["glpat-plain", 'glpat-"quoted"', "glpat-back\\slash", "glpat-\u00e9t\u00e9"])
def test_the_quick_check_finds_a_secret_however_json_escaped_it(secret: str) -> None:
    # A hostile server may escape any character (\u0067 for "g"); the check reads the decoded value.
    escaped = "".join(f"\\u{ord(char):04x}" for char in secret)
    body = json.loads(f'{{"rows": [{{"name": "clean"}}, {{"web_url": "x{escaped}y"}}], "n": 3}}')
    assert body["rows"][1]["web_url"] == f"x{secret}y"
    assert redact_value(body, (secret,)) == {"rows": [{"name": "clean"}, {"web_url": "x***y"}], "n": 3}
    assert redact_value({secret: 1, "t": ("a", secret)}, (secret,)) == {"***": 1, "t": ("a", "***")}


def test_a_value_without_a_secret_comes_back_as_it_is() -> None:
    body = {"rows": [{"name": "clean", "id": 1}] * 3, "next": None}
    assert redact_value(body, (ACCESS_TOKEN,)) is body
    # Not JSON (a set, an object): walked, and what holds no secret is kept.
    odd = {"when": object(), "tags": {"a"}, "s": f"-{ACCESS_TOKEN}-"}
    assert redact_value(odd, (ACCESS_TOKEN,)) == {"when": odd["when"], "tags": {"a"}, "s": "-***-"}


@pytest.mark.parametrize(
    "secret", ["glpat-plain", 'glpat-"quoted"', "glpat-back\\slash", "glpat-\u00e9t\u00e9", "\ud800"]
)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-32-be"])
@pytest.mark.parametrize("escape", [False, True])
def test_a_body_is_redacted_whatever_its_encoding_and_escapes(secret: str, encoding: str, escape: bool) -> None:
    # The quick look at the raw bytes may only say "no secret" when no decoded string can hold one.
    text = "".join(f"\\u{ord(char):04x}" for char in secret) if escape else json.dumps(secret)[1:-1]
    raw = f'[{{"id": 1, "web_url": "x{text}y"}}, {{"id": 2, "name": "clean"}}]'
    content = raw.encode(encoding, "surrogatepass")
    value = json.loads(content)
    assert redact_body(content, value, (None, secret)) == [{"id": 1, "web_url": "x***y"}, {"id": 2, "name": "clean"}]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_body_without_a_secret_comes_back_as_it_is(encoding: str) -> None:
    content = json.dumps([{"id": 1, "name": "caf\u00e9 \\ back"}], ensure_ascii=False).encode(encoding)
    value = json.loads(content)
    assert redact_body(content, value, (ACCESS_TOKEN,)) is value
    assert redact_body(content, value, ()) is value


def test_every_decoded_answer_is_redacted(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{PROJECT}/pipelines/7", json={"id": 7, "web_url": ECHO, "detail": {"x": [ACCESS_TOKEN]}})
    pipeline = hook.get_pipeline("demo/p", 7)
    assert ACCESS_TOKEN not in json.dumps(pipeline)


def test_an_echoed_token_reaches_neither_the_exception_nor_the_failure_report(
    hook: DataOpsHook,
    requests_mock: rm.Mocker,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    echoed = {"id": 7, "status": "failed", "ref": "main", "web_url": ECHO}
    requests_mock.post(f"{PROJECT}/pipeline", json={**echoed, "status": "created"}, status_code=201)
    requests_mock.get(f"{PROJECT}/pipelines/7", json=echoed)
    requests_mock.get(
        f"{PROJECT}/pipelines/7/jobs",
        json=[{"id": 70, "name": f"job {ACCESS_TOKEN}", "stage": "s", "failure_reason": ACCESS_TOKEN, "web_url": ECHO}],
    )
    requests_mock.get(f"{PROJECT}/jobs/70/trace", text=f"export TOKEN={ACCESS_TOKEN}\nERROR: failed\n")
    caplog.set_level(logging.INFO)
    op = operator()
    op.__dict__["hook"] = hook
    # Airflow's masker does not know the token here: nothing registered it with the masker.
    with pytest.raises(DataOpsPipelineFailedError) as failed:
        op.execute(make_context())
    assert ACCESS_TOKEN not in str(failed.value)
    assert "pipelines/7?private_token=***" in str(failed.value)
    logged = task_log(caplog, capfd)
    assert "ERROR: failed" in logged  # the report was logged...
    assert ACCESS_TOKEN not in logged  # ...without the token


def test_the_job_log_is_redacted(hook: DataOpsHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(f"{PROJECT}/jobs/70/trace", text=f"line {ACCESS_TOKEN}\n")
    assert hook.get_job_log("demo/p", 70) == "line ***"


def test_the_artifact_operators_xcom_files_are_redacted(
    hook: DataOpsHook, requests_mock: rm.Mocker, tmp_path: Path
) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(f"reports/{ACCESS_TOKEN}.xml", b"<x/>")
    requests_mock.get(
        f"{API}/projects/1/pipelines/5/jobs",
        json=[{"id": 11, "name": "Generate Docs", "status": "success", "artifacts_file": {"size": 1}}],
    )
    requests_mock.get(f"{API}/projects/1/jobs/11/artifacts", content=archive.getvalue())
    op = DataOpsJobArtifactOperator(
        task_id="t",
        project=1,
        job_name="Generate Docs",
        pipeline_id=5,
        destination=str(tmp_path / "a.zip"),
        extract=True,
    )
    op.__dict__["hook"] = hook
    result: dict[str, Any] = op.execute({})
    assert result["files"] == ["reports/***.xml"]
    assert ACCESS_TOKEN not in json.dumps(result)


@pytest.mark.skipif(not events.HAS_EVENT_TRIGGERS, reason="Airflow 2 has no AssetWatcher")
async def test_the_event_triggers_payload_is_redacted(api: FakeApi, drive: Any) -> None:
    api.set(1, "running")

    def finish_with_an_echo() -> None:
        api.set(1, "success")
        api.pipelines[1]["web_url"] = ECHO
        api.pipelines[1]["ref"] = f"main-{ACCESS_TOKEN}"

    payloads = await drive(make(ref=None), finish_with_an_echo, lambda: None)
    assert len(payloads) == 1
    assert ACCESS_TOKEN not in json.dumps(payloads)
    assert payloads[0]["web_url"].endswith("private_token=***")
