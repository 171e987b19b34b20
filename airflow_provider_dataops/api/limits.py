"""Numeric arguments: finite, within documented bounds, and never a bool.

Every number a user passes is checked here before any request: operator, sensor, trigger and hook
arguments, :class:`~airflow_provider_dataops.api.retry.RetryPolicy` fields and the connection's
``timeout`` extra. NaN makes every comparison false (``timeout=nan`` would mean "no timeout"),
infinity overflows time arithmetic after the pipeline has started, and ``True`` is an ``int`` in
Python. The upper bounds are far above any useful value; they only refuse typos and overflows.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from airflow_provider_dataops.errors import DataOpsConfigError

MINUTE = 60.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR

#: Longest wait between two status reads (operator ``poll_interval``, sensor ``poke_interval``).
MAX_POLL_INTERVAL = DAY
#: Longest overall wait (operator ``timeout``, sensor ``timeout``).
MAX_WAIT = 366 * DAY
#: Longest read timeout of one HTTP request (hook ``timeout``, connection extra ``timeout``).
MAX_READ_TIMEOUT = HOUR
#: Longest retry wait or backoff (:class:`~airflow_provider_dataops.api.retry.RetryPolicy`).
MAX_RETRY_WAIT = DAY
#: Most attempts of one request (``RetryPolicy.max_attempts``).
MAX_ATTEMPTS = 100
#: Deadlines are epoch seconds; the year 3000 is far enough.
MAX_EPOCH = 32_503_680_000
#: Most log lines copied per failed job (``failure_log_lines``).
MAX_LOG_LINES = 10_000
#: Pages of one listing, and pipelines one marker search reads (one request each).
MAX_LISTING_PAGES = 100_000


def describe_seconds(seconds: float) -> str:
    """``seconds`` for a message, with its unit when it is a whole number of them: ``3600 (1 hour)``."""
    for unit, size in (("days", DAY), ("hours", HOUR), ("minutes", MINUTE)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{seconds:g} ({count} {unit[:-1] if count == 1 else unit})"
    return f"{seconds:g}"


def check_seconds(value: Any, name: str, *, maximum: float, allow_zero: bool = False) -> float:
    """A duration in seconds from a number or a :class:`~datetime.timedelta`, finite and in range.

    :param value: The argument as given.
    :param name: The argument's name, for the error message.
    :param maximum: Largest accepted value, in seconds.
    :param allow_zero: Accept 0 (for waits that may be skipped, such as backoffs).
    :raises DataOpsConfigError: for a bool, a non-number, NaN, infinity, or a value out of range.
    """
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    lowest = "0 or more" if allow_zero else "greater than 0"
    expected = f"a number of seconds (or a timedelta) {lowest} and at most {describe_seconds(maximum)}"
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise DataOpsConfigError(f"{name} must be {expected}, got {value!r}")
    if isinstance(seconds, float) and not math.isfinite(seconds):
        raise DataOpsConfigError(f"{name} must be {expected}, got {value!r} (not a finite number)")
    if seconds < 0 or (seconds == 0 and not allow_zero) or seconds > maximum:
        raise DataOpsConfigError(f"{name} must be {expected}, got {value!r}")
    return float(seconds)


def check_count(value: Any, name: str, *, minimum: int = 0, maximum: int) -> int:
    """A whole number from ``minimum`` to ``maximum`` (a bool or a float is refused).

    :raises DataOpsConfigError: naming ``name`` and the accepted range.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise DataOpsConfigError(f"{name} must be an integer from {minimum} to {maximum}, got {value!r}")
    return value


def check_epoch(value: Any, name: str) -> float:
    """A wall-clock time in epoch seconds (a deadline): a finite number, not a bool.

    :raises DataOpsConfigError: naming ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < MAX_EPOCH:
        raise DataOpsConfigError(f"{name} must be a time in epoch seconds (a finite number), got {value!r}")
    return float(value)
