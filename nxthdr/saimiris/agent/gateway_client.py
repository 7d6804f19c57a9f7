"""The agent's side of the gateway's agent API: registration, configuration, health, progress.

Every `interval` seconds: post the instance configuration and the health (on
404 the gateway does not know us, after its restart or our expiry: register,
then post again). Progress reports are queued per measurement (only the latest
cumulative count is kept) and sent by their own task as soon as possible, so a
slow gateway never slows probing. Nothing here raises into the agent: failures
are logged (rate-limited), counted, and retried on the next cycle.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

import aiohttp

from nxthdr.core import logs
from nxthdr.core.metrics import Metrics
from nxthdr.saimiris.agent.config import GatewaySettings

log = logging.getLogger("nxthdr.saimiris.agent.gateway")


class GatewayError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


class GatewayClient:
    name = "gateway-client"

    def __init__(self, settings: GatewaySettings, agent_id: str, instance_configs: Callable[[], list[dict]],
                 health: Callable[[], tuple[bool, str]], metrics: Metrics, interval: float = 30.0) -> None:
        self.settings = settings
        self.agent_id = agent_id
        self.instance_configs = instance_configs
        self.health = health
        self.interval = interval
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task] = []
        self._reports: dict[str, tuple[int, bool]] = {}
        self._report_wakeup = asyncio.Event()
        self._errors = logs.RateLimited(log)
        self.registered = False
        self.last_ok: float | None = None
        self.last_error = ""
        self.requests = metrics.fast_counter("gateway_requests_total", "Gateway API calls, by call and outcome",
                                             ("call", "status"))
        metrics.callback_gauge("gateway_reports_pending", "Progress reports waiting to be sent", (),
                               lambda: [((), float(len(self._reports)))])

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.timeout))
            self._tasks = [asyncio.create_task(self._cycle_loop(), name="gateway-cycle"),
                           asyncio.create_task(self._report_loop(), name="gateway-reports")]

    async def stop(self) -> None:
        if self._session is None:
            return
        # Last progress reports first: they settle the users' quotas.
        if self._reports:
            try:
                await asyncio.wait_for(self._send_reports(), self.settings.timeout)
            except Exception:
                pass
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._session.close()
        self._session = None

    # -- called by the agent --------------------------------------------------------------------

    def report(self, mid: str, sent: int, complete: bool) -> None:
        old = self._reports.get(mid)
        if old is not None:
            sent, complete = max(sent, old[0]), complete or old[1]
        self._reports[mid] = (sent, complete)
        self._report_wakeup.set()

    # -- HTTP -----------------------------------------------------------------------------------

    async def _call(self, call: str, path: str, body, auth_secret: bool = True) -> dict:
        headers = {"Authorization": f"Bearer {self.settings.agent_key}"}
        if auth_secret:
            headers["X-Agent-Secret"] = self.settings.agent_secret
        try:
            async with self._session.post(self.settings.url + path, json=body, headers=headers) as resp:
                try:
                    doc = await resp.json(content_type=None)
                except Exception:
                    doc = {}
                if resp.status >= 400:
                    self.requests.inc((call, str(resp.status)))
                    message = doc.get("error") if isinstance(doc, dict) else None
                    raise GatewayError(resp.status, message or resp.reason or "")
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            self.requests.inc((call, "error"))
            raise GatewayError(0, str(e) or type(e).__name__) from None
        self.requests.inc((call, str(resp.status)))
        return doc if isinstance(doc, dict) else {}

    async def register(self) -> None:
        await self._call("register", "/agent-api/agent/register",
                         {"id": self.agent_id, "secret": self.settings.agent_secret}, auth_secret=False)
        if not self.registered:
            logs.event(log, logging.INFO, "registered with the gateway", gateway=self.settings.url)
        self.registered = True

    async def _agent_call(self, call: str, path: str, body) -> dict:
        """An agent call; registers and retries once when the gateway does not know us (404)."""
        try:
            return await self._call(call, f"/agent-api/agent/{self.agent_id}{path}", body)
        except GatewayError as e:
            if e.status != 404 or "not registered" not in str(e):
                raise
        self.registered = False
        await self.register()
        return await self._call(call, f"/agent-api/agent/{self.agent_id}{path}", body)

    async def cycle(self) -> None:
        """One registration/config/health round (public for tests)."""
        await self._agent_call("config", "/config", self.instance_configs())
        healthy, message = self.health()
        await self._agent_call("health", "/health", {"healthy": healthy, "last_check": _iso(time.time()),
                                                     "message": message[:4096]})
        self.last_ok = time.time()

    async def _cycle_loop(self) -> None:
        while True:
            try:
                await self.cycle()
                self.last_error = ""
            except GatewayError as e:
                self.last_error = str(e)
                self._errors.event("cycle", logging.WARNING, "gateway update failed", gateway=self.settings.url,
                                   error=str(e))
            except Exception as e:  # never let the loop die silently
                self.last_error = repr(e)
                log.exception("gateway update failed")
            await asyncio.sleep(self.interval)

    async def _send_reports(self) -> None:
        while self._reports:
            mid, (sent, complete) = next(iter(self._reports.items()))
            try:
                await self._agent_call("status", f"/measurement/{mid}/status",
                                       {"sent_probes": sent, "is_complete": complete})
            except GatewayError as e:
                if e.status in (400, 404, 409):  # unknown measurement (e.g. sent straight to Kafka): drop it
                    if self._reports.get(mid) == (sent, complete):
                        del self._reports[mid]
                    self._errors.event(("status", e.status), logging.INFO, "progress report refused",
                                       measurement=mid, error=str(e))
                    continue
                raise
            if self._reports.get(mid) == (sent, complete):
                del self._reports[mid]
            else:  # updated meanwhile: move to the back so others get their turn
                self._reports[mid] = self._reports.pop(mid)

    async def _report_loop(self) -> None:
        while True:
            await self._report_wakeup.wait()
            self._report_wakeup.clear()
            try:
                await self._send_reports()
            except GatewayError as e:
                self._errors.event("status", logging.WARNING, "progress report failed, will retry",
                                   gateway=self.settings.url, error=str(e))
                await asyncio.sleep(min(self.interval, 5.0))
                self._report_wakeup.set()
            except Exception:
                log.exception("progress reporting failed")
                await asyncio.sleep(1.0)
                self._report_wakeup.set()
