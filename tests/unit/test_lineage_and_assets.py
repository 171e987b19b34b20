"""The ``dataops://`` asset scheme, asset event extras, and the OpenLineage facet and parent ids."""

from __future__ import annotations

import importlib
import re
import sys
from collections import defaultdict
from types import SimpleNamespace
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
import requests_mock as rm
from airflow import __version__ as airflow_version
from airflow.providers.common.compat.sdk import Asset, AssetAlias

from airflow_provider_dataops import assets, lineage
from airflow_provider_dataops.errors import DataOpsConfigError
from airflow_provider_dataops.get_provider_info import get_provider_info

from .test_pipeline_operator import PROJECT, make_context, operator, reads

AIRFLOW_2 = airflow_version.startswith("2.")

# -- the dataops:// scheme ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "canonical"),
    [
        ("dataops://app.dataops.live/demo/p", "dataops://app.dataops.live/demo/p"),
        ("dataops://APP.DataOps.Live:443/Demo/Sub/P", "dataops://app.dataops.live/demo/sub/p"),
        ("dataops://app.dataops.live/demo/p.git", "dataops://app.dataops.live/demo/p"),
        ("dataops://app.dataops.live/demo%2Fp", "dataops://app.dataops.live/demo/p"),
        ("dataops://gitlab.local:8443/demo/p?ref=main", "dataops://gitlab.local:8443/demo/p?ref=main"),
        ("dataops://app.dataops.live/demo/p?ref=feature/x", "dataops://app.dataops.live/demo/p?ref=feature%2Fx"),
    ],
)
def test_sanitize_uri_canonicalises(uri: str, canonical: str) -> None:
    assert assets.sanitize_uri(urlsplit(uri)).geturl() == canonical


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("dataops://app.dataops.live/p", "at least 'namespace/project'"),
        ("dataops://app.dataops.live/1234", "at least 'namespace/project'"),
        ("dataops:///demo/p", "host is missing"),
        ("dataops://user@app.dataops.live/demo/p", "user info"),
        ("dataops://app.dataops.live:70000/demo/p", "port"),
        ("dataops://app.dataops.live/demo/../p", "'..'"),
        ("dataops://app.dataops.live/demo/-p", "'-p'"),
        ("dataops://app.dataops.live/demo/p q", "'p q'"),
        ("dataops://app.dataops.live/demo/p?branch=main", "only 'ref'"),
        ("dataops://app.dataops.live/demo/p?ref=a&ref=b", "more than once"),
        ("dataops://app.dataops.live/demo/p?ref=a..b", "ref must be"),
        ("http://app.dataops.live/demo/p", "scheme"),
    ],
)
def test_sanitize_uri_refuses_what_names_no_project(uri: str, fragment: str) -> None:
    with pytest.raises(DataOpsConfigError, match=f"not a DataOps.live project asset URI.*{re.escape(fragment)}"):
        assets.sanitize_uri(urlsplit(uri))


def test_a_bad_uri_is_refused_without_its_password() -> None:
    with pytest.raises(DataOpsConfigError) as error:
        assets.sanitize_uri(urlsplit("dataops://user:s3cr3t@app.dataops.live/demo/p"))
    assert "s3cr3t" not in str(error.value)


def test_airflow_uses_the_registered_scheme() -> None:
    """The provider info registers the handler, so Airflow's own Asset canonicalises and refuses."""
    assert Asset(uri="dataops://APP.dataops.live/Demo/P/?ref=main").uri == "dataops://app.dataops.live/demo/p?ref=main"
    if AIRFLOW_2:  # Airflow 2 only warns, unless [core] strict_dataset_uri_validation is on
        with pytest.warns(UserWarning, match="namespace/project"):
            Asset(uri="dataops://app.dataops.live/p")
    else:
        with pytest.raises(ValueError, match="namespace/project"):
            Asset(uri="dataops://app.dataops.live/p")


def test_provider_info_names_importable_callables() -> None:
    info = get_provider_info()
    assert info["asset-uris"] == info["dataset-uris"]
    [entry] = info["asset-uris"]
    assert entry["schemes"] == ["dataops"]
    for key in ("handler", "factory", "to_openlineage_converter"):
        module, _, name = entry[key].rpartition(".")
        assert callable(getattr(importlib.import_module(module), name))


def test_create_asset_and_project_uri() -> None:
    asset = assets.create_asset(project="Demo/P", ref="main")
    assert asset.uri == "dataops://app.dataops.live/demo/p?ref=main"
    assert assets.project_uri("demo/p", host="gitlab.local:8443") == "dataops://gitlab.local:8443/demo/p"
    with pytest.raises(DataOpsConfigError, match="namespace/project"):
        assets.create_asset(project="p")


def test_openlineage_dataset_of_a_project_asset() -> None:
    pytest.importorskip("airflow.providers.openlineage")
    dataset = assets.convert_asset_to_openlineage(assets.create_asset(project="demo/p", ref="main"), None)
    assert (dataset.namespace, dataset.name) == ("dataops://app.dataops.live", "demo/p?ref=main")


# -- asset event extras ---------------------------------------------------------------------------

DONE = {"id": 7, "status": "success", "ref": "main", "sha": "abc123", "web_url": "https://x/demo/p/-/pipelines/7"}
EXTRA = {"pipeline_id": 7, "web_url": DONE["web_url"], "ref": "main", "sha": "abc123", "status": "success"}


def outlet_events() -> Any:
    return defaultdict(lambda: SimpleNamespace(extra={}))


def test_every_asset_outlet_event_carries_the_pipeline_after_deferral(hook, requests_mock: rm.Mocker) -> None:
    """execute_complete runs on a new worker: the extra is set there, from the pipeline it reads."""
    requests_mock.get(f"{PROJECT}/pipelines/7", json=DONE)
    project, other, alias = Asset("dataops://app.dataops.live/demo/p"), Asset("s3://bucket/key"), AssetAlias("a")
    context = {**make_context(), "outlet_events": outlet_events()}
    context["outlet_events"][other].extra["mine"] = 1  # a user's own extra is kept
    op = operator(outlets=[project, other, alias])
    assert op.execute_complete(context, {"status": "success", "pipeline_id": 7}) == 7
    assert context["outlet_events"][project].extra == EXTRA
    assert context["outlet_events"][other].extra == {"mine": 1, **EXTRA}
    assert alias not in context["outlet_events"]


def test_asset_extra_when_the_task_does_not_wait(hook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(f"{PROJECT}/pipeline", json={**DONE, "status": "created"}, status_code=201)
    reads(requests_mock, 7, "created")
    project = Asset("dataops://app.dataops.live/demo/p")
    context = {**make_context(), "outlet_events": outlet_events()}
    operator(outlets=[project], wait_for_completion=False).execute(context)
    assert context["outlet_events"][project].extra["status"] == "created"
    assert context["outlet_events"][project].extra["pipeline_id"] == 7


# -- OpenLineage: parent run ids ------------------------------------------------------------------


@pytest.fixture
def openlineage_on() -> Any:
    pytest.importorskip("airflow.providers.openlineage")
    with (
        mock.patch.object(lineage, "openlineage_enabled", return_value=True),
        mock.patch(
            "airflow.providers.openlineage.plugins.macros.lineage_parent_id", return_value="default/d.t/run-1"
        ) as parent,
        mock.patch(
            "airflow.providers.openlineage.plugins.macros.lineage_root_parent_id", return_value="default/d/root-1"
        ),
    ):
        yield parent


def _posted_variables(requests_mock: rm.Mocker) -> dict[str, str]:
    body = requests_mock.request_history[0].json()
    return {v["key"]: v["value"] for v in body["variables"]}


def _trigger(requests_mock: rm.Mocker, **kwargs: Any) -> tuple[dict[str, str], Any]:
    requests_mock.post(f"{PROJECT}/pipeline", json={**DONE, "status": "created"}, status_code=201)
    reads(requests_mock, 7, "created")
    context = make_context()
    operator(wait_for_completion=False, **kwargs).execute(context)
    return _posted_variables(requests_mock), context


def test_the_pipeline_gets_the_task_run_as_dbt_ol_reads_it(hook, requests_mock: rm.Mocker, openlineage_on) -> None:
    variables, context = _trigger(requests_mock)
    assert variables["OPENLINEAGE_PARENT_ID"] == "default/d.t/run-1"
    assert variables["OPENLINEAGE_ROOT_PARENT_ID"] == "default/d/root-1"
    openlineage_on.assert_called_once_with(context["ti"])  # the provider's macro, given this task instance


def test_variables_the_user_set_win(hook, requests_mock: rm.Mocker, openlineage_on) -> None:
    variables, _ = _trigger(requests_mock, variables={"OPENLINEAGE_PARENT_ID": "mine/job/1"})
    assert variables["OPENLINEAGE_PARENT_ID"] == "mine/job/1"
    assert variables["OPENLINEAGE_ROOT_PARENT_ID"] == "default/d/root-1"


def test_an_argument_turns_the_injection_off(hook, requests_mock: rm.Mocker, openlineage_on) -> None:
    variables, _ = _trigger(requests_mock, openlineage_inject_parent_job_info=False)
    assert "OPENLINEAGE_PARENT_ID" not in variables
    with pytest.raises(DataOpsConfigError, match="openlineage_inject_parent_job_info"):
        operator(openlineage_inject_parent_job_info="no")


def test_nothing_is_injected_while_openlineage_is_disabled(hook, requests_mock: rm.Mocker) -> None:
    """The test session disables OpenLineage (no transport either): no parent run to link to."""
    assert lineage.openlineage_enabled() is False
    variables, _ = _trigger(requests_mock)
    assert not {"OPENLINEAGE_PARENT_ID", "OPENLINEAGE_ROOT_PARENT_ID"} & set(variables)


def test_a_failing_macro_never_stops_the_pipeline(
    hook, requests_mock: rm.Mocker, openlineage_on, caplog: pytest.LogCaptureFixture
) -> None:
    openlineage_on.side_effect = RuntimeError("no dag run")
    variables, _ = _trigger(requests_mock)
    assert "OPENLINEAGE_PARENT_ID" not in variables
    assert "without OpenLineage parent run ids" in caplog.text


# -- without the OpenLineage provider ---------------------------------------------------------------


@pytest.fixture
def openlineage_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Imports of the OpenLineage provider fail, as when it is not installed."""
    for name in list(sys.modules):
        if name.startswith(("airflow.providers.openlineage", "openlineage")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "airflow.providers.openlineage", None)
    monkeypatch.setitem(sys.modules, "openlineage", None)


def test_without_the_provider_the_operator_triggers_and_reports_nothing(
    openlineage_missing: None, hook, requests_mock: rm.Mocker
) -> None:
    with pytest.raises(ImportError):
        import airflow.providers.openlineage  # noqa: F401
    assert lineage.openlineage_enabled() is False
    assert lineage.parent_run_variables(mock.MagicMock()) == {}
    variables, _ = _trigger(requests_mock)
    assert "OPENLINEAGE_PARENT_ID" not in variables
    op = operator()
    assert op.get_openlineage_facets_on_start() is None
    assert op.get_openlineage_facets_on_complete(mock.MagicMock()) is None


# -- OpenLineage: the run facet --------------------------------------------------------------------


def _facet(result: Any) -> dict[str, Any]:
    from openlineage.client.serde import Serde

    return Serde.to_dict(result.run_facets[lineage.RUN_FACET_NAME])


def test_the_facet_describes_the_request_then_the_finished_pipeline(hook, requests_mock: rm.Mocker) -> None:
    pytest.importorskip("airflow.providers.openlineage")
    op = operator(pipeline_file="full-ci.yml")
    start = _facet(op.get_openlineage_facets_on_start())
    assert {k: v for k, v in start.items() if not k.startswith("_")} == {
        "project": "demo/p",
        "ref": "main",
        "pipelineFile": "full-ci.yml",
    }
    requests_mock.get(f"{PROJECT}/pipelines/7", json={**DONE, "status": "failed"})
    requests_mock.get(f"{PROJECT}/pipelines/7/jobs", json=[])
    with pytest.raises(Exception, match="ended as failed"):
        op.execute_complete(make_context(), {"status": "failure", "pipeline_id": 7})
    failed = _facet(op.get_openlineage_facets_on_failure(mock.MagicMock()))
    assert failed["pipelineId"] == 7
    assert failed["status"] == "failed"
    assert failed["sha"] == "abc123"
    assert failed["webUrl"] == DONE["web_url"]
    assert failed["_schemaURL"].endswith("#the-dataops-pipeline-run-facet")
