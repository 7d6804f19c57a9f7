"""The gateway's HTTP API (aiohttp): agent, public and user routes.

Every error is JSON `{"error": "<what and why>"}` with the status of the
failure; the middleware turns anything unexpected into a logged 500, so no
request can take the gateway down. Agent calls need `Authorization: Bearer
<agent key>`, and after registration `X-Agent-Secret: <secret>`; user calls
need `Authorization: Bearer <OIDC access token>` (or nothing, in dev mode).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any, Awaitable, Callable

from aiohttp import web

from nxthdr.core import logs
from nxthdr.core.metrics import Metrics
from nxthdr.saimiris.gateway import validation as v
from nxthdr.saimiris.gateway.agents import (
    Agent,
    AgentConflict,
    AgentNotFound,
    AgentRegistry,
    BadAgentSecret,
)
from nxthdr.saimiris.gateway.auth import AgentKey, AuthUnavailable, TokenVerifier, Unauthorized
from nxthdr.saimiris.gateway.db import DatabaseUnavailable
from nxthdr.saimiris.gateway.prefixes import user_id, user_prefixes
from nxthdr.saimiris.gateway.publisher import BrokerError, ProbePublisher
from nxthdr.saimiris.gateway.store import (
    SORTS,
    STATUSES,
    AlreadyFinal,
    ListFilter,
    NotFound,
    QuotaExceeded,
    Store,
    UserIdCollision,
)

log = logging.getLogger("nxthdr.saimiris.gateway.api")

SECRET_HEADER = "X-Agent-Secret"


# A slow or stalled sender may hold a request (and its buffer) this long, no longer.
BODY_TIMEOUT = 10.0


class ClientAborted(Exception):
    """The client went away before its request body arrived."""


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def _name(key: str) -> str:
    return key if key.isidentifier() and len(key) <= 40 else v.show(key)


def error(status: int, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


class GatewayApi:
    def __init__(self, *, registry: AgentRegistry, store: Store, publisher: ProbePublisher, agent_key: AgentKey,
                 verifier: TokenVerifier | None, dev_user: str | None, daily_limit: int, enforce_prefix: bool,
                 max_probes: int, metrics: Metrics, clock: Callable[[], float] = time.time) -> None:
        if verifier is None and dev_user is None:
            raise ValueError("user authentication needs a token verifier or a dev-mode user")
        self.registry = registry
        self.store = store
        self.publisher = publisher
        self.agent_key = agent_key
        self.verifier = verifier
        self.dev_user = dev_user
        self.daily_limit = daily_limit
        self.enforce_prefix = enforce_prefix
        self.max_probes = max_probes
        self.clock = clock
        self._known_users: set[str] = set()
        self.max_body_size = 0
        self._errors = logs.RateLimited(log)
        self._cancel_locks: dict[str, asyncio.Lock] = {}
        self.body_timeout = BODY_TIMEOUT
        self.aborts = metrics.counter("http_client_aborts_total", "Requests the client abandoned before its body "
                                      "arrived (not server errors), by route", ("route",))
        self.requests = metrics.counter("http_requests_total", "HTTP requests, by method, route and status",
                                        ("method", "route", "status"))
        self.rejected = metrics.counter("rejected_probes_total", "Probes of refused submissions, by reason",
                                        ("reason",))
        self.submitted = metrics.counter("probes_submitted_total", "Probes accepted (probes x agents)")
        self.measurements = metrics.counter("measurements_total", "Measurements, by event", ("event",))
        metrics.callback_gauge("agents", "Registered agents, by health", ("state",), self._agent_gauge)

    def _agent_gauge(self):
        agents = self.registry.all()
        healthy = sum(1 for a in agents if self.registry.is_healthy(a))
        return [(("healthy",), healthy), (("unhealthy",), len(agents) - healthy)]

    # -- application -----------------------------------------------------------------------

    def app(self, max_body_size: int, openapi: dict | None = None) -> web.Application:
        self.max_body_size = max_body_size
        app = web.Application(client_max_size=max_body_size, middlewares=[self._middleware])
        r = app.router
        r.add_post("/agent-api/agent/register", self.register)
        r.add_post("/agent-api/agent/{id}/config", self.agent_config)
        r.add_post("/agent-api/agent/{id}/health", self.agent_health)
        r.add_post("/agent-api/agent/{id}/measurement/{mid}/status", self.agent_report)
        r.add_get("/api/agents", self.list_agents)
        r.add_get("/api/agent/{id}", self.get_agent)
        r.add_get("/api/agent/{id}/config", self.get_agent_config)
        r.add_get("/api/agent/{id}/health", self.get_agent_health)
        r.add_get("/api/user/me", self.me)
        r.add_get("/api/user/prefixes", self.prefixes)
        r.add_post("/api/probes", self.submit)
        r.add_get("/api/measurements", self.list_measurements)
        r.add_get("/api/measurement/{mid}/status", self.measurement_status)
        r.add_post("/api/measurement/{mid}/cancel", self.cancel)
        if openapi is not None:
            async def serve_openapi(request: web.Request) -> web.Response:
                return web.json_response(openapi)

            r.add_get("/openapi.json", serve_openapi)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        info = request.match_info
        route = info.route.resource.canonical if info.route.resource is not None else "unmatched"
        try:
            if any("\0" in key or "\0" in value for key, value in request.query.items()):
                raise ApiError(400, "query parameters must not contain NUL characters")
            response = await handler(request)
        except ApiError as e:
            response = error(e.status, e.message, e.headers)
        except ClientAborted:
            self.aborts.labels(route).inc()
            return error(400, "client aborted")  # nobody reads it; not counted as a request status
        except DatabaseUnavailable:
            self._errors.event("database", logging.WARNING, "database unavailable", route=route)
            response = error(503, "the database is unavailable; retry later", {"Retry-After": "5"})
        except web.HTTPRequestEntityTooLarge:
            response = error(413, f"request body larger than {self.max_body_size} bytes")
        except web.HTTPException as e:
            if e.status < 400:
                raise
            message = {404: "no such route", 405: f"method {request.method} not allowed here"}.get(e.status, e.reason)
            headers = {"Allow": e.headers["Allow"]} if "Allow" in e.headers else None
            response = error(e.status, message, headers)
        except Exception as e:
            self._errors.event(route, logging.ERROR, "request failed", route=route, error=repr(e))
            log.debug("request failed", exc_info=True)
            response = error(500, "internal error")
        self.requests.labels(request.method, route, str(response.status)).inc()
        return response

    # -- helpers ---------------------------------------------------------------------------

    async def _body(self, request: web.Request) -> Any:
        if request.content_type != "application/json":
            raise ApiError(415, f"request body: expected Content-Type application/json, got {request.content_type}")
        try:
            raw = await asyncio.wait_for(request.read(), self.body_timeout)
        except asyncio.TimeoutError:
            raise ApiError(408, f"request body not received within {self.body_timeout:g} s") from None
        except ConnectionResetError:
            raise ClientAborted() from None
        if not raw:
            raise ApiError(400, "request body: missing (expected JSON)")
        try:
            return v.parse_json(raw)
        except v.BadRequest as e:
            raise ApiError(400, str(e)) from None

    @staticmethod
    def _no_query(request: web.Request) -> None:
        if request.query:
            raise ApiError(400, f"{_name(next(iter(request.query)))}: unknown query parameter (none expected)")

    def _agent(self, request: web.Request) -> Agent:
        try:
            self.agent_key.check(request.headers.get("Authorization"))
        except Unauthorized as e:
            raise ApiError(401, str(e), {"WWW-Authenticate": "Bearer"}) from None
        try:
            return self.registry.authenticate(request.match_info["id"], request.headers.get(SECRET_HEADER))
        except AgentNotFound as e:
            raise ApiError(404, str(e)) from None
        except BadAgentSecret as e:
            raise ApiError(401, str(e)) from None

    async def _user(self, request: web.Request) -> str:
        if self.verifier is None:
            return self.dev_user
        try:
            return await self.verifier.verify(request.headers.get("Authorization"))
        except Unauthorized as e:
            raise ApiError(401, str(e), {"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
        except AuthUnavailable as e:
            self._errors.event("jwks", logging.ERROR, "cannot verify user tokens", error=str(e))
            raise ApiError(503, "cannot verify the token now: the identity provider's keys are unavailable") from None

    async def _user_id(self, sub: str) -> int:
        uid = user_id(sub)
        if sub not in self._known_users:
            try:
                await self.store.ensure_user(sub, uid, self._now_ms())
            except UserIdCollision:
                raise ApiError(403, "your user id collides with another user's; contact the operators") from None
            if len(self._known_users) > 100000:  # a cache, not a registry: bound it
                self._known_users.clear()
            self._known_users.add(sub)
        return uid

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _day(self) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(self.clock()))

    @staticmethod
    def _mid(request: web.Request) -> str:
        text = request.match_info["mid"]
        try:
            return str(uuid.UUID(text))
        except ValueError:
            raise ApiError(400, f"measurement id: not a UUID: {v.show(text)}") from None

    def _public(self, agent: Agent) -> dict:
        out = agent.public(self.registry.is_healthy(agent))
        out["registered_at"] = v.iso(out["registered_at"] * 1000)
        out["last_seen"] = v.iso(out["last_seen"] * 1000)
        return out

    @staticmethod
    def _measurement_json(m: dict) -> dict:
        out = dict(m)
        for key in ("started_at", "last_updated", "cancelled_at"):
            out[key] = v.iso(out[key])
        for a in out.get("agents", ()):
            a["updated_at"] = v.iso(a["updated_at"])
        return out

    # -- agent API -------------------------------------------------------------------------

    async def register(self, request: web.Request) -> web.Response:
        try:
            self.agent_key.check(request.headers.get("Authorization"))
        except Unauthorized as e:
            raise ApiError(401, str(e), {"WWW-Authenticate": "Bearer"}) from None
        body = await self._body(request)
        try:
            v.check_object(body, "", {"id": "string", "secret": "string"})
            agent_id = v.check_id(body["id"], "id")
            if not body["secret"] or len(body["secret"]) > 1024:
                raise v.BadRequest("secret: must be 1..1024 characters")
        except v.BadRequest as e:
            raise ApiError(400, str(e)) from None
        try:
            created = self.registry.register(agent_id, body["secret"])
        except AgentConflict as e:
            raise ApiError(409, str(e)) from None
        if created:
            logs.event(log, logging.INFO, "agent registered", agent=agent_id)
        return web.json_response({"id": agent_id, "registered": created}, status=201 if created else 200)

    async def agent_config(self, request: web.Request) -> web.Response:
        agent = self._agent(request)
        try:
            config = v.parse_instance_configs(await self._body(request))
        except v.BadRequest as e:
            raise ApiError(400, str(e)) from None
        self.registry.set_config(agent, config)
        return web.json_response({"id": agent.id, "instances": len(config)})

    async def agent_health(self, request: web.Request) -> web.Response:
        agent = self._agent(request)
        try:
            health = v.parse_health(await self._body(request))
        except v.BadRequest as e:
            raise ApiError(400, str(e)) from None
        self.registry.set_health(agent, health)
        return web.json_response({"id": agent.id, "healthy": health["healthy"]})

    async def agent_report(self, request: web.Request) -> web.Response:
        agent = self._agent(request)
        mid = self._mid(request)
        body = await self._body(request)
        try:
            v.check_object(body, "", {"sent_probes": "integer", "is_complete": "boolean"})
            if not 0 <= body["sent_probes"] < 2**62:
                raise v.BadRequest(f"sent_probes: must be a non-negative integer, got {v.show(body['sent_probes'])}")
        except v.BadRequest as e:
            raise ApiError(400, str(e)) from None
        try:
            row = await self.store.report(agent.id, mid, body["sent_probes"], body["is_complete"], self._now_ms())
        except NotFound as e:
            raise ApiError(404, str(e)) from None
        return web.json_response(row)

    # -- public API ------------------------------------------------------------------------

    async def list_agents(self, request: web.Request) -> web.Response:
        self._no_query(request)
        return web.json_response([self._public(a) for a in self.registry.healthy()])

    def _find(self, request: web.Request) -> Agent:
        agent = self.registry.get(request.match_info["id"])
        if agent is None:
            raise ApiError(404, f"agent {v.show(request.match_info['id'])} not found")
        return agent

    async def get_agent(self, request: web.Request) -> web.Response:
        self._no_query(request)
        return web.json_response(self._public(self._find(request)))

    async def get_agent_config(self, request: web.Request) -> web.Response:
        self._no_query(request)
        agent = self._find(request)
        if agent.config is None:
            raise ApiError(404, f"agent {v.show(agent.id)} has not sent its configuration")
        return web.json_response(agent.config)

    async def get_agent_health(self, request: web.Request) -> web.Response:
        self._no_query(request)
        agent = self._find(request)
        if agent.health is None:
            raise ApiError(404, f"agent {v.show(agent.id)} has not reported its health")
        return web.json_response(agent.health)

    # -- user API --------------------------------------------------------------------------

    async def me(self, request: web.Request) -> web.Response:
        sub = await self._user(request)
        self._no_query(request)
        uid = await self._user_id(sub)
        day = self._day()
        used = await self.store.usage(sub, day)
        limit = await self.store.daily_limit(sub, self.daily_limit)
        return web.json_response({
            "sub": sub, "user_id": uid, "day": day, "used": used, "limit": limit,
            "remaining": max(limit - used, 0),
            "submission_count": await self.store.measurements_today(sub, day),
        })

    async def prefixes(self, request: web.Request) -> web.Response:
        sub = await self._user(request)
        self._no_query(request)
        uid = await self._user_id(sub)
        agents = []
        for agent in self.registry.all():
            pairs = user_prefixes(agent.ipv6_prefixes, uid)
            if pairs:
                agents.append({"agent_id": agent.id, "prefixes": [
                    {"agent_prefix": str(a), "user_prefix": str(u)} for a, u in pairs]})
        return web.json_response({"user_id": uid, "agents": agents})

    async def submit(self, request: web.Request) -> web.Response:
        sub = await self._user(request)
        self._no_query(request)
        body = await self._body(request)
        n_raw = len(body.get("probes") or []) if isinstance(body, dict) and isinstance(body.get("probes"), list) else 0
        try:
            submission = v.parse_submission(body, self.max_probes)
        except v.BadRequest as e:
            self.rejected.labels("invalid").inc(n_raw)
            raise ApiError(400, str(e)) from None
        n = len(submission.probes)
        uid = await self._user_id(sub)
        for i, target in enumerate(submission.targets):
            agent = self.registry.get(target.agent_id)
            if agent is None or not self.registry.is_healthy(agent):
                self.rejected.labels("agent").inc(n)
                raise ApiError(400, f"metadata[{i}].id: agent {v.show(target.agent_id)} is unknown or not healthy")
            if self.enforce_prefix:
                allowed = [u for _, u in user_prefixes(agent.ipv6_prefixes, uid)]
                if not any(target.src_ip in u for u in allowed):
                    self.rejected.labels("source").inc(n)
                    mine = ", ".join(map(str, allowed)) or "none: the agent announces no IPv6 prefix"
                    raise ApiError(403, f"metadata[{i}].ip_address: {target.src_ip} is outside your prefixes on "
                                        f"agent {v.show(target.agent_id)} ({mine})")
        targets = [(t.agent_id, str(t.src_ip)) for t in submission.targets]
        mid = str(uuid.uuid4())
        try:
            limit = await self.store.daily_limit(sub, self.daily_limit)
            await self.store.create_measurement(mid, sub, self._day(), self._now_ms(), n, targets, limit)
        except QuotaExceeded as e:
            self.rejected.labels("quota").inc(n)
            raise ApiError(429, str(e)) from None
        try:
            records = await self.publisher.publish_measurement(mid, submission.probes, targets)
        except BrokerError as e:
            self.rejected.labels("broker").inc(n)
            await self.store.discard_measurement(mid)
            self._errors.event("broker", logging.ERROR, "measurement not published", measurement=mid, error=str(e))
            raise ApiError(500, "the probes could not be handed to the agents (Kafka unavailable); "
                                "nothing was counted, try again") from None
        self.submitted.inc(n * len(targets))
        self.measurements.labels("created").inc()
        logs.event(log, logging.INFO, "measurement submitted", measurement=mid, probes=n, agents=len(targets),
                   records=records)
        return web.json_response({"id": mid, "probes": n * len(targets), "probes_per_agent": n,
                                  "agents": [{"id": a, "ip_address": s} for a, s in targets]})

    async def list_measurements(self, request: web.Request) -> web.Response:
        sub = await self._user(request)
        q = request.query
        allowed = {"limit", "status", "since", "until", "agent", "sort", "reverse"}
        for key in q:
            if key not in allowed:
                raise ApiError(400, f"{_name(key)}: unknown query parameter (expected {', '.join(sorted(allowed))})")
        for key in allowed:
            if len(q.getall(key, [])) > 1:
                raise ApiError(400, f"{key}: given more than once")
        try:
            limit = 20
            if "limit" in q:
                text = q["limit"]
                if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 100:
                    raise v.BadRequest(f"limit: expected an integer in 1..100, got {v.show(text)}")
                limit = int(text)
            statuses = tuple(s.strip() for s in q.get("status", "").split(",") if s.strip())
            for s in statuses:
                if s not in STATUSES:
                    raise v.BadRequest(f"status: {v.show(s)} is not one of {', '.join(STATUSES)}")
            sort = q.get("sort", "updated")
            if sort not in SORTS:
                raise v.BadRequest(f"sort: expected {' or '.join(SORTS)}, got {v.show(sort)}")
            f = ListFilter(statuses=statuses,
                           since_ms=v.parse_time(q["since"], "since") if "since" in q else None,
                           until_ms=v.parse_time(q["until"], "until") if "until" in q else None,
                           agent=q.get("agent") or None, sort=sort,
                           reverse=v.parse_bool(q["reverse"], "reverse") if "reverse" in q else False, limit=limit)
        except v.BadRequest as e:
            raise ApiError(400, str(e)) from None
        rows = await self.store.list_measurements(sub, f)
        return web.json_response([self._measurement_json(m) for m in rows])

    async def measurement_status(self, request: web.Request) -> web.Response:
        sub = await self._user(request)
        self._no_query(request)
        mid = self._mid(request)
        try:
            m = await self.store.measurement(mid, sub)
        except NotFound as e:
            raise ApiError(404, str(e)) from None
        return web.json_response(self._measurement_json(m))

    async def cancel(self, request: web.Request) -> web.Response:
        sub = await self._user(request)
        self._no_query(request)
        mid = self._mid(request)
        # Racing cancels of one measurement: one announces, the others then find it final (409).
        lock = self._cancel_locks.setdefault(mid, asyncio.Lock())
        try:
            async with lock:
                return await self._cancel_locked(mid, sub)
        finally:
            if not lock.locked() and self._cancel_locks.get(mid) is lock:
                del self._cancel_locks[mid]

    async def _cancel_locked(self, mid: str, sub: str) -> web.Response:
        try:
            targets = await self.store.cancellable_targets(mid, sub)
        except NotFound as e:
            raise ApiError(404, str(e)) from None
        except AlreadyFinal as e:
            raise ApiError(409, str(e)) from None
        # Tell the agents first: if the broker is away the measurement stays as it was and the user can retry.
        try:
            await self.publisher.announce_cancel(mid, targets)
        except BrokerError as e:
            self._errors.event("broker", logging.ERROR, "cancellation not published", measurement=mid, error=str(e))
            raise ApiError(500, "the cancellation could not be announced to the agents (Kafka unavailable); "
                                "the measurement is unchanged, try again") from None
        try:
            cancelled = await self.store.cancel(mid, sub, self._now_ms())
        except NotFound as e:
            raise ApiError(404, str(e)) from None
        except AlreadyFinal as e:  # finished between the announcement and now
            raise ApiError(409, str(e)) from None
        self.measurements.labels("cancelled").inc()
        logs.event(log, logging.INFO, "measurement cancelled", measurement=mid, agents=cancelled)
        m = await self.store.measurement(mid, sub)
        return web.json_response({**self._measurement_json(m), "agents_cancelled": cancelled})
