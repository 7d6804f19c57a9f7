"""Polling with a deadline, so tests never hang on a router that does not come up."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """Raised when a condition is still false at the deadline (an AssertionError so pytest shows it plainly)."""


def wait_until(
    condition: Callable[[], T],
    timeout: float,
    what: str,
    interval: float = 0.1,
    details: Callable[[], str] | None = None,
) -> T:
    """Call `condition` until it returns a truthy value, which is returned.

    On timeout the message names `what` and appends `details()` (e.g. router logs),
    because "timed out" alone says nothing about why a router stayed silent.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f"\n{details()}" if details is not None else ""
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(interval)
