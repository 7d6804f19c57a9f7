"""A running gateway for the tests: real HTTP on loopback, an injectable clock and publisher."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from typing import Any, AsyncIterator

import aiohttp

from nxthdr.core import config
from nxthdr.core.kafka import KafkaSettings
from nxthdr.core.metrics import Metrics
from nxthdr.saimiris.gateway.app import Gateway, build
from nxthdr.saimiris.gateway.prefixes import user_id, user_prefix
from nxthdr.saimiris.gateway.publisher import BrokerError, ProbePublisher

AGENT_KEY = "agent-key-for-tests"
DEV_USER = "dev-user"


class FakeClock:
    def __init__(self, start: float | None = None) -> None:
        self.now = start if start is not None else time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingPublisher(ProbePublisher):
    """The real record building (chunks, headers), with records kept in memory instead of sent."""

    def __init__(self, cfg: dict) -> None:
        k = cfg["kafka"]
        super().__init__(KafkaSettings(topic=k["topic"], message_max_bytes=k["message_max_bytes"]), Metrics("test"))
        self.sent: list[tuple[str, str, bytes, list]] = []
        self.fail = False

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def _send(self, kind: str, key: str, value: bytes, headers: list) -> None:
        if self.fail:
            raise BrokerError("broker down (test)")
        self.sent.append((kind, key, value, headers))


def gateway_config(db_url: str, **sections: dict) -> dict:
    schema = config.load_schema("saimiris-gateway")
    cfg = config.defaults(schema)
    cfg["gateway"]["address"] = "127.0.0.1:0"
    cfg["metrics"]["address"] = "127.0.0.1:0"
    cfg["database"]["url"] = db_url
    cfg["kafka"]["brokers"] = "127.0.0.1:1"  # nothing listens: submissions fail unless a publisher is injected
    cfg["kafka"]["publish_timeout_ms"] = 2000
    cfg["auth"]["agent_key"] = AGENT_KEY
    cfg["auth"]["dev_mode"] = True
    cfg["auth"]["dev_user_id"] = DEV_USER
    for section, values in sections.items():
        cfg[section].update(copy.deepcopy(values))
    config.validate(schema, cfg)
    return cfg


class Client:
    """HTTP calls to a running gateway, returning (status, json)."""

    def __init__(self, gw: Gateway, session: aiohttp.ClientSession) -> None:
        self.gw = gw
        self.session = session
        self.base = f"http://127.0.0.1:{gw.server.bound_port}"
        self.secrets: dict[str, str] = {}

    async def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                   headers: dict | None = None, params: dict | None = None) -> tuple[int, Any]:
        kw: dict = {"headers": headers or {}, "params": params}
        if raw is not None:
            kw["data"] = raw
            kw["headers"] = {"Content-Type": "application/json", **kw["headers"]}
        elif body is not None:
            kw["json"] = body
        async with self.session.request(method, self.base + path, **kw) as resp:
            text = await resp.text()
            try:
                import json

                data = json.loads(text) if text else None
            except ValueError:
                data = text
            return resp.status, data

    def agent_headers(self, agent_id: str | None = None, secret: str | None = None) -> dict:
        h = {"Authorization": f"Bearer {AGENT_KEY}"}
        s = secret if secret is not None else self.secrets.get(agent_id or "")
        if s is not None:
            h["X-Agent-Secret"] = s
        return h

    async def register(self, agent_id: str, secret: str = "s3cret") -> tuple[int, Any]:
        self.secrets.setdefault(agent_id, secret)
        return await self.call("POST", "/agent-api/agent/register", {"id": agent_id, "secret": secret},
                               headers=self.agent_headers(secret=secret))

    async def agent(self, agent_id: str, path: str, body: Any, secret: str | None = None) -> tuple[int, Any]:
        return await self.call("POST", f"/agent-api/agent/{agent_id}{path}", body,
                               headers=self.agent_headers(agent_id, secret))

    async def healthy_agent(self, agent_id: str, prefix: str = "2001:db8:100::/48") -> None:
        status, _ = await self.register(agent_id)
        assert status in (200, 201)
        status, body = await self.agent(agent_id, "/config", [{"name": "unicast", "instance_id": 1,
                                                                "src_ipv6_prefix": prefix}])
        assert status == 200, body
        status, body = await self.agent(agent_id, "/health", {"healthy": True, "message": "ok"})
        assert status == 200, body

    @staticmethod
    def source_for(sub: str, prefix: str = "2001:db8:100::/48", host: int = 1) -> str:
        import ipaddress

        mine = user_prefix(ipaddress.IPv6Network(prefix), user_id(sub))
        return str(mine.network_address + host)

    async def submit(self, targets: list[tuple[str, str]], probes: list[list], headers: dict | None = None):
        return await self.call("POST", "/api/probes", {
            "metadata": [{"id": a, "ip_address": s} for a, s in targets], "probes": probes}, headers=headers)


def probes(n: int, dst: str = "2001:4860:4860::8888") -> list[list]:
    return [[dst, 24000 + (i % 1000), 33434, 1 + i % 32, "udp"] for i in range(n)]


@contextlib.asynccontextmanager
async def running(cfg: dict, *, clock=None, recording: bool = True) -> AsyncIterator[Client]:
    gw = build(cfg, clock or time.time, publisher=RecordingPublisher(cfg) if recording else None)
    await gw.supervisor.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield Client(gw, session)
    finally:
        await gw.supervisor.stop()


def run(coro):
    return asyncio.run(coro)
