"""Every row of the ``dataops://`` URI issue as a test: URIs built from parts, hosts normalised."""

from __future__ import annotations

import re
import warnings
from urllib.parse import urlsplit

import pytest
from airflow import __version__ as airflow_version
from airflow.providers.common.compat.sdk import Asset

from airflow_provider_dataops import assets
from airflow_provider_dataops.errors import DataOpsConfigError

AIRFLOW_2 = airflow_version.startswith("2.")


@pytest.mark.parametrize(
    ("kwargs", "refusal"),
    [
        ({"project": "g/p?ref=main#"}, "'p?ref=main#' is not a valid project path segment"),
        ({"project": "g/p#x"}, "'p#x' is not a valid project path segment"),
        ({"project": "g/p", "host": "evil.example/x/y#"}, "the host must be a host name or address"),
        ({"project": "g/p", "host": "user@app.dataops.live"}, "the host must be a host name or address"),
        ({"project": "g/p", "host": "app.dataops.live?ref=x"}, "the host must be a host name or address"),
        ({"project": "g/p", "host": "a b"}, "the host must be a host name or address"),
        ({"project": "g/p", "host": "%61pp.example"}, "the host must be a host name or address"),
        ({"project": "g/p", "host": "h.example:0"}, "port must be a number from 1 to 65535"),
        ({"project": "g/p", "host": "h.example:65536"}, "the host or port is not valid"),
        ({"project": "g/p", "host": "[::1"}, "the host or port is not valid"),
        ({"project": "g/p", "ref": ""}, "ref must be"),
    ],
)
def test_project_uri_refuses_parts_that_would_become_other_parts(kwargs: dict[str, str], refusal: str) -> None:
    with pytest.raises(DataOpsConfigError, match=re.escape(refusal)):
        assets.project_uri(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "uri"),
    [
        ({"project": "g/p", "host": "[::1]:8443"}, "dataops://[::1]:8443/g/p"),
        ({"project": "g/p", "host": "::1"}, "dataops://[::1]/g/p"),
        ({"project": "g/p", "host": "[0:0::1]:443"}, "dataops://[::1]/g/p"),
        ({"project": "g/p", "host": "127.0.0.1:8080"}, "dataops://127.0.0.1:8080/g/p"),
        ({"project": "g/p", "host": "App.Example."}, "dataops://app.example/g/p"),
        ({"project": "g/p", "host": "gr\u00fcn.example"}, "dataops://xn--grn-ioa.example/g/p"),
        ({"project": "g/p", "host": "\u212aelvin.example"}, "dataops://kelvin.example/g/p"),
        ({"project": "G/P", "ref": "feature/x"}, "dataops://app.dataops.live/g/p?ref=feature%2Fx"),
    ],
)
def test_project_uri_normalises_hosts(kwargs: dict[str, str], uri: str) -> None:
    assert assets.project_uri(**kwargs) == uri
    assert assets.sanitize_uri(urlsplit(uri)).geturl() == uri  # canonical: stable under a second pass


@pytest.mark.parametrize(
    ("uri", "canonical"),
    [
        ("dataops://[::1]:8443/g/p", "dataops://[::1]:8443/g/p"),
        ("dataops://app.dataops.live./g/p", "dataops://app.dataops.live/g/p"),
        ("dataops://gr\u00fcn.example/g/p", "dataops://xn--grn-ioa.example/g/p"),
        ("dataops://xn--grn-ioa.example/g/p", "dataops://xn--grn-ioa.example/g/p"),
        ("dataops://\u212aelvin.example/g/p", "dataops://kelvin.example/g/p"),
        ("dataops://[0:0::1]/g/p", "dataops://[::1]/g/p"),
    ],
)
def test_sanitize_uri_normalises_hosts_one_way(uri: str, canonical: str) -> None:
    assert assets.sanitize_uri(urlsplit(uri)).geturl() == canonical


@pytest.mark.parametrize(
    ("uri", "refusal"),
    [
        ("dataops://app.dataops.live:0/g/p", "port must be a number from 1 to 65535"),
        ("dataops://%61pp.example/g/p", "is not a valid host name"),
        ("dataops://a b/g/p", "is not a valid host name"),
        ("dataops://bad_\u00fc_.example/g/p", "not a valid internationalised name"),
    ],
)
def test_sanitize_uri_refuses_bad_hosts_and_port_zero(uri: str, refusal: str) -> None:
    with pytest.raises(DataOpsConfigError, match=re.escape(refusal)):
        assets.sanitize_uri(urlsplit(uri))


@pytest.mark.skipif(AIRFLOW_2, reason="Airflow 2 only warns about a URI its handler refuses")
def test_what_airflow_drops_before_the_check_is_documented_behaviour() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Airflow warns that it dropped the password
        assert Asset(uri="dataops://user:pw@app.dataops.live/g/p").uri == "dataops://app.dataops.live/g/p"
    assert Asset(uri="dataops://app.dataops.live/g/p?ref=").uri == "dataops://app.dataops.live/g/p"
    with pytest.raises(ValueError, match="user info"):
        Asset(uri="dataops://user@app.dataops.live/g/p")
    assert Asset(uri="dataops://[::1]:8443/g/p").uri == "dataops://[::1]:8443/g/p"
