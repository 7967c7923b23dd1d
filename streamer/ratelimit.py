"""Per-key token buckets (`rate_per_s` sustained, `burst` at once) and, per client address,
a cap on failed API keys; either answers 429 with Retry-After."""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self._rate = rate_per_s
        self._burst = max(1, burst)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def take(self, key: str) -> float:
        """Takes one token; returns 0 when allowed, else the seconds until one is free."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        bucket = self._buckets.pop(key, None) or _Bucket(float(self._burst), now)
        bucket.tokens = min(float(self._burst), bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        self._buckets[key] = bucket  # most recently used last, so the oldest go first
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate


class FailureThrottle:
    """At most `max_failures` wrong keys per address within `window_s`: past that, the address
    waits until its oldest failure leaves the window, whatever key it sends meanwhile (so a
    guess made while throttled can tell nothing). 0 for either turns it off."""

    def __init__(self, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic,
                 max_addresses: int = 100_000) -> None:
        self._max = max_failures
        self._window_s = window_s
        self._clock = clock
        self._max_addresses = max_addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self._max > 0 and self._window_s > 0

    def record(self, address: str) -> None:
        if not self.enabled:
            return
        times = self._failures.pop(address, None) or deque(maxlen=self._max)
        times.append(self._clock())
        self._failures[address] = times  # most recent last, so the oldest go first
        while len(self._failures) > self._max_addresses:
            self._failures.popitem(last=False)

    def wait_s(self, address: str) -> float:
        """0 when the address may try a key, else the seconds until it may."""
        times = self._failures.get(address)
        if times is None:
            return 0.0
        now = self._clock()
        while times and times[0] <= now - self._window_s:
            times.popleft()
        if not times:
            del self._failures[address]
        if len(times) < self._max:
            return 0.0
        return times[0] + self._window_s - now


def retry_after_header(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))
