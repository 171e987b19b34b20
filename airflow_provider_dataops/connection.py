"""The ``dataops`` connection: its form, and turning a connection into checked client settings.

Shared by the synchronous hook (which reads ``extra_dejson``) and the asynchronous hook (which
awaits the extra), so both apply the same rules.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_dataops.connection_form import CONN_TYPE, DEFAULT_HOST, DEFAULT_TIMEOUT
from airflow_provider_dataops.errors import DataOpsConfigError

API_PREFIX = "/api/v4"
#: Opening a connection should be quick; a long connect wait only delays the retry.
MAX_CONNECT_TIMEOUT = 10.0


_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def is_loopback(hostname: str) -> bool:
    """Whether ``hostname`` names this machine (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if hostname.lower() in _LOOPBACK_NAMES or hostname.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def api_base_url(host: str | None, port: int | None = None) -> str:
    """The API base URL (``<scheme>://<host>[:port][/prefix]/api/v4``) for a connection host.

    Accepts a host with or without scheme and with or without ``/api/v4``. Plain ``http://`` is
    allowed only for loopback hosts (a local emulator); anywhere else the token would travel in
    clear text.

    :raises DataOpsConfigError: for an unusable host.
    """
    raw = (host or "").strip() or DEFAULT_HOST
    candidate = raw if "://" in raw else f"https://{raw}"
    parts = urlsplit(candidate)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise DataOpsConfigError(f"connection host must be an http(s) URL or a host name, got {raw!r}")
    if not parts.hostname:
        raise DataOpsConfigError(f"connection host has no host name: {raw!r}")
    if parts.username or parts.password:
        raise DataOpsConfigError(
            "connection host must not contain credentials; put the access token in the password field"
        )
    if parts.query or parts.fragment:
        raise DataOpsConfigError(f"connection host must not contain a query or fragment: {raw!r}")
    if scheme == "http" and not is_loopback(parts.hostname):
        raise DataOpsConfigError(
            f"connection host {raw!r} uses plain http://, which would send the token unencrypted; "
            "use https:// (http:// is accepted only for loopback hosts such as a local emulator)"
        )
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{int(port)}"
    path = parts.path.rstrip("/")
    if path.endswith(API_PREFIX):
        path = path[: -len(API_PREFIX)]
    return urlunsplit((scheme, netloc, path + API_PREFIX, "", ""))


def _extra(extra: Mapping[str, Any], name: str) -> Any:
    """An extra field, stored plain (``timeout``) or with the form prefix (``extra__dataops__timeout``)."""
    value = extra.get(name)
    if value in (None, ""):
        value = extra.get(f"extra__{CONN_TYPE}__{name}")
    return None if value == "" else value


def _parse_timeout(value: Any) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        timeout = float(value)
    except (TypeError, ValueError):
        timeout = -1.0
    if isinstance(value, bool) or not timeout > 0:
        raise DataOpsConfigError(f"connection extra 'timeout' must be a number of seconds > 0, got {value!r}")
    return timeout


def _parse_verify(value: Any) -> bool | str:
    if value is None or isinstance(value, bool):
        return True if value is None else value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        return value  # a path to a CA bundle, as requests and httpx accept
    raise DataOpsConfigError(f"connection extra 'verify_ssl' must be true, false or a CA bundle path, got {value!r}")


def _parse_proxy(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https", "socks5", "socks5h"):
        raise DataOpsConfigError(f"connection extra 'proxy' must be a URL such as http://proxy:3128, got {value!r}")
    return value


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything the clients need from a ``dataops`` connection, validated.

    :param conn_id: The Airflow connection id.
    :param api_url: API base URL ending in ``/api/v4``.
    :param access_token: Personal, project or group access token (the connection password).
    :param trigger_token: Pipeline trigger token (extra ``trigger_token``).
    :param timeout: Read timeout in seconds.
    :param verify: TLS verification: a bool or a CA bundle path.
    :param proxy: Proxy URL, if any.
    """

    conn_id: str
    api_url: str
    access_token: str | None
    trigger_token: str | None
    timeout: float = DEFAULT_TIMEOUT
    verify: bool | str = True
    proxy: str | None = None

    def __repr__(self) -> str:
        # The dataclass repr would print the tokens.
        return f"ConnectionSettings(conn_id={self.conn_id!r}, api_url={self.api_url!r})"

    @property
    def connect_timeout(self) -> float:
        """Timeout for opening a TCP connection."""
        return min(self.timeout, MAX_CONNECT_TIMEOUT)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values that must never appear in logs or messages."""
        return tuple(token for token in (self.access_token, self.trigger_token) if token)

    @property
    def can_read(self) -> bool:
        """Whether the connection can call the API beyond the trigger endpoint."""
        return bool(self.access_token)

    @classmethod
    def from_connection(
        cls,
        conn_id: str,
        *,
        host: str | None,
        port: int | None,
        password: str | None,
        extra: Mapping[str, Any],
    ) -> ConnectionSettings:
        """Validate a connection's fields.

        :raises DataOpsConfigError: if a field is unusable or there is no token at all.
        """
        trigger_token = _extra(extra, "trigger_token")
        if trigger_token is not None and not isinstance(trigger_token, str):
            raise DataOpsConfigError("connection extra 'trigger_token' must be a string")
        access_token = (password or "").strip() or None
        trigger_token = (trigger_token or "").strip() or None
        if not access_token and not trigger_token:
            raise DataOpsConfigError(
                f"connection {conn_id!r} has no token: put an access token in the password field, "
                "or a pipeline trigger token in the 'trigger_token' extra"
            )
        return cls(
            conn_id=conn_id,
            api_url=api_base_url(host, port),
            access_token=access_token,
            trigger_token=trigger_token,
            timeout=_parse_timeout(_extra(extra, "timeout")),
            verify=_parse_verify(_extra(extra, "verify_ssl")),
            proxy=_parse_proxy(_extra(extra, "proxy")),
        )
