"""Token buckets: burst, then the sustained rate, with the wait reported."""

from __future__ import annotations

from streamer.ratelimit import FailureThrottle, RateLimiter, retry_after_header


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_rate_per_key() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=2.0, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a")
    assert abs(wait - 0.5) < 1e-9 and retry_after_header(wait) == "1"
    assert limiter.take("b") == 0.0  # another key has its own bucket
    clock.now = 0.5
    assert limiter.take("a") == 0.0 and limiter.take("a") > 0
    clock.now = 100.0  # refills only up to the burst
    assert [limiter.take("a") for _ in range(4)][-1] > 0


def test_disabled_and_bounded() -> None:
    assert RateLimiter(0, 1).take("x") == 0.0
    limiter = RateLimiter(1.0, 1, clock=Clock(), max_keys=2)
    for key in "abc":
        limiter.take(key)
    assert limiter.take("a") == 0.0  # "a" was forgotten (oldest), so it starts full again


def test_failed_keys_per_address_within_a_window() -> None:
    clock = Clock()
    throttle = FailureThrottle(max_failures=3, window_s=60.0, clock=clock)
    for at in (0.0, 10.0, 20.0):
        assert throttle.wait_s("1.2.3.4") == 0.0
        clock.now = at
        throttle.record("1.2.3.4")
    clock.now = 30.0
    assert throttle.wait_s("1.2.3.4") == 30.0  # until the first failure (at 0 s) leaves the window
    assert throttle.wait_s("5.6.7.8") == 0.0  # another address is not held back
    clock.now = 60.0
    assert throttle.wait_s("1.2.3.4") == 0.0  # one failure left the window: one more try
    throttle.record("1.2.3.4")
    assert throttle.wait_s("1.2.3.4") == 10.0  # now until the one at 10 s leaves


def test_failure_throttle_disabled_and_bounded() -> None:
    off = FailureThrottle(0, 60.0)
    for _ in range(100):
        off.record("a")
    assert off.wait_s("a") == 0.0
    throttle = FailureThrottle(1, 60.0, clock=Clock(), max_addresses=2)
    for address in "abc":
        throttle.record(address)
    assert throttle.wait_s("a") == 0.0 and throttle.wait_s("c") == 60.0  # "a" was forgotten (oldest)
