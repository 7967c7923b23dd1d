"""Token buckets: burst, then the sustained rate, with the wait reported."""

from __future__ import annotations

from streamer.ratelimit import RateLimiter, retry_after_header


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
