"""The emulator's clock: real time by default, or frozen until a test advances it."""

from __future__ import annotations

import functools
import threading
import time
from datetime import datetime, timezone
from typing import Literal

ClockMode = Literal["real", "manual"]


class Clock:
    """Epoch-seconds clock that tests can move forward.

    In ``real`` mode it follows ``time.time()`` plus an offset, so :meth:`advance` still works.
    In ``manual`` mode it stands still until :meth:`advance` is called, so lifecycle tests need
    no sleeping. Switching modes never moves the clock backwards; only :meth:`restart` does.

    :param mode: ``"real"`` or ``"manual"``.
    :param start: the starting time (epoch seconds); defaults to now.
    """

    def __init__(self, mode: ClockMode = "real", start: float | None = None) -> None:
        if mode not in ("real", "manual"):
            raise ValueError(f"clock mode must be 'real' or 'manual', not {mode!r}")
        self._lock = threading.Lock()
        self._start = start
        self._mode: ClockMode = mode
        self._frozen = self._offset = 0.0
        self.restart()

    def restart(self) -> None:
        """Back to the time a new clock would show: now, or the ``start`` it was given.

        For a new world (:meth:`~airflow_provider_dataops.emulator.state.EmulatorState.reset`):
        otherwise every test of a session would add its waits to the clock, and past a day ahead
        of this machine's clock a client rightly takes the server's times for broken.
        """
        with self._lock:
            self._frozen = time.time() if self._start is None else self._start
            self._offset = 0.0 if self._start is None else self._start - time.time()

    @property
    def mode(self) -> ClockMode:
        """``"real"`` or ``"manual"``."""
        return self._mode

    def now(self) -> float:
        """The current emulator time in epoch seconds."""
        if self._mode == "manual":
            return self._frozen
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward.

        :param seconds: how far; must not be negative.
        :returns: the new time.
        """
        if seconds < 0:
            raise ValueError("the clock cannot go backwards")
        with self._lock:
            if self._mode == "manual":
                self._frozen += seconds
            else:
                self._offset += seconds
            return self.now()

    def set_mode(self, mode: ClockMode) -> None:
        """Switch between ``real`` and ``manual`` without a jump in time.

        :param mode: ``"real"`` or ``"manual"``.
        """
        if mode not in ("real", "manual"):
            raise ValueError(f"clock mode must be 'real' or 'manual', not {mode!r}")
        with self._lock:
            current = self.now()
            if mode == "manual":
                self._frozen = current
            else:
                self._offset = current - time.time()
            self._mode = mode


def iso(timestamp: float | None) -> str | None:
    """Format epoch seconds the way GitLab does: ISO-8601 with milliseconds and ``Z``.

    :param timestamp: epoch seconds, or ``None``.
    :returns: e.g. ``"2026-01-31T12:00:00.123Z"``, or ``None``.
    """
    if timestamp is None:
        return None
    return _iso(timestamp)


# Remembered: a listing's page formats 300 times, mostly the same ones as the page before it.
@functools.lru_cache(maxsize=1 << 16)
def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def parse_iso(value: str) -> float:
    """Parse an ISO-8601 timestamp (``Z`` or an offset; naive means UTC) into epoch seconds.

    :param value: the timestamp text.
    :returns: epoch seconds.
    :raises ValueError: if it is not ISO-8601.
    """
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        # An unencoded "+" in a query string arrives as a space.
        moment = datetime.fromisoformat(text.replace(" ", "+"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
