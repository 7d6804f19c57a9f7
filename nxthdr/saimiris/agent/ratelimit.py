"""Pacing of one instance's packets (sans-I/O arithmetic; the clock and sleep are injected).

The sender asks after each batch; the limiter keeps a schedule (`next`, the
time the packets sent so far are due) instead of measuring each interval, so
rounding and sleep overshoot do not accumulate: a late batch is followed by
shorter waits. Idle time is no credit (the schedule never starts in the past)
and a backlog beyond `max_lag` seconds is forgiven rather than sent as a burst.

Methods (the reference's names): `sleep` sleeps, `active` busy-waits (exact,
one core), `auto` sleeps all but the last `spin` seconds then busy-waits,
`none` sends as fast as the sockets take it.
"""

from __future__ import annotations

import time
from typing import Callable


class RateLimiter:
    def __init__(self, rate: float, method: str = "auto", *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, spin: float = 0.001, max_lag: float = 0.1) -> None:
        if method not in ("auto", "active", "sleep", "none"):
            raise ValueError(f"unknown rate limiting method {method!r}")
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.method = method
        self.clock = clock
        self.sleep = sleep
        self.spin = spin
        self.max_lag = max_lag
        self.next = clock()

    def restart(self) -> None:
        """Start of a burst of work: time spent idle is not credit."""
        now = self.clock()
        if self.next < now:
            self.next = now

    def plan(self, sent: int, now: float) -> float:
        """Record `sent` more packets at time `now`; returns how long to wait (0: none)."""
        if self.method == "none":
            return 0.0
        self.next += sent / self.rate
        delta = self.next - now
        if delta < -self.max_lag:
            self.next = now - self.max_lag
        return max(delta, 0.0)

    def after(self, sent: int) -> float:
        """Called after each batch; waits as the method says. Returns the planned wait."""
        delay = self.plan(sent, self.clock())
        if delay <= 0:
            return 0.0
        if self.method == "sleep":
            self.sleep(delay)
        elif self.method == "active":
            self._spin_until(self.next)
        else:  # auto
            if delay > self.spin:
                self.sleep(delay - self.spin)
            self._spin_until(self.next)
        return delay

    def _spin_until(self, deadline: float) -> None:
        clock = self.clock
        while clock() < deadline:
            pass
