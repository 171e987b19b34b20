"""What a fault is: which requests it matches and what it does to them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from airflow_provider_dataops.emulator.pathmatch import PathPattern

#: What a fault can do to a matching request.
ACTIONS = ("status", "latency", "drop_before", "drop_after", "drop_mid")

_FIELDS = {"action", "method", "path", "times", "status", "body", "content_type", "headers", "seconds"}


@dataclass(slots=True)
class Fault:
    """A planned misbehaviour for requests whose method and path match.

    :ivar id: assigned by the emulator.
    :ivar action: ``status``, ``latency``, ``drop_before``, ``drop_after`` or ``drop_mid``.
    :ivar method: an HTTP method, or ``*`` for any.
    :ivar path: a regular expression searched in the raw (still percent-encoded) request path, matched
        without backtracking (see :class:`~airflow_provider_dataops.emulator.pathmatch.PathPattern`).
    :ivar times: how many matching requests it applies to; ``None`` means every one.
    :ivar status: the status code to answer with (``status`` action).
    :ivar body: the response body (``status`` action); a default fits the status and content type.
    :ivar content_type: the response content type (``status`` action).
    :ivar headers: extra response headers (``status`` action), e.g. ``{"Retry-After": "2"}``.
    :ivar seconds: how long to delay the request (``latency`` action).
    :ivar hits: how many requests it has applied to so far.
    """

    id: int
    action: str
    method: str = "*"
    path: str = ".*"
    times: int | None = 1
    status: int | None = None
    body: str | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    hits: int = 0
    pattern: PathPattern = field(default_factory=lambda: PathPattern(".*"), repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any], fault_id: int) -> Fault:
        """Validate the JSON form of a fault.

        :param data: e.g. ``{"method": "POST", "path": "/pipeline$", "status": 503}``.
        :param fault_id: the id to give it.
        :returns: the fault.
        :raises ValueError: with a message naming the bad field.
        """
        unknown = set(data) - _FIELDS
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        action = data.get("action") or ("status" if "status" in data else None)
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        fault = cls(id=fault_id, action=action)
        fault.method = str(data.get("method") or "*").upper()
        fault.path = str(data.get("path") or ".*")
        try:
            fault.pattern = PathPattern(fault.path)
        except ValueError as exc:
            raise ValueError(f"path: {exc}") from None
        times = data.get("times", 1)
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 0):
            raise ValueError("times must be a non-negative integer, 0 or null meaning always")
        fault.times = times or None
        if action == "status":
            fault._read_status(data)
        if action == "latency":
            seconds = data.get("seconds")
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
                raise ValueError("a latency fault needs seconds >= 0")
            fault.seconds = float(seconds)
        return fault

    def _read_status(self, data: dict[str, Any]) -> None:
        status = data.get("status")
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            raise ValueError("a status fault needs status: an HTTP status code")
        self.status = status
        self.content_type = str(data.get("content_type") or "application/json")
        headers = data.get("headers") or {}
        if not isinstance(headers, dict):
            raise ValueError("headers must be an object of header names to values")
        self.headers = {str(name): str(value) for name, value in headers.items()}
        body = data.get("body")
        if body is not None and not isinstance(body, str):
            body = json.dumps(body)  # a convenience: accept a JSON value as the body
        self.body = body if body is not None else default_body(status, self.content_type)

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request.

        :param method: the request method.
        :param path: the raw request path.
        """
        return self.method in ("*", method) and self.pattern.search(path)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with ``id`` and ``hits``."""
        data: dict[str, Any] = {
            "id": self.id,
            "action": self.action,
            "method": self.method,
            "path": self.path,
            "times": self.times,
            "hits": self.hits,
        }
        if self.action == "status":
            data.update(status=self.status, body=self.body, content_type=self.content_type, headers=self.headers)
        if self.action == "latency":
            data["seconds"] = self.seconds
        return data


def default_body(status: int, content_type: str) -> str:
    """A body in GitLab's style for a status: JSON ``message``, or ``Retry later`` for a text 429.

    :param status: the HTTP status code.
    :param content_type: the response content type.
    """
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    if "json" in content_type:
        return json.dumps({"message": f"{status} {phrase}"})
    if status == 429:
        return "Retry later"
    if "html" in content_type:
        return f"<html><body><h1>{status} {phrase}</h1></body></html>"
    return f"{status} {phrase}"
