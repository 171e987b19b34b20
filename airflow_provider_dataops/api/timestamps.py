"""Timestamps as the DataOps.live API writes and reads them (ISO 8601, UTC, ``Z``)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def parse_api_time(value: Any) -> datetime | None:
    """An API timestamp (``...Z`` or an offset) as an aware datetime; None if absent or unreadable.

    A timestamp without an offset is taken as UTC, as the API writes them.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def api_epoch(value: Any) -> float:
    """Epoch seconds of an API timestamp such as ``2026-01-31T12:00:00.123Z``.

    :raises ValueError: for anything that is not one.
    """
    parsed = parse_api_time(value)
    if parsed is None:
        raise ValueError(f"not a timestamp: {value!r}")
    return parsed.timestamp()


def format_api_time(moment: datetime | float) -> str:
    """The form the API accepts in filters such as ``updated_after``: UTC, milliseconds, ``Z``.

    :param moment: An aware datetime, or epoch seconds (negative ones count as the epoch).
    """
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(max(0.0, moment), tz=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
