"""Components and the supervisor that starts and stops them.

A component has a constructor that does no I/O, and `start()` / `stop()` that
are safe to call twice. The supervisor starts components in the order given
(dependencies first), waits for SIGTERM/SIGINT (or an explicit stop), and stops
them in reverse order so that producers drain into sinks before the sinks close.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Protocol

from nxthdr.core import logs

log = logging.getLogger("nxthdr.supervisor")


class Component(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Supervisor:
    def __init__(self, components: list[Component], stop_timeout: float = 30.0) -> None:
        self.components = components
        self.stop_timeout = stop_timeout
        self._stop = asyncio.Event()
        self._started: list[Component] = []

    def request_stop(self) -> None:
        self._stop.set()

    async def start(self) -> None:
        for c in self.components:
            try:
                await c.start()
            except BaseException:
                await self.stop()
                raise
            self._started.append(c)

    async def stop(self) -> None:
        while self._started:
            c = self._started.pop()
            try:
                await asyncio.wait_for(c.stop(), self.stop_timeout)
            except asyncio.TimeoutError:
                logs.event(log, logging.ERROR, "component did not stop in time", component=c.name,
                           timeout_s=self.stop_timeout)
            except Exception:
                log.exception("component %s failed to stop cleanly", c.name)

    async def run(self, install_signals: bool = True) -> None:
        """Start everything, wait for a signal or request_stop(), then stop in reverse order."""
        loop = asyncio.get_running_loop()
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    loop.add_signal_handler(sig, self._on_signal, sig)
                except (NotImplementedError, RuntimeError):
                    pass
        await self.start()
        logs.event(log, logging.INFO, "started", components=",".join(c.name for c in self.components))
        try:
            await self._stop.wait()
        finally:
            logs.event(log, logging.INFO, "stopping")
            await self.stop()
            if install_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)

    def _on_signal(self, sig: int) -> None:
        logs.event(log, logging.INFO, "signal received, shutting down", signal=signal.Signals(sig).name)
        self._stop.set()
