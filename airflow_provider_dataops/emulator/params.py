"""Request parameters as GitLab (Rack/Grape) sees them: query string, form or JSON, merged."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from airflow_provider_dataops.emulator import errors

_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
#: Rack's ``param_depth_limit``: deeper ``a[b][c]...`` names are a 400.
MAX_PARAM_DEPTH = 32
#: The JSON gem's ``max_nesting``, which Rails parses API bodies with: deeper bodies are a 400.
MAX_JSON_DEPTH = 100


async def request_params(request: Request) -> dict[str, Any]:
    """Every parameter of a request; the body's win over the query string's.

    Form bodies (url-encoded or multipart) and query strings use Rack's bracket syntax:
    ``variables[KEY]=v`` is a hash, ``scope[]=a`` an array, ``variables[0][key]=k`` or
    ``variables[][key]=k`` an array of hashes.

    :param request: the request.
    :returns: the merged parameters.
    :raises ApiError: 400 for a JSON body that is not an object or nests too deeply, and for
        bracket names deeper than Rack's limit.
    """
    params = decode_pairs(request.query_params.multi_items())
    body = await request.body()
    if not body.strip():
        return params
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        params.update(json_object(body, "The request body"))
    elif content_type == "multipart/form-data":
        form = await request.form()
        params.update(decode_pairs((key, value) for key, value in form.multi_items() if isinstance(value, str)))
    else:
        # application/x-www-form-urlencoded, which is also what curl -d sends without a content type.
        text = body.decode("utf-8", errors="replace")
        params.update(decode_pairs(parse_qsl(text, keep_blank_values=True)))
    return params


def json_object(body: bytes, subject: str) -> dict[str, Any]:
    """``body`` decoded as a JSON object; a 400 naming ``subject`` for anything else.

    :param body: the raw body.
    :param subject: what the message calls the body, e.g. ``"The request body"``.
    :raises ApiError: 400 also for a body nesting deeper than :data:`MAX_JSON_DEPTH`.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the interpreter's stack
        raise errors.param_error(f"{subject} is not valid JSON") from None
    if json_depth(data) > MAX_JSON_DEPTH:
        raise errors.param_error(f"{subject} nests deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(data, dict):
        raise errors.param_error(f"{subject} must be a JSON object")
    return data


def decode_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn flat ``name[key]=value`` pairs into nested values, as Rack does.

    :param pairs: decoded (name, value) pairs in order.
    :returns: the nested parameters.
    :raises ApiError: 400 for a name nested deeper than :data:`MAX_PARAM_DEPTH`.
    """
    result: dict[str, Any] = {}
    for raw_name, value in pairs:
        head, _, tail = raw_name.partition("[")
        keys = _BRACKETS.findall("[" + tail) if tail else []
        if not head:
            continue
        if len(keys) >= MAX_PARAM_DEPTH:
            raise errors.param_error(f"{head} is nested deeper than {MAX_PARAM_DEPTH} levels")
        _assign(result, head, keys, value)
    return {name: _as_list_if_indexed(value) for name, value in result.items()}


def _assign(container: dict[str, Any], name: str, keys: list[str], value: str) -> None:
    if not keys:
        container[name] = value
        return
    if keys[0] == "":
        items = container.get(name)
        if not isinstance(items, list):
            items = container[name] = []
        if len(keys) == 1:
            items.append(value)
            return
        # a[][k]=v: start a new hash when the last one already has k.
        if not items or not isinstance(items[-1], dict) or keys[1] in items[-1]:
            items.append({})
        _assign(items[-1], keys[1], keys[2:], value)
        return
    nested = container.get(name)
    if not isinstance(nested, dict):
        nested = container[name] = {}
    _assign(nested, keys[0], keys[1:], value)


def _as_list_if_indexed(value: Any) -> Any:
    # variables[0][key]=k arrives as {"0": {...}}: Rack and Grape treat that as an array of hashes.
    if (
        isinstance(value, dict)
        and value
        and all(key.isascii() and key.isdigit() and isinstance(item, dict) for key, item in value.items())
    ):
        # Numeric order without int(): a 5,000-digit index is valid text but past int()'s digit limit.
        return [value[key] for key in sorted(value, key=lambda key: (len(key.lstrip("0")), key.lstrip("0")))]
    return value


def json_depth(data: Any) -> int:
    """How deeply a parsed JSON value nests (a scalar is 0), without recursion.

    :param data: the parsed value.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            stack.extend((item, depth) for item in (value.values() if isinstance(value, dict) else value))
    return deepest
