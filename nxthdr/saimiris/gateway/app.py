"""Wiring of the gateway's components from a validated configuration.

Start order: metrics endpoint, database (migrations applied), Kafka publisher
(connects in the background), HTTP API. Stop order is the reverse.
"""

from __future__ import annotations

import logging
import time
from typing import Callable


from nxthdr.core import logs
from nxthdr.core.component import Supervisor
from nxthdr.core.config import ConfigError, read_secret
from nxthdr.core.http import HttpServer
from nxthdr.core.kafka import KafkaSettings
from nxthdr.core.metrics import Metrics, MetricsServer
from nxthdr.saimiris.gateway.agents import AgentRegistry
from nxthdr.saimiris.gateway.api import GatewayApi
from nxthdr.saimiris.gateway.auth import AgentKey, JwksCache, TokenVerifier
from nxthdr.saimiris.gateway.db import Database, open_database
from nxthdr.saimiris.gateway.openapi import document
from nxthdr.saimiris.gateway.publisher import ProbePublisher
from nxthdr.saimiris.gateway.store import Store

log = logging.getLogger("nxthdr.saimiris.gateway")


class DatabaseComponent:
    name = "database"

    def __init__(self, db: Database) -> None:
        self.db = db
        self.version = 0

    async def start(self) -> None:
        await self.db.start()
        try:
            applied = await self.db.migrate()
            self.version = await self.db.schema_version()
        except BaseException:
            await self.db.stop()
            raise
        logs.event(log, logging.INFO, "database ready", dialect=self.db.dialect, schema_version=self.version,
                   migrations_applied=",".join(map(str, applied)) or "none")

    async def stop(self) -> None:
        await self.db.stop()


def _agent_key(auth: dict) -> AgentKey:
    key = read_secret(auth.get("agent_key"), auth.get("agent_key_file"), "auth.agent_key")
    if not key:
        raise ConfigError(["auth.agent_key_file: required (the shared key agents authenticate with)"])
    return AgentKey(key)


def check(cfg: dict) -> list[str]:
    """Problems the JSON schema cannot express (settings that depend on each other)."""
    problems = []
    auth = cfg["auth"]
    if not auth.get("agent_key") and not auth.get("agent_key_file"):
        problems.append("auth.agent_key_file: required (the shared key agents authenticate with)")
    if not auth["dev_mode"]:
        if not auth["issuer"]:
            problems.append("auth.issuer: required unless auth.dev_mode is set")
        if not auth["audience"]:
            problems.append("auth.audience: required unless auth.dev_mode is set (tokens for other APIs "
                            "must not be accepted)")
    try:
        open_database(cfg["database"]["url"])
    except ValueError as e:
        problems.append(f"database.url: {e}")
    return problems


class Gateway:
    """The gateway: components in start order, plus handles tests use."""

    def __init__(self, cfg: dict, clock: Callable[[], float] = time.time,
                 publisher: ProbePublisher | None = None) -> None:
        problems = check(cfg)
        if problems:
            raise ConfigError(problems)
        self.cfg = cfg
        self.metrics = Metrics("saimiris_gateway")
        k = cfg["kafka"]
        self.kafka_settings = KafkaSettings(
            brokers=k["brokers"], topic=k["topic"], auth_protocol=k["auth_protocol"],
            sasl_username=k["auth_sasl_username"],
            sasl_password=read_secret(k.get("auth_sasl_password"), k.get("auth_sasl_password_file"),
                                      "kafka.auth_sasl_password") or "",
            sasl_mechanism=k["auth_sasl_mechanism"], ssl_cafile=k.get("ssl_ca_file") or None,
            ssl_certfile=k.get("ssl_cert_file") or None, ssl_keyfile=k.get("ssl_key_file") or None,
            message_max_bytes=k["message_max_bytes"])
        self.publisher = publisher or ProbePublisher(self.kafka_settings, self.metrics, k["publish_timeout_ms"] / 1000)
        d = cfg["database"]
        password = read_secret(None, d.get("password_file"), "database.password")
        self.db = open_database(d["url"], password, d["pool_size"])
        self.database = DatabaseComponent(self.db)
        self.store = Store(self.db)
        lim = cfg["limits"]
        self.registry = AgentRegistry(lim["agent_expiry"], clock)
        auth = cfg["auth"]
        self.jwks: JwksCache | None = None
        verifier = None
        if auth["dev_mode"]:
            logs.event(log, logging.WARNING, "DEV MODE: user tokens are not checked, every user request acts as "
                                             "one user", user=auth["dev_user_id"])
        else:
            self.jwks = JwksCache(auth["jwks_url"], auth["issuer"], auth["jwks_refresh_interval"],
                                  auth["jwks_min_refresh"])
            verifier = TokenVerifier(self.jwks, auth["issuer"], auth["audience"], auth["algorithms"], auth["leeway"])
        self.api = GatewayApi(registry=self.registry, store=self.store, publisher=self.publisher,
                              agent_key=_agent_key(auth), verifier=verifier,
                              dev_user=auth["dev_user_id"] if auth["dev_mode"] else None,
                              daily_limit=lim["daily_probe_limit"],
                              enforce_prefix=not cfg["users"]["allow_any_source"],
                              max_probes=lim["max_probes_per_request"], metrics=self.metrics, clock=clock)
        self.app = self.api.app(cfg["gateway"]["max_body_size"], document(dev_mode=auth["dev_mode"]))
        self.server = HttpServer(self.app, cfg["gateway"]["address"], name="http-api",
                                 on_stop=self.jwks.close if self.jwks is not None else None)
        self.metrics_server = MetricsServer(self.metrics, cfg["metrics"]["address"])
        self.metrics.add_health("http-api", lambda: (self.server.bound_port is not None,
                                                     f"{len(self.registry)} agents registered"))
        self.metrics.add_health("database", lambda: (getattr(self.db, "available", True),
                                                     getattr(self.db, "last_error", "") or "reachable"))
        self.supervisor = Supervisor([self.metrics_server, self.database, self.publisher, self.server])

    async def run(self, install_signals: bool = True) -> None:
        await self.supervisor.run(install_signals)

    def stop(self) -> None:
        self.supervisor.request_stop()


def build(cfg: dict, clock: Callable[[], float] = time.time, publisher: ProbePublisher | None = None) -> Gateway:
    return Gateway(cfg, clock, publisher)
