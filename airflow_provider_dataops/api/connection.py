"""The ``dataops`` connection: turning a connection into checked client settings.

Shared by the synchronous hook (which reads ``extra_dejson``) and the asynchronous hook (which
awaits the extra), so both apply the same rules. Everything a transport would only trip over when
sending (a port out of range, a malformed proxy, a token that cannot go into a header) is refused
here, when the connection is read, as a :class:`~airflow_provider_dataops.errors.DataOpsConfigError`
naming the connection and the field. No message ever quotes a token or a proxy password.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from airflow_provider_dataops.api.connection_type import CONN_TYPE as CONN_TYPE
from airflow_provider_dataops.api.connection_type import DEFAULT_CONN_ID as DEFAULT_CONN_ID
from airflow_provider_dataops.api.connection_type import DEFAULT_HOST as DEFAULT_HOST
from airflow_provider_dataops.api.connection_type import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from airflow_provider_dataops.api.connection_type import HOOK_NAME as HOOK_NAME
from airflow_provider_dataops.api.limits import MAX_READ_TIMEOUT, check_seconds, describe_seconds
from airflow_provider_dataops.errors import DataOpsConfigError

API_PREFIX = "/api/v4"
#: Opening a connection should be quick; a long connect wait only delays the retry.
MAX_CONNECT_TIMEOUT = 10.0
#: Proxy schemes both transports (requests and httpx) always support.
PROXY_SCHEMES = ("http", "https")
#: SOCKS proxies need an optional package in each transport: PySocks for requests, socksio for httpx.
SOCKS_SCHEMES = ("socks5", "socks5h")
SOCKS_PACKAGES = {"socks": "requests[socks]", "socksio": "httpx[socks]"}

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
# An ASCII host name: dot-separated labels of letters, digits, '-' and '_' (no empty label).
_HOST_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*\.?")
# What a token may hold: it travels in an HTTP header (access token) or a form field (trigger
# token), and GitLab tokens are printable ASCII. requests puts a control character's repr in its
# error message and httpx cannot encode a non-ASCII header, so anything else is refused up front.
_TOKEN = re.compile(r"[\x21-\x7e]+")


def is_loopback(hostname: str) -> bool:
    """Whether ``hostname`` names this machine (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if hostname.lower() in _LOOPBACK_NAMES or hostname.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def check_conn_id(value: Any, name: str = "dataops_conn_id") -> str:
    """A connection id: a non-empty string.

    :raises DataOpsConfigError: naming ``name``.
    """
    if not isinstance(value, str) or not value.strip():
        raise DataOpsConfigError(f"{name} must be the id of a 'dataops' connection (a non-empty string), got {value!r}")
    return value


def check_read_timeout(value: Any, name: str = "timeout") -> float:
    """A read timeout in seconds, greater than 0 and at most :data:`~.limits.MAX_READ_TIMEOUT`."""
    return check_seconds(value, name, maximum=MAX_READ_TIMEOUT)


def _without_userinfo(parts: SplitResult) -> str:
    """A URL as it may appear in a message: any ``user:password@`` dropped."""
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc))


def _split(url: str, field: str, expected: str) -> SplitResult:
    """``urlsplit``, with its bare ``ValueError`` (``http://[bad``) made the field's config error."""
    try:
        parts = urlsplit(url)
    except ValueError as error:
        shown = re.sub(r"//[^/@]*@", "//***@", url)  # no password, even from a URL that does not parse
        raise DataOpsConfigError(f"{field} is not a valid URL ({error}); {expected}, got {shown!r}") from None
    return parts


def _check_host_and_port(parts: SplitResult, shown: str, field: str) -> int | None:
    """Validate the host name and port of a URL the way the transports would, but before sending."""
    hostname = parts.hostname
    if not hostname:
        raise DataOpsConfigError(f"{field} has no host name: {shown!r}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise DataOpsConfigError(f"{field} has an invalid port (expected 1 to 65535): {shown!r}")
    try:
        ipaddress.ip_address(hostname)
        return port
    except ValueError:
        pass
    if hostname.isascii():
        valid = _HOST_NAME.fullmatch(hostname) is not None
    else:
        import idna

        try:
            idna.encode(hostname, uts46=True)  # what requests does with a non-ASCII host
            valid = True
        except idna.IDNAError:
            valid = False
    if not valid:
        raise DataOpsConfigError(f"{field} has an invalid host name: {shown!r}")
    return port


def api_base_url(host: str | None, port: int | None = None) -> str:
    """The API base URL (``<scheme>://<host>[:port][/prefix]/api/v4``) for a connection host.

    Accepts a host with or without scheme and with or without ``/api/v4``. Plain ``http://`` is
    allowed only for loopback hosts (a local emulator); anywhere else the token would travel in
    clear text.

    :raises DataOpsConfigError: for an unusable host or port.
    """
    # 0 is how some forms store "no port".
    if isinstance(port, bool) or not (port is None or (isinstance(port, int) and 0 <= port <= 65535)):
        raise DataOpsConfigError(f"connection port must be from 1 to 65535, got {port!r}")
    raw = (host or "").strip() or DEFAULT_HOST
    candidate = raw if "://" in raw else f"https://{raw}"
    parts = _split(candidate, "connection host", "expected an http(s) URL or a host name")
    shown = _without_userinfo(parts)
    if parts.username or parts.password:
        raise DataOpsConfigError(
            "connection host must not contain credentials; put the access token in the password field"
        )
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise DataOpsConfigError(f"connection host must be an http(s) URL or a host name, got {shown!r}")
    host_port = _check_host_and_port(parts, shown, "connection host")
    if parts.query or parts.fragment:
        raise DataOpsConfigError(f"connection host must not contain a query or fragment: {shown!r}")
    if scheme == "http" and not is_loopback(parts.hostname or ""):
        raise DataOpsConfigError(
            f"connection host {shown!r} uses plain http://, which would send the token unencrypted; "
            "use https:// (http:// is accepted only for loopback hosts such as a local emulator)"
        )
    netloc = parts.netloc
    if port and host_port is None:
        netloc = f"{netloc}:{port}"
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


def _check_extra(extra: Any, raw_extra: str | None) -> Mapping[str, Any]:
    """The extra as a mapping; an extra that is not a JSON object is an error, not "no extras"."""
    expected = 'extra must be a JSON object such as {"timeout": 30}'
    if raw_extra is not None and raw_extra.strip():
        try:
            extra = json.loads(raw_extra) if not isinstance(extra, Mapping) or not extra else extra
        except ValueError:
            # The text is not quoted: it may hold a token.
            raise DataOpsConfigError(f"{expected}, but it is not valid JSON") from None
    if not isinstance(extra, Mapping):
        raise DataOpsConfigError(f"{expected}, got a JSON {_json_kind(extra)}")
    return extra


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else type(value).__name__


def _parse_timeout(value: Any) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    number: Any = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    try:
        return check_seconds(number, "extra 'timeout'", maximum=MAX_READ_TIMEOUT)
    except DataOpsConfigError:
        raise DataOpsConfigError(
            f"extra 'timeout' must be a number of seconds greater than 0 and at most "
            f"{describe_seconds(MAX_READ_TIMEOUT)}, got {value!r}"
        ) from None


def _parse_verify(value: Any) -> bool | str:
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        path = os.path.expanduser(value.strip())
        if os.path.isfile(path) or os.path.isdir(path):
            return path  # a CA bundle file, or a directory of hashed certificates
    raise DataOpsConfigError(
        f"extra 'verify_ssl' must be true, false, or the path of an existing CA bundle file or directory, got {value!r}"
    )


def _socks_missing() -> list[str]:
    """The packages a SOCKS proxy still needs, as pip requirements (empty when both are installed)."""
    return [extra for module, extra in SOCKS_PACKAGES.items() if importlib.util.find_spec(module) is None]


def _parse_proxy(value: Any) -> str | None:
    if value is None:
        return None
    expected = "extra 'proxy' must be a URL such as http://proxy.internal:3128"
    if not isinstance(value, str):
        raise DataOpsConfigError(f"{expected}, got a {type(value).__name__}")
    value = value.strip()
    parts = _split(value, "extra 'proxy'", "expected a URL such as http://proxy.internal:3128")
    shown = _without_userinfo(parts)
    scheme = parts.scheme.lower()
    if scheme in SOCKS_SCHEMES:
        if missing := _socks_missing():
            raise DataOpsConfigError(
                f"extra 'proxy' is a SOCKS proxy ({shown!r}), which needs {' and '.join(missing)} installed; "
                "or use an http:// or https:// proxy"
            )
    elif scheme not in PROXY_SCHEMES:
        schemes = ", ".join(f"{name}://" for name in (*PROXY_SCHEMES, *SOCKS_SCHEMES))
        raise DataOpsConfigError(f"{expected} (schemes: {schemes}), got {shown!r}")
    _check_host_and_port(parts, shown, "extra 'proxy'")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise DataOpsConfigError(f"{expected}, without a path, query or fragment; got {shown!r}")
    return value


def _check_token(value: str | None, field: str) -> str | None:
    """A token stripped of surrounding whitespace (a pasted line break), or a clear refusal."""
    token = (value or "").strip() or None
    if token is None or _TOKEN.fullmatch(token):
        return token
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in token):
        kind = "a control character (such as a line break or a tab)"
    elif not token.isascii():
        kind = "a non-ASCII character"
    else:
        kind = "a space"
    raise DataOpsConfigError(
        f"the {field} contains {kind}; tokens are printable ASCII without spaces. Copy the token again"
    )


def _proxy_password(proxy: str | None) -> str | None:
    if proxy is None:
        return None
    try:
        password = urlsplit(proxy).password
    except ValueError:  # unparseable (settings built by hand): there is no password to mask in it
        return None
    return unquote(password) if password else None


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
        """The values that must never appear in logs or messages: the tokens and a proxy password."""
        candidates = (self.access_token, self.trigger_token, _proxy_password(self.proxy))
        return tuple(secret for secret in candidates if secret)

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
        extra: Any,
        raw_extra: str | None = None,
    ) -> ConnectionSettings:
        """Validate a connection's fields.

        :param extra: The decoded extra (``extra_dejson``).
        :param raw_extra: The extra as stored, when available: Airflow decodes text that is not
            JSON to an empty dict, which would silently drop every extra setting.
        :raises DataOpsConfigError: naming the connection and the field, if a field is unusable or
            there is no token at all.
        """
        try:
            return cls._from_fields(conn_id, host, port, password, extra, raw_extra)
        except DataOpsConfigError as error:
            raise DataOpsConfigError(f"connection {conn_id!r}: {error}") from None

    @classmethod
    def _from_fields(
        cls, conn_id: str, host: str | None, port: int | None, password: str | None, extra: Any, raw_extra: str | None
    ) -> ConnectionSettings:
        extras = _check_extra(extra, raw_extra)
        if password is not None and not isinstance(password, str):
            raise DataOpsConfigError("the password (access token) must be a string")
        trigger_token = _extra(extras, "trigger_token")
        if trigger_token is not None and not isinstance(trigger_token, str):
            raise DataOpsConfigError("extra 'trigger_token' must be a string")
        access_token = _check_token(password, "password (access token)")
        trigger_token = _check_token(trigger_token, "extra 'trigger_token'")
        if not access_token and not trigger_token:
            raise DataOpsConfigError(
                "no token: put an access token in the password field, "
                "or a pipeline trigger token in the 'trigger_token' extra"
            )
        return cls(
            conn_id=conn_id,
            api_url=api_base_url(host, port),
            access_token=access_token,
            trigger_token=trigger_token,
            timeout=_parse_timeout(_extra(extras, "timeout")),
            verify=_parse_verify(_extra(extras, "verify_ssl")),
            proxy=_parse_proxy(_extra(extras, "proxy")),
        )
