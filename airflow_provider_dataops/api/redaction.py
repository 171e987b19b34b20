"""The one redaction of the connection's secrets, applied to everything the provider publishes.

A broken or hostile server may echo a token in any field (``web_url``, a job's name, a log line,
an archive entry's name). Airflow's secrets masker only knows what was registered with it; these
functions need nothing but the secrets themselves
(:attr:`~airflow_provider_dataops.api.connection.ConnectionSettings.secrets`), so log lines,
exception text, XCom values, lineage, asset extras and event payloads are clean either way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_dataops.errors import MASK, redact

__all__ = ["MASK", "redact", "redact_body", "redact_value"]


def redact_value(value: Any, secrets: Iterable[str | None]) -> Any:
    """``value`` with every string in it redacted: mapping keys and values, list and tuple items.

    Other values (numbers, None, booleans) are returned as they are. Mappings come back as dicts,
    sequences as lists (tuples stay tuples), so the result is JSON-serialisable when the input was.
    A JSON value in which no secret occurs comes back as it is (the same object).

    :param value: A decoded JSON body, an XCom value, an event payload, an asset extra.
    :param secrets: The values to hide.
    """
    known = tuple(secret for secret in secrets if secret)
    if not known or not _may_hold(value, known):
        return value
    return _redact(value, known)


def redact_body(content: bytes, value: Any, secrets: Iterable[str | None]) -> Any:
    """``value``, decoded from the JSON ``content``, with every secret redacted (see :func:`redact_value`).

    Every answer of the server comes through here, so the common case is found on the raw bytes:
    a UTF-8 body with no backslash has no escape in any string, so each decoded string stands in
    it letter for letter, and a secret that is not in the bytes is in no string. Any other body
    takes :func:`redact_value`.

    :param content: The body as received.
    :param value: ``json.loads(content)``.
    :param secrets: The values to hide.
    """
    known = tuple(secret for secret in secrets if secret)
    if not known:
        return value
    # JSON in UTF-16 or UTF-32 has a NUL byte in its first four (its first character is ASCII).
    if b"\\" not in content and b"\x00" not in content[:4]:
        try:
            if not any(secret.encode() in content for secret in known):
                return value
        except UnicodeEncodeError:  # a secret no UTF-8 body can hold as it is: look properly
            pass
    return redact_value(value, known)


def _may_hold(value: Any, secrets: tuple[str, ...]) -> bool:
    """False only when no string in ``value`` holds a secret, found with one ``json.dumps``.

    Walking every string of a 100-row page in Python cost more than reading it. JSON escapes each
    character on its own, so a string that holds a secret holds the secret's escaped form once
    dumped; a match across two strings only costs the walk.
    """
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # not JSON (other types, a cycle): walk it
        return True
    return any(json.dumps(secret, ensure_ascii=False)[1:-1] in text for secret in secrets)


def _redact(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {_redact(key, secrets): _redact(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, secrets) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact(item, secrets) for item in value)
    return value
