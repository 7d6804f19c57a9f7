"""Agent API: registration, the shared key, the per-agent secret on every call, health and expiry."""

from __future__ import annotations

import uuid

from tests.saimiris.gateway.helpers import AGENT_KEY, FakeClock, gateway_config, run, running


def test_registration_is_idempotent_with_the_same_secret_and_409_with_another(db_url):
    async def scenario():
        async with running(gateway_config(db_url)) as c:
            assert await c.register("a1", "one") == (201, {"id": "a1", "registered": True})
            assert await c.register("a1", "one") == (200, {"id": "a1", "registered": False})
            status, body = await c.register("a1", "two")
            assert status == 409 and "another secret" in body["error"]
            # The first secret still works, the second does not.
            assert (await c.agent("a1", "/health", {"healthy": True}, secret="one"))[0] == 200
            assert (await c.agent("a1", "/health", {"healthy": True}, secret="two"))[0] == 401

    run(scenario())


def test_the_agent_key_is_required(db_url):
    async def scenario():
        async with running(gateway_config(db_url)) as c:
            body = {"id": "a1", "secret": "x"}
            for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": AGENT_KEY},
                            {"Authorization": "Basic " + AGENT_KEY}):
                status, resp = await c.call("POST", "/agent-api/agent/register", body, headers=headers)
                assert status == 401 and resp["error"], headers
            await c.register("a1", "x")
            status, _ = await c.call("POST", "/agent-api/agent/a1/health", {"healthy": True},
                                     headers={"X-Agent-Secret": "x"})
            assert status == 401

    run(scenario())


def test_the_secret_is_checked_on_every_agent_call(db_url):
    async def scenario():
        async with running(gateway_config(db_url)) as c:
            await c.healthy_agent("a1")
            mid = str(uuid.uuid4())
            calls = [("/config", [{"src_ipv6_prefix": "2001:db8::/48"}]), ("/health", {"healthy": True}),
                     (f"/measurement/{mid}/status", {"sent_probes": 1, "is_complete": False})]
            for path, body in calls:
                for secret in ("", "wrong", "S3CRET", "s3cret2"):
                    status, resp = await c.agent("a1", path, body, secret=secret)
                    assert status == 401 and "X-Agent-Secret" in resp["error"], (path, secret)
                headers = {"Authorization": f"Bearer {AGENT_KEY}"}  # no secret header at all
                status, _ = await c.call("POST", f"/agent-api/agent/a1{path}", body, headers=headers)
                assert status == 401
                # Unknown agent: 404, so the agent knows to register again.
                status, resp = await c.agent("ghost", path, body, secret="s3cret")
                assert status == 404 and "not registered" in resp["error"]
            # The right secret passes the check (the measurement itself is unknown).
            status, resp = await c.agent("a1", f"/measurement/{mid}/status", {"sent_probes": 1, "is_complete": False})
            assert status == 404 and "measurement" in resp["error"]

    run(scenario())


def test_health_expiry_with_a_fake_clock(db_url):
    clock = FakeClock()

    async def scenario():
        async with running(gateway_config(db_url), clock=clock) as c:
            await c.healthy_agent("a1")
            await c.register("a2", "other")  # registered, never healthy
            ids = lambda agents: [a["id"] for a in agents]  # noqa: E731
            status, agents = await c.call("GET", "/api/agents")
            assert status == 200 and ids(agents) == ["a1"]
            assert agents[0]["healthy"] is True and agents[0]["health"]["message"] == "ok"
            assert agents[0]["config"][0]["src_ipv6_prefix"] == "2001:db8:100::/48"
            clock.advance(599)
            assert ids((await c.call("GET", "/api/agents"))[1]) == ["a1"]
            assert (await c.call("GET", "/api/agent/a2"))[0] == 200
            clock.advance(2)
            assert (await c.call("GET", "/api/agents"))[1] == []
            for path in ("/api/agent/a1", "/api/agent/a1/config", "/api/agent/a1/health", "/api/agent/a2"):
                assert (await c.call("GET", path))[0] == 404, path
            # Evicted: agent calls get 404, and the id can be registered again (even with a new secret).
            assert (await c.agent("a1", "/health", {"healthy": True}))[0] == 404
            assert (await c.register("a1", "new-secret"))[0] == 201
            assert (await c.agent("a1", "/health", {"healthy": True}, secret="new-secret"))[0] == 200
            assert ids((await c.call("GET", "/api/agents"))[1]) == ["a1"]

    run(scenario())


def test_unhealthy_agents_are_known_but_not_listed(db_url):
    async def scenario():
        async with running(gateway_config(db_url)) as c:
            await c.register("a1")
            assert (await c.call("GET", "/api/agent/a1/config"))[0] == 404
            assert (await c.call("GET", "/api/agent/a1/health"))[0] == 404
            assert (await c.agent("a1", "/health", {"healthy": False, "message": "no route",
                                                    "last_check": "2025-01-01T00:00:00Z"}))[0] == 200
            assert (await c.call("GET", "/api/agents"))[1] == []
            status, agent = await c.call("GET", "/api/agent/a1")
            assert status == 200 and agent["healthy"] is False and "secret" not in str(agent).lower()
            status, health = await c.call("GET", "/api/agent/a1/health")
            assert health == {"healthy": False, "message": "no route", "last_check": "2025-01-01T00:00:00Z"}

    run(scenario())


def test_agent_bodies_are_validated(db_url):
    async def scenario():
        async with running(gateway_config(db_url)) as c:
            await c.register("a1")
            cases = [
                ("/health", {"healthy": "yes"}, "healthy: must be a boolean"),
                ("/health", {"healthy": True, "extra": 1}, "extra: unknown field"),
                ("/health", {}, "healthy: missing"),
                ("/health", [], "request body: must be a JSON object"),
                ("/config", {"name": "x"}, "must be a JSON array"),
                ("/config", [{"src_ipv6_prefix": "10.0.0.0/8"}], "[0].src_ipv6_prefix: wrong address family"),
                ("/config", [{}, {"instance_id": 70000}], "[1].instance_id: must be in 0..65535"),
                ("/config", [{"batch_size": True}], "[0].batch_size: must be an integer"),
                ("/config", [{"colour": "red"}], "[0].colour: unknown field"),
                (f"/measurement/{uuid.uuid4()}/status", {"sent_probes": -1, "is_complete": False}, "sent_probes"),
                (f"/measurement/{uuid.uuid4()}/status", {"sent_probes": 1.5, "is_complete": False},
                 "sent_probes: must be an integer"),
                ("/measurement/not-a-uuid/status", {"sent_probes": 1, "is_complete": False}, "not a UUID"),
            ]
            for path, body, expected in cases:
                status, resp = await c.agent("a1", path, body)
                assert status == 400 and expected in resp["error"], (path, body, resp)
            status, resp = await c.call("POST", "/agent-api/agent/a1/health", raw=b"{nope",
                                        headers=c.agent_headers("a1"))
            assert status == 400 and resp["error"].startswith("invalid JSON")
            status, resp = await c.call("POST", "/agent-api/agent/register", {"id": "", "secret": "x"},
                                        headers=c.agent_headers(secret="x"))
            assert status == 400 and resp["error"].startswith("id:")

    run(scenario())
