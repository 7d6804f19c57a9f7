"""Agents, in memory: registration, secrets, instance configuration, health, expiry.

An agent registers with `{id, secret}`; every later agent call must carry the
same secret in the `X-Agent-Secret` header (compared in constant time; only a
SHA-256 of it is kept). An agent is *healthy* when its last health report
says so and is younger than `expiry` seconds; an agent without a health report
for `expiry` seconds (counted from registration when it never sent one) is
evicted: it must register again, possibly with a new secret. Everything is lost
on restart by design: agents re-register when they get 404.

The clock is injectable so tests can age agents without sleeping.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from dataclasses import dataclass, field
from typing import Callable


class AgentNotFound(Exception):
    pass


class AgentConflict(Exception):
    pass


class BadAgentSecret(Exception):
    pass


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


@dataclass
class Agent:
    id: str
    secret_digest: bytes
    registered_at: float
    config: list[dict] | None = None
    config_at: float | None = None
    health: dict | None = None
    health_at: float | None = None
    ipv6_prefixes: list[ipaddress.IPv6Network] = field(default_factory=list)

    @property
    def last_seen(self) -> float:
        return self.health_at if self.health_at is not None else self.registered_at

    def public(self, healthy: bool) -> dict:
        return {"id": self.id, "config": self.config, "health": self.health, "healthy": healthy,
                "registered_at": self.registered_at, "last_seen": self.last_seen}


class AgentRegistry:
    def __init__(self, expiry: float = 600.0, clock: Callable[[], float] = time.time) -> None:
        self.expiry = expiry
        self.clock = clock
        self._agents: dict[str, Agent] = {}

    def __len__(self) -> int:
        self.evict()
        return len(self._agents)

    def evict(self) -> list[str]:
        limit = self.clock() - self.expiry
        gone = [a.id for a in self._agents.values() if a.last_seen < limit]
        for agent_id in gone:
            del self._agents[agent_id]
        return gone

    def register(self, agent_id: str, secret: str) -> bool:
        """True when newly registered, False when already registered with this secret."""
        self.evict()
        digest = _digest(secret)
        existing = self._agents.get(agent_id)
        if existing is not None:
            if hmac.compare_digest(existing.secret_digest, digest):
                return False
            raise AgentConflict(f"agent {agent_id!r} is already registered with another secret")
        self._agents[agent_id] = Agent(agent_id, digest, self.clock())
        return True

    def authenticate(self, agent_id: str, secret: str | None) -> Agent:
        self.evict()
        agent = self._agents.get(agent_id)
        if agent is None:
            raise AgentNotFound(f"agent {agent_id!r} is not registered")
        if secret is None or not hmac.compare_digest(agent.secret_digest, _digest(secret)):
            raise BadAgentSecret(f"wrong or missing X-Agent-Secret for agent {agent_id!r}")
        return agent

    def set_config(self, agent: Agent, config: list[dict]) -> None:
        agent.config = config
        agent.config_at = self.clock()
        prefixes = []
        for instance in config:
            text = instance.get("src_ipv6_prefix")
            if text:
                prefixes.append(ipaddress.IPv6Network(text, strict=False))
        agent.ipv6_prefixes = prefixes

    def set_health(self, agent: Agent, health: dict) -> None:
        agent.health = health
        agent.health_at = self.clock()

    def get(self, agent_id: str) -> Agent | None:
        self.evict()
        return self._agents.get(agent_id)

    def is_healthy(self, agent: Agent) -> bool:
        return (agent.health is not None and bool(agent.health.get("healthy"))
                and agent.health_at is not None and self.clock() - agent.health_at <= self.expiry)

    def healthy(self) -> list[Agent]:
        self.evict()
        return sorted((a for a in self._agents.values() if self.is_healthy(a)), key=lambda a: a.id)

    def all(self) -> list[Agent]:
        self.evict()
        return sorted(self._agents.values(), key=lambda a: a.id)
