"""An aiohttp application as a component: start binds (port 0 picks one), stop cleans up."""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from aiohttp import web

from nxthdr.core import logs
from nxthdr.core.config import parse_address

log = logging.getLogger("nxthdr.http")


class HttpServer:
    def __init__(self, app: web.Application, address: str, *, name: str = "http",
                 on_stop: Callable[[], Awaitable[None]] | None = None) -> None:
        self.name = name
        self.app = app
        self.host, self.port = parse_address(address)
        self.on_stop = on_stop
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    async def start(self) -> None:
        if self._runner is not None:
            return
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        # "::" (or empty) means every address, IPv4 and IPv6.
        site = web.TCPSite(self._runner, None if self.host in ("", "::") else self.host, self.port,
                           reuse_address=True)
        await site.start()
        server = site._server  # aiohttp has no public accessor for the bound sockets
        if server is not None and server.sockets:
            self.bound_port = server.sockets[0].getsockname()[1]
        logs.event(log, logging.INFO, f"{self.name} listening", address=f"{self.host}:{self.bound_port}")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.on_stop is not None:
            await self.on_stop()
