"""How a watcher that never gives up waits and logs after errors.

An error that retrying may fix (a 5xx, 429 or lost connection: the hook's retry policy already
backed off for it) waits one poll interval, so the watch resumes as soon as the server does.
Any other error in a row doubles the wait (from the poll interval up to :data:`MAX_BACKOFF`). The first
error of a kind is logged (ERROR when retrying cannot fix it, such as a project that is gone or
hidden; WARNING otherwise); the same error again is logged only as a reminder, at most every
:data:`REMIND_EVERY` seconds, so a watcher left pointing at a missing project does not fill the log.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from airflow_provider_dataops.api.retry import is_retryable

#: Longest wait between two attempts after errors in a row, in seconds.
MAX_BACKOFF = 600.0
#: Seconds between two log lines about the same unresolved error.
REMIND_EVERY = 3600.0


def monotonic() -> float:
    """Seconds of a clock that never goes back (a function so tests can move it)."""
    return time.monotonic()


class ErrorBackoff:
    """Waits and log lines for one watcher's errors.

    :param interval: The first wait (the watcher's poll interval).
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        #: Errors in a row.
        self.failures = 0
        self._last_text: str | None = None
        self._logged_at = 0.0

    def failed(self, logger: Any, what: str, error: BaseException, text: str) -> float:
        """Note an error and log it if due; returns the seconds to wait before trying again.

        :param logger: The watcher's logger (standard or Airflow's structured one).
        :param what: What failed (``Reading pipelines of demo/p``).
        :param text: The error as it may be logged (already free of secrets).
        """
        self.failures += 1
        transient = is_retryable(error)
        delay = self.interval if transient else min(MAX_BACKOFF, self.interval * 2.0 ** (self.failures - 1))
        now = monotonic()
        if text != self._last_text or now - self._logged_at >= REMIND_EVERY:
            level = logging.WARNING if transient else logging.ERROR
            again = "" if text != self._last_text else f" (still, after {self.failures} attempts)"
            logger.log(level, "%s failed%s: %s; trying again in %g s.", what, again, text, delay)
            self._last_text, self._logged_at = text, now
        return delay

    def succeeded(self) -> None:
        """Forget the errors: the next one starts over from the interval and is logged."""
        self.failures, self._last_text = 0, None
