"""The machine interface scenarios are written against.

A subset of the NixOS test driver's `Machine` (same names, parameters and
return types, so a driver machine satisfies it structurally), implemented here
by NetnsMachine. Scenarios use nothing else of a machine.
"""

from __future__ import annotations

import time
from typing import Callable, Protocol, TypeVar

T = TypeVar("T")


class Machine(Protocol):
    name: str

    def execute(self, command: str, check_return: bool = True, check_output: bool = True,
                timeout: int | None = 900) -> tuple[int, str]:
        """Run a shell command; (exit status, stdout)."""
        ...

    def succeed(self, *commands: str, timeout: int | None = None) -> str:
        """Run commands, fail unless each exits 0; their stdout, concatenated."""
        ...

    def fail(self, *commands: str, timeout: int | None = None) -> str:
        """Run commands, fail if one exits 0."""
        ...

    def wait_until_succeeds(self, command: str, timeout: int = 900) -> str:
        """Retry a command until it exits 0; its stdout."""
        ...

    def wait_for_unit(self, unit: str, user: str | None = None, timeout: int = 900) -> None:
        """Wait until a service is running (fail at once if it died)."""
        ...

    def wait_for_open_port(self, port: int, addr: str = "localhost", timeout: int = 900) -> None:
        """Wait until something accepts TCP connections on addr:port."""
        ...


class ScenarioTimeout(AssertionError):
    """A scenario condition still false at its deadline."""


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.5,
             details: Callable[[], str] | None = None) -> T:
    """Poll a Python-side condition (the driver's own retry is only for shell commands)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f"\n{details()}" if details is not None else ""
            raise ScenarioTimeout(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(interval)
