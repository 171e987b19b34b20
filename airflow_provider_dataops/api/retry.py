"""The one retry policy shared by the synchronous hook and the asynchronous trigger.

Both transports turn each failed attempt into a :class:`~airflow_provider_dataops.errors.DataOpsError`
first; this module then decides, from that error alone, whether to try again and how long to wait.

* Reads (and writes the caller declares idempotent) retry on 429, 500, 502, 503, 504, 520-530,
  connection errors and read timeouts.
* A write is retried only when the server provably did not act on it: a 429, or a connection
  that failed before the request was sent. Any other failure of a write becomes
  :class:`~airflow_provider_dataops.errors.DataOpsRequestMaybeAppliedError`.
* The wait honours ``Retry-After`` (seconds or HTTP-date), then ``RateLimit-Reset`` (epoch
  seconds), then ``RateLimit-ResetTime`` (HTTP-date), else capped exponential backoff with jitter.
* Attempts and the total time spent waiting are both bounded; the defaults cover GitLab's
  60-second throttle windows.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, fields
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from airflow_provider_dataops.api.limits import MAX_ATTEMPTS, MAX_RETRY_WAIT, check_count, check_seconds
from airflow_provider_dataops.api.timestamps import http_date, plausible_date
from airflow_provider_dataops.errors import (
    DataOpsConfigError,
    DataOpsError,
    DataOpsMalformedResponseError,
    DataOpsRateLimitError,
    DataOpsRequestMaybeAppliedError,
    DataOpsServerError,
    DataOpsTransportError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Statuses worth another try for a read: throttling, and server or gateway failures
#: (520-530 are the codes CDNs such as Cloudflare use for an unreachable origin).
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504, *range(520, 531)})

# GitLab sends RateLimit-Reset as epoch seconds; a smaller number can only be a delay in seconds.
_EPOCH_THRESHOLD = 1_000_000_000
#: Shortest wait a server's throttling headers can ask for.
MIN_SERVER_WAIT = 1.0


def _parse_delay(value: str, now: float) -> float | None:
    """Seconds until ``value``, which is a number of seconds or an HTTP-date (None if neither)."""
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) else None
    try:
        return parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _wait_from_headers(headers: Mapping[str, str], now: float) -> float | None:
    if retry_after := headers.get("retry-after"):
        delay = _parse_delay(retry_after, now)
        if delay is not None:
            return delay
    if reset := headers.get("ratelimit-reset"):
        try:
            value = float(reset)
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return value - now if value >= _EPOCH_THRESHOLD else value
    if reset_time := headers.get("ratelimit-resettime"):
        return _parse_delay(reset_time, now)
    return None


def retry_after_from_headers(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asked the client to wait before the next request, or None.

    A reset time (``RateLimit-Reset``, an HTTP-date ``Retry-After``) is a time on the server's
    clock, so it is measured from the answer's ``Date`` when that is plausible: a server clock
    behind this machine's would otherwise make the client knock before the reset and be refused.
    ``Date`` counts whole seconds, so this errs by at most a second on the side of waiting.
    A wait of zero, a negative one, or a reset time already past (a proxy's stale header) becomes
    :data:`MIN_SERVER_WAIT`: an immediate retry against a throttling server would only be refused
    again.

    :param headers: Response headers (case-insensitive mapping).
    :param now: Current epoch time; defaults to the answer's ``Date``, else ``time.time()``.
    """
    delay = _wait_from_headers(headers, _server_now(headers) if now is None else now)
    return None if delay is None else max(MIN_SERVER_WAIT, delay)


def _server_now(headers: Mapping[str, str]) -> float:
    """The server's time by its ``Date`` header; this machine's when absent or more than a day ahead."""
    now = time.time()
    date = plausible_date(http_date(headers.get("date")), now)
    return now if date is None else date


def throttle_delay(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to hold the next request when the last response said the quota is used up.

    GitLab advises slowing down before a 429: when ``RateLimit-Remaining`` reaches 0, wait for
    ``RateLimit-Reset``.
    """
    if headers.get("ratelimit-remaining", "").strip() != "0":
        return None
    reset = {"ratelimit-reset": headers.get("ratelimit-reset", ""), "date": headers.get("date", "")}
    return retry_after_from_headers(reset, now)


def sleep(seconds: float) -> None:
    """Every wait of the provider (retries, polls) goes through here, so tests never sleep for real."""
    time.sleep(seconds)


async def async_sleep(seconds: float) -> None:
    """The asynchronous twin of :func:`sleep`, for the trigger's retries and polls."""
    await asyncio.sleep(seconds)


def guard_write(error: DataOpsError, *, idempotent: bool) -> DataOpsError:
    """Return the error to raise for a failed attempt, given whether repeating it is harmless.

    A non-idempotent request that failed after it may have reached the server becomes
    :class:`DataOpsRequestMaybeAppliedError`, which is never retried.
    """
    if idempotent:
        return error
    if isinstance(error, DataOpsTransportError) and error.sent:
        return DataOpsRequestMaybeAppliedError(method=error.method, path=error.path, cause=error)
    if isinstance(error, DataOpsServerError):
        return DataOpsRequestMaybeAppliedError(method=error.method, path=error.path, cause=error)
    return error


def is_retryable(error: BaseException) -> bool:
    """Whether another attempt may succeed. Writes were already filtered by :func:`guard_write`."""
    if isinstance(error, DataOpsRateLimitError | DataOpsMalformedResponseError):
        return True
    if isinstance(error, DataOpsServerError):
        return error.status in RETRYABLE_STATUSES
    return isinstance(error, DataOpsTransportError)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a failed API request.

    :param max_attempts: Attempts in total, the first included (1 disables retries).
    :param max_total_wait: Most seconds spent waiting between attempts of one request. An attempt
        whose wait would exceed it is not made, and the last error is raised instead.
    :param backoff_initial: First backoff in seconds when the server gave no wait.
    :param backoff_max: Cap on one backoff.
    :param jitter: Randomise each backoff between half and all of its value, so that many clients
        throttled together do not retry together.
    """

    max_attempts: int = 8
    max_total_wait: float = 180.0
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    jitter: bool = True

    def __post_init__(self) -> None:
        check_count(self.max_attempts, "max_attempts", minimum=1, maximum=MAX_ATTEMPTS)
        for name in ("max_total_wait", "backoff_initial", "backoff_max"):
            check_seconds(getattr(self, name), name, maximum=MAX_RETRY_WAIT, allow_zero=True)
        if not isinstance(self.jitter, bool):
            raise DataOpsConfigError(f"jitter must be True or False, got {self.jitter!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, for trigger serialisation."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RetryPolicy:
        """Inverse of :meth:`to_dict`; ``None`` gives the defaults."""
        if data is not None and not isinstance(data, Mapping):
            raise DataOpsConfigError(
                f"retry_policy must be a RetryPolicy or a mapping of its fields, got {type(data).__name__}"
            )
        values = dict(data or {})
        known = [field.name for field in fields(cls)]
        if unknown := sorted(set(values) - set(known)):
            raise DataOpsConfigError(f"retry_policy accepts {', '.join(known)}; unknown: {', '.join(unknown)}")
        return cls(**values)

    @classmethod
    def of(cls, policy: RetryPolicy | Mapping[str, Any] | None) -> RetryPolicy:
        """``policy`` itself, or the policy its :meth:`to_dict` form describes; ``None`` gives the defaults."""
        return policy if isinstance(policy, RetryPolicy) else cls.from_dict(policy)

    def backoff(self, attempt_number: int) -> float:
        """Backoff before attempt ``attempt_number + 1`` when the server named no wait."""
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** (attempt_number - 1))
        return random.uniform(ceiling / 2, ceiling) if self.jitter else ceiling

    def wait_for(self, error: BaseException | None, attempt_number: int) -> float:
        """Seconds to wait after ``error`` ended attempt ``attempt_number``."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        return self.backoff(attempt_number)

    def _tenacity_kwargs(self) -> dict[str, Any]:
        """The policy's decisions as tenacity's retry, wait, stop and before-sleep callbacks."""
        import tenacity  # here, not at import: the task modules load without the retry machinery

        def wait(state: tenacity.RetryCallState) -> float:
            return self.wait_for(state.outcome.exception() if state.outcome else None, state.attempt_number)

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number >= self.max_attempts:
                return True
            return state.idle_for + (state.upcoming_sleep or 0.0) > self.max_total_wait

        def before_sleep(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning(
                "Attempt %d of %d failed (%s); retrying in %.2fs.",
                state.attempt_number,
                self.max_attempts,
                error,
                state.upcoming_sleep,
            )

        return {
            "retry": tenacity.retry_if_exception(is_retryable),
            "wait": wait,
            "stop": stop,
            "before_sleep": before_sleep,
            "reraise": True,
        }

    def call(self, attempt: Callable[..., T], *args: Any) -> T:
        """``attempt(*args)`` until it succeeds or the policy gives up, which raises the last error.

        The first attempt runs bare: a request that succeeds at once (nearly all of them) costs no
        retry machinery. After a retryable failure tenacity takes over, counting that failure as
        its first attempt, so every decision is made in one place.
        """
        try:
            return attempt(*args)
        except BaseException as error:
            if not is_retryable(error):
                raise
            first_failure = error
        import tenacity

        replay = _Replay(first_failure)

        def again(*call_args: Any) -> T:
            replay.raise_once()
            return attempt(*call_args)

        return tenacity.Retrying(sleep=sleep, **self._tenacity_kwargs())(again, *args)

    async def call_async(self, attempt: Callable[..., Awaitable[T]], *args: Any) -> T:
        """The coroutine twin of :meth:`call`, with the same decisions, waiting with :func:`async_sleep`."""
        try:
            return await attempt(*args)
        except BaseException as error:
            if not is_retryable(error):
                raise
            first_failure = error
        import tenacity

        replay = _Replay(first_failure)

        async def again(*call_args: Any) -> T:
            replay.raise_once()
            return await attempt(*call_args)

        return await tenacity.AsyncRetrying(sleep=async_sleep, **self._tenacity_kwargs())(again, *args)


class _Replay:
    """The failure of a call's bare first attempt, handed to tenacity as the outcome of its first."""

    def __init__(self, error: BaseException) -> None:
        self._error: BaseException | None = error

    def raise_once(self) -> None:
        """Raise the first failure the first time only; later attempts run for real."""
        error, self._error = self._error, None
        if error is not None:
            raise error
