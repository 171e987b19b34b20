from __future__ import annotations

import json

import pytest

from airflow_provider_dataops.api.connection import ConnectionSettings, api_base_url, is_loopback
from airflow_provider_dataops.errors import DataOpsConfigError
from airflow_provider_dataops.hooks.dataops import DataOpsHook

from .conftest import ACCESS_TOKEN, TRIGGER_TOKEN


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (None, None, "https://app.dataops.live/api/v4"),
        ("", None, "https://app.dataops.live/api/v4"),
        ("app.dataops.live", None, "https://app.dataops.live/api/v4"),
        ("https://app.dataops.live/", None, "https://app.dataops.live/api/v4"),
        ("https://app.dataops.live/api/v4", None, "https://app.dataops.live/api/v4"),
        ("https://app.dataops.live/api/v4/", None, "https://app.dataops.live/api/v4"),
        ("gitlab.internal:8443/gitlab", None, "https://gitlab.internal:8443/gitlab/api/v4"),
        ("gitlab.internal", 8443, "https://gitlab.internal:8443/api/v4"),
        ("http://127.0.0.1:8080", None, "http://127.0.0.1:8080/api/v4"),
        ("http://localhost", 8080, "http://localhost:8080/api/v4"),
        ("http://[::1]:8080/api/v4", None, "http://[::1]:8080/api/v4"),
        ("gitlab.internal", 0, "https://gitlab.internal/api/v4"),  # 0: no port
        ("https://bücher.example", None, "https://bücher.example/api/v4"),
    ],
)
def test_api_base_url_accepts_every_host_form(host: str | None, port: int | None, expected: str) -> None:
    assert api_base_url(host, port) == expected


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ("http://app.dataops.live", "plain http://"),
        ("http://10.0.0.5:8080", "plain http://"),
        ("ftp://app.dataops.live", "http(s) URL"),
        ("https://user:pw@app.dataops.live", "must not contain credentials"),
        ("https://app.dataops.live/?x=1", "query or fragment"),
        ("https://", "no host name"),
        ("ftp://user:hunter2pw@app.dataops.live", "must not contain credentials"),
        ("https://app.dataops.live:65536", "invalid port"),
        ("https://.app.dataops.live", "invalid host name"),
        ("https://app_dataops\u00a0live", "invalid host name"),
    ],
)
def test_api_base_url_refuses_unsafe_hosts(host: str, fragment: str) -> None:
    with pytest.raises(DataOpsConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        api_base_url(host)


def test_loopback_detection() -> None:
    assert is_loopback("localhost")
    assert is_loopback("127.1.2.3")
    assert is_loopback("::1")
    assert not is_loopback("app.dataops.live")
    assert not is_loopback("10.0.0.1")


def _settings(**extra: object) -> ConnectionSettings:
    return ConnectionSettings.from_connection(
        "c", host=None, port=None, password=extra.pop("password", ACCESS_TOKEN), extra=extra
    )


def test_extras_are_parsed_and_validated() -> None:
    settings = _settings(timeout="12", verify_ssl="false", proxy="http://proxy:3128", trigger_token=TRIGGER_TOKEN)
    assert (settings.timeout, settings.connect_timeout, settings.verify) == (12.0, 10.0, False)
    assert settings.proxy == "http://proxy:3128"
    assert settings.trigger_token == TRIGGER_TOKEN
    assert _settings(verify_ssl=__file__).verify == __file__
    assert _settings(extra__dataops__timeout=7).timeout == 7.0  # the form's prefixed key
    assert _settings(timeout=3).connect_timeout == 3.0


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"timeout": "soon"}, "'timeout' must be a number"),
        ({"timeout": 0}, "'timeout' must be a number"),
        ({"verify_ssl": 3}, "'verify_ssl' must be"),
        ({"proxy": "proxy:3128"}, "'proxy' must be a URL"),
        ({"proxy": "http://[bad"}, r"^connection 'c': extra 'proxy' is not a valid URL \(Invalid IPv6 URL\)"),
        ({"proxy": "http://user:s3cret@[bad"}, r"^connection 'c': extra 'proxy' .*'http://\*\*\*@\[bad'"),
        ({"trigger_token": 5}, "'trigger_token' must be a string"),
        ({"password": None}, "^connection 'c': no token: put an access token in the password field"),
        ({"timeout": 3601}, r"at most 3600 \(1 hour\)"),
        ({"verify_ssl": "flase"}, "'verify_ssl' must be true, false, or the path of an existing CA bundle"),
    ],
)
def test_bad_extras_fail_with_the_field_named(extra: dict[str, object], fragment: str) -> None:
    with pytest.raises(DataOpsConfigError, match=fragment):
        _settings(**extra)


def test_repr_never_shows_tokens() -> None:
    settings = _settings(trigger_token=TRIGGER_TOKEN)
    assert ACCESS_TOKEN not in repr(settings)
    assert TRIGGER_TOKEN not in repr(settings)


def test_connection_from_env_uri_form(monkeypatch: pytest.MonkeyPatch) -> None:
    # The URI form: the scheme of an http host is URL-encoded into the host part.
    monkeypatch.setenv(
        "AIRFLOW_CONN_DATAOPS_URI",
        f"dataops://:{ACCESS_TOKEN}@http%3A%2F%2F127.0.0.1:8080/?trigger_token={TRIGGER_TOKEN}&timeout=9",
    )
    settings = DataOpsHook("dataops_uri").settings
    assert settings.api_url == "http://127.0.0.1:8080/api/v4"
    assert (settings.access_token, settings.trigger_token, settings.timeout) == (ACCESS_TOKEN, TRIGGER_TOKEN, 9.0)


def test_connection_from_env_json_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_DATAOPS_JSON",
        json.dumps(
            {
                "conn_type": "dataops",
                "host": "https://app.dataops.live",
                "password": ACCESS_TOKEN,
                "extra": {"trigger_token": TRIGGER_TOKEN, "verify_ssl": True},
            }
        ),
    )
    settings = DataOpsHook("dataops_json").settings
    assert settings.api_url == "https://app.dataops.live/api/v4"
    assert settings.trigger_token == TRIGGER_TOKEN


def test_hook_timeout_option_overrides_connection(conn: None) -> None:
    assert DataOpsHook(timeout=4).settings.timeout == 4.0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"dataops_conn_id": ""}, "dataops_conn_id"),
        ({"timeout": -1}, "timeout"),
        ({"retry_policy": {"max_attempts": 0}}, "max_attempts"),
        ({"retry_policy": {"max_total_wait": -5}}, "max_total_wait"),
    ],
)
def test_hook_options_are_validated(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(DataOpsConfigError, match=fragment):
        DataOpsHook(**kwargs)  # type: ignore[arg-type]


def test_messages_about_the_host_never_show_credentials() -> None:
    with pytest.raises(DataOpsConfigError) as raised:
        api_base_url("ftp://user:hunter2pw@app.dataops.live")
    assert "hunter2pw" not in str(raised.value)


def test_proxy_password_is_a_secret_to_mask() -> None:
    settings = _settings(proxy="http://user:p%40ss-word@proxy.internal:3128")
    assert "p@ss-word" in settings.secrets
    assert settings.proxy == "http://user:p%40ss-word@proxy.internal:3128"


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), (False, False), (" yes ", True), ("Off", False), (None, True)]
)
def test_verify_ssl_booleans(value: object, expected: bool) -> None:
    assert _settings(verify_ssl=value).verify is expected


def test_the_forms_timeout_bound_is_the_checked_one() -> None:
    from airflow_provider_dataops.api.limits import MAX_READ_TIMEOUT
    from airflow_provider_dataops.connection_form import CONN_FIELDS

    assert CONN_FIELDS["timeout"]["schema"]["maximum"] == MAX_READ_TIMEOUT
    assert _settings(timeout=MAX_READ_TIMEOUT).timeout == MAX_READ_TIMEOUT
