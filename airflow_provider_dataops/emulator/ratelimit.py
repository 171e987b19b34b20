"""A per-minute fixed-window throttle, like GitLab's Rack::Attack ``throttle_*_api`` rules."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

PERIOD_SECONDS = 60


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of counting one request.

    :ivar limit: requests allowed per period.
    :ivar observed: requests seen in this period, this one included.
    :ivar remaining: requests still allowed in this period.
    :ivar reset_at: epoch seconds when the period ends.
    :ivar throttled: whether this request is over the limit.
    """

    limit: int
    observed: int
    remaining: int
    reset_at: int
    throttled: bool

    def retry_after(self, now: float) -> int:
        """Whole seconds until the period ends (at least 1).

        :param now: the current time in epoch seconds.
        """
        return max(1, math.ceil(self.reset_at - now))


class RateLimiter:
    """Counts requests per key (a token, or an IP when unauthenticated) in fixed 60-second windows.

    :param limit: requests per minute per key; ``None`` switches throttling off.
    """

    def __init__(self, limit: int | None = None) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, int]] = {}
        self.limit = limit

    @property
    def limit(self) -> int | None:
        """Requests per minute per key, or ``None`` when off."""
        return self._limit

    @limit.setter
    def limit(self, value: int | None) -> None:
        if value is not None and value < 1:
            raise ValueError("rate_limit must be a positive number of requests per minute, or None")
        self._limit = value

    def hit(self, key: str, now: float) -> RateDecision | None:
        """Count one request.

        :param key: whose budget it spends.
        :param now: the current time in epoch seconds.
        :returns: the decision, or ``None`` when throttling is off.
        """
        limit = self._limit
        if limit is None:
            return None
        window = int(now // PERIOD_SECONDS)
        with self._lock:
            counted_window, count = self._counts.get(key, (window, 0))
            count = count + 1 if counted_window == window else 1
            if len(self._counts) > 10_000:
                # Forget keys from past windows so a long run cannot grow without bound.
                self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
            self._counts[key] = (window, count)
        return RateDecision(
            limit=limit,
            observed=count,
            remaining=max(0, limit - count),
            reset_at=(window + 1) * PERIOD_SECONDS,
            throttled=count > limit,
        )

    def clear(self) -> None:
        """Forget all counts."""
        with self._lock:
            self._counts.clear()
