"""GitLab-shaped API errors, raised anywhere and rendered as JSON by the app."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error response in one of GitLab's shapes (see the reference, section 2).

    :param status: the HTTP status code.
    :param body: the JSON body, e.g. ``{"message": "404 Project Not Found"}``.
    """

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def message(status: int, text: Any) -> ApiError:
    """``{"message": text}``: GitLab's shape for 401/403/404 and model validation errors.

    :param status: the HTTP status code.
    :param text: a string, list or dict.
    """
    return ApiError(status, {"message": text})


def param_error(text: str) -> ApiError:
    """``{"error": text}`` with 400: Grape's shape for missing or invalid parameters.

    :param text: e.g. ``"ref is missing"``.
    """
    return ApiError(400, {"error": text})


def unauthorized() -> ApiError:
    """401 ``{"message": "401 Unauthorized"}``."""
    return message(401, "401 Unauthorized")


def not_found(what: str | None = None) -> ApiError:
    """404 ``{"message": "404 <What> Not Found"}`` (or ``"404 Not Found"``).

    :param what: e.g. ``"Project"``; ``None`` for the generic message.
    """
    return message(404, f"404 {what} Not Found" if what else "404 Not Found")


def forbidden() -> ApiError:
    """403 ``{"message": "403 Forbidden"}``."""
    return message(403, "403 Forbidden")
