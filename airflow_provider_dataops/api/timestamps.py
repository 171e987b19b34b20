"""Timestamps as the DataOps.live API writes and reads them (ISO 8601, UTC, ``Z``)."""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
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


#: How far ahead of this machine's clock (plus the skew measured from the server's ``Date``
#: headers) a time from the server may be; later ones are malformed. A day covers any real clock
#: error and time zone mistake, and nothing that far ahead is ever saved or moves a bound.
MAX_AHEAD_SECONDS = 24 * 3600.0


def http_date(value: str | None) -> float | None:
    """Epoch seconds of an HTTP-date header value; None when absent or unreadable."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def wall_clock() -> float:
    """Epoch seconds by this machine's clock (a function so tests can move it)."""
    return time.time()


def plausible_date(epoch: float | None, now: float) -> float | None:
    """A ``Date`` header's time (epoch seconds) if plausible against ``now`` alone, else None.

    Plausible: finite, not before 1970, and at most :data:`MAX_AHEAD_SECONDS` after ``now``.
    """
    if epoch is None or not (math.isfinite(epoch) and 0.0 <= epoch <= now + MAX_AHEAD_SECONDS):
        return None
    return epoch


class ServerClock:
    """Which times from one server are plausible: at most :data:`MAX_AHEAD_SECONDS` past this clock.

    The skew (how far the server's clock runs ahead of this machine's) is measured from ``Date``
    headers, but only from those plausible against this machine's clock alone, so a proxy that sends
    ever later dates cannot ratchet the limit forward.
    """

    __slots__ = ("skew",)

    def __init__(self) -> None:
        #: Seconds the server's clock was seen ahead of this machine's (never negative).
        self.skew = 0.0

    def limit(self) -> float:
        """The latest plausible server time now, in epoch seconds."""
        return wall_clock() + self.skew + MAX_AHEAD_SECONDS

    def plausible(self, epoch: float) -> bool:
        """Whether a server time (epoch seconds) is plausible: finite and not too far ahead."""
        return math.isfinite(epoch) and 0.0 <= epoch <= self.limit()

    def note_date(self, epoch: float | None) -> float | None:
        """A ``Date`` header's time if plausible (measuring the skew from it), else None."""
        now = wall_clock()
        if (date := plausible_date(epoch, now)) is None:
            return None
        self.skew = max(self.skew, date - now)
        return date

    def read(self, value: Any) -> float:
        """Epoch seconds of an API timestamp from this server.

        :raises ValueError: when it is not a timestamp, or not a plausible one.
        """
        try:
            epoch = api_epoch(value)
        except (OverflowError, ValueError):
            raise ValueError("not a timestamp") from None
        if not self.plausible(epoch):
            raise ValueError("implausible: later than a day ahead of this machine's clock")
        return epoch
