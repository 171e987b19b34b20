"""The synchronous hook's ``requests`` session, and what it reads from the environment once.

``requests.Session.request`` merges the environment into every request: it scans the whole
process environment for ``*_PROXY`` variables (twice, with ``NO_PROXY``) and reads the CA-bundle
variables. The hook's answer to those questions does not change while a session lives, so
:class:`HookSession` works them out once per session (proxies once per origin) and sends prepared
requests itself, with exactly the settings ``Session.request`` would have merged: the connection's
``proxy`` and ``verify_ssl`` first, then ``HTTP(S)_PROXY``/``ALL_PROXY``/``NO_PROXY`` and
``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``. A change to those variables applies to the next session
(:meth:`~airflow_provider_dataops.hooks.dataops.DataOpsHook.close`, or a new hook).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from airflow_provider_dataops.api.connection import ConnectionSettings
from airflow_provider_dataops.api.transport import TOKEN_HEADER, ApiRequest, default_headers

if TYPE_CHECKING:
    import requests

#: Connections the hook's session keeps per host. A hook shared by more threads than this makes
#: the extra threads wait for a free connection instead of opening and discarding one each.
SESSION_POOL_SIZE = 50


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """A session auth that adds nothing; setting one stops requests from reading ``~/.netrc``."""
    return request


class HookSession:
    """One ``requests.Session`` with the token, TLS, proxy and pool settings, and its environment read once.

    :param settings: The connection's checked settings.
    """

    def __init__(self, settings: ConnectionSettings) -> None:
        import requests
        from requests.adapters import HTTPAdapter

        session = requests.Session()
        session.headers.update(default_headers(settings))
        session.verify = settings.verify
        if settings.proxy:
            session.proxies = {"http": settings.proxy, "https": settings.proxy}
        # Threads beyond the pool wait for a connection (pool_block) rather than open one that
        # urllib3 would discard with "Connection pool is full".
        for prefix in ("https://", "http://"):
            session.mount(prefix, HTTPAdapter(pool_maxsize=SESSION_POOL_SIZE, pool_block=True))
        # Not ~/.netrc: the connection's token is the only credential sent, as on the async path.
        session.auth = _no_auth
        self.session = session
        #: As requests merges it: the connection's CA bundle or False win; True takes the environment's.
        self.verify: bool | str = settings.verify
        if settings.verify is True:
            self.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self._proxies: dict[tuple[str, str], dict[str, str]] = {}

    def proxies_for(self, url: str) -> dict[str, str]:
        """The proxies for ``url``'s origin: the environment's (honouring ``NO_PROXY``), the connection's winning."""
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        proxies = self._proxies.get(origin)
        if proxies is None:
            from requests.utils import get_environ_proxies

            proxies = self._proxies[origin] = {**get_environ_proxies(url), **self.session.proxies}
        return proxies

    def send(self, request: ApiRequest, *, timeout: tuple[float, float], stream: bool) -> requests.Response:
        """Send one request, following no redirect, as ``Session.request`` would with these settings.

        The request's headers go over the session's; the session's token is dropped unless they
        carry it (a redirect to another origin goes without it).
        """
        from requests import PreparedRequest
        from requests.sessions import merge_setting
        from requests.structures import CaseInsensitiveDict

        session = self.session
        merged: CaseInsensitiveDict[Any] = CaseInsensitiveDict(cast(Mapping[str, Any], session.headers))
        merged.pop(TOKEN_HEADER, None)
        merged.update(request.headers)
        prepared = PreparedRequest()
        prepared.prepare(
            method=request.method,
            url=request.url,
            headers=merged,
            data=request.data,
            json=request.json,
            params=merge_setting(request.params, session.params),
            auth=session.auth,
            cookies=session.cookies,
            hooks=session.hooks,
        )
        return session.send(
            prepared,
            timeout=timeout,
            allow_redirects=False,
            stream=stream,
            verify=self.verify,
            proxies=self.proxies_for(request.url),
            cert=session.cert,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()
