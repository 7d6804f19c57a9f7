"""Measurement tracking from agent reports, quota reconciliation, listing filters, cancellation."""

from __future__ import annotations

import asyncio

import json
import uuid

from tests.saimiris.gateway.helpers import DEV_USER, FakeClock, gateway_config, probes, run, running

P2 = "2001:db8:200::/48"


async def two_agents(c):
    await c.healthy_agent("a1")
    await c.healthy_agent("a2", P2)
    return [("a1", c.source_for(DEV_USER)), ("a2", c.source_for(DEV_USER, P2))]


async def report(c, agent, mid, sent, complete):
    return await c.agent(agent, f"/measurement/{mid}/status", {"sent_probes": sent, "is_complete": complete})


async def used(c):
    return (await c.call("GET", "/api/user/me"))[1]["used"]


def test_status_follows_agent_reports_and_the_quota_keeps_what_was_sent(db_url):
    async def scenario():
        async with running(gateway_config(db_url)) as c:
            targets = await two_agents(c)
            status, resp = await c.submit(targets, probes(10))
            mid = resp["id"]
            assert await used(c) == 20
            status, m = await c.call("GET", f"/api/measurement/{mid}/status")
            assert status == 200 and m["status"] == "in-progress" and m["total_agents"] == 2
            assert m["total_expected_probes"] == 20 and m["total_sent_probes"] == 0 and m["charged_probes"] == 20
            assert [a["agent_id"] for a in m["agents"]] == ["a1", "a2"]
            assert m["agents"][0]["src_ip"] == targets[0][1]

            status, r = await report(c, "a1", mid, 5, False)
            assert status == 200 and r == {"agent_id": "a1", "measurement_id": mid, "expected_probes": 10,
                                           "sent_probes": 5, "is_complete": False,
                                           "measurement_status": "in-progress"}
            assert await used(c) == 20  # still reserved while running
            assert (await report(c, "a1", mid, 3, False))[1]["sent_probes"] == 5  # out of order: ignored
            assert (await report(c, "a1", mid, 8, True))[1]["measurement_status"] == "in-progress"
            assert await used(c) == 18  # a1 finished after 8 of 10 (TTL-filtered, say): 2 refunded
            status, r = await report(c, "a2", mid, 30, True)  # packets=3: counted once per probe
            assert r["measurement_status"] == "complete"
            assert await used(c) == 18
            status, m = await c.call("GET", f"/api/measurement/{mid}/status")
            assert m["status"] == "complete" and m["measurement_complete"] and not m["measurement_cancelled"]
            assert (m["completed_agents"], m["total_sent_probes"], m["charged_probes"]) == (2, 38, 18)
            # Reports about someone else's part, or unknown measurements, are refused.
            await c.healthy_agent("a3", "2001:db8:300::/48")
            assert (await report(c, "a3", mid, 1, False))[0] == 404
            assert (await report(c, "a1", str(uuid.uuid4()), 1, False))[0] == 404
            assert (await c.call("GET", f"/api/measurement/{uuid.uuid4()}/status"))[0] == 404
            assert (await c.call("GET", "/api/measurement/xyz/status"))[0] == 400

    run(scenario())


def test_cancellation_refunds_unsent_probes_and_tells_the_unfinished_agents(db_url):
    async def scenario():
        async with running(gateway_config(db_url)) as c:
            targets = await two_agents(c)
            mid = (await c.submit(targets, probes(10)))[1]["id"]
            await report(c, "a1", mid, 10, True)
            await report(c, "a2", mid, 4, False)
            status, m = await c.call("POST", f"/api/measurement/{mid}/cancel")
            assert status == 200 and m["status"] == "cancelled" and m["agents_cancelled"] == 1
            assert m["measurement_cancelled"] and m["cancelled_at"]
            assert [(a["agent_id"], a["cancelled"]) for a in m["agents"]] == [("a1", False), ("a2", True)]
            assert await used(c) == 14  # a1 10 sent + a2 4 sent
            kind, key, value, headers = c.gw.publisher.sent[-1]
            assert (kind, key, value) == ("cancel", mid, b"")
            assert [(h, json.loads(v)) for h, v in headers] == [
                ("a2", {"src_ip": targets[1][1], "measurement_id": mid, "end_of_measurement": True, "cancel": True})]
            # The agent was still sending when the cancel arrived: later reports are charged, up to expected.
            assert (await report(c, "a2", mid, 6, False))[1]["measurement_status"] == "cancelled"
            assert await used(c) == 16
            await report(c, "a2", mid, 60, True)
            assert await used(c) == 20
            status, resp = await c.call("POST", f"/api/measurement/{mid}/cancel")
            assert status == 409 and "already cancelled" in resp["error"]
            assert len([s for s in c.gw.publisher.sent if s[0] == "cancel"]) == 1
            # A complete measurement cannot be cancelled; unknown ones are 404.
            mid2 = (await c.submit(targets[:1], probes(1)))[1]["id"]
            await report(c, "a1", mid2, 1, True)
            status, resp = await c.call("POST", f"/api/measurement/{mid2}/cancel")
            assert status == 409 and "already complete" in resp["error"]
            assert (await c.call("POST", f"/api/measurement/{uuid.uuid4()}/cancel"))[0] == 404

    run(scenario())


def test_cancellation_is_not_recorded_when_the_broker_fails(db_url):
    async def scenario():
        async with running(gateway_config(db_url)) as c:
            targets = await two_agents(c)
            mid = (await c.submit(targets, probes(10)))[1]["id"]
            c.gw.publisher.fail = True
            status, resp = await c.call("POST", f"/api/measurement/{mid}/cancel")
            assert status == 500 and "unchanged" in resp["error"]
            assert (await c.call("GET", f"/api/measurement/{mid}/status"))[1]["status"] == "in-progress"
            assert await used(c) == 20
            c.gw.publisher.fail = False
            assert (await c.call("POST", f"/api/measurement/{mid}/cancel"))[0] == 200
            assert await used(c) == 0

    run(scenario())


def test_listing_filters(db_url):
    clock = FakeClock(1_750_000_000.0)  # 2025-06-15T15:06:40Z

    async def scenario():
        async with running(gateway_config(db_url), clock=clock) as c:
            targets = await two_agents(c)
            ids = []
            for i in range(5):
                await two_agents(c)  # an hour passed: the agents registered again
                ids.append((await c.submit(targets if i % 2 == 0 else targets[1:], probes(i + 1)))[1]["id"])
                clock.advance(3600)
            # 0, 2, 4 go to both agents; 1, 3 to a2 only. 1 completes, 3 is cancelled.
            await two_agents(c)
            await report(c, "a2", ids[1], 2, True)
            clock.advance(1)
            await c.call("POST", f"/api/measurement/{ids[3]}/cancel")
            clock.advance(1)
            await report(c, "a1", ids[0], 1, False)  # touches 0: most recently updated

            async def listing(**params):
                status, body = await c.call("GET", "/api/measurements", params={k: str(v) for k, v in params.items()})
                assert status == 200, body
                return [ids.index(m["measurement_id"]) for m in body]

            assert await listing() == [0, 3, 1, 4, 2]  # by last update, newest first
            assert await listing(sort="started") == [4, 3, 2, 1, 0]
            assert await listing(sort="started", reverse="true") == [0, 1, 2, 3, 4]
            assert await listing(sort="started", limit=2) == [4, 3]
            assert await listing(status="complete") == [1]
            assert await listing(status="cancelled,complete", sort="started") == [3, 1]
            assert await listing(status="in-progress", sort="started") == [4, 2, 0]
            assert await listing(agent="a1", sort="started") == [4, 2, 0]
            assert await listing(agent="nobody") == []
            assert await listing(since="2025-06-15T17:06:40Z", sort="started") == [4, 3, 2]
            assert await listing(until="2025-06-15 17:06:40", sort="started") == [1, 0]
            assert await listing(since="2025-06-15T16:00:00+00:00", until="2025-06-15T18:30:00Z",
                                 sort="started") == [3, 2, 1]
            assert await listing(since="2025-06-16") == []
            status, body = await c.call("GET", "/api/measurements", params={"limit": "1"})
            m = body[0]
            assert m["total_agents"] == 2 and m["started_at"] == "2025-06-15T15:06:40.000Z"
            for params, expected in (({"limit": "0"}, "limit"), ({"limit": "x"}, "limit"), ({"limit": "101"}, "limit"),
                                     ({"status": "done"}, "status"), ({"sort": "name"}, "sort"),
                                     ({"reverse": "maybe"}, "reverse"), ({"since": "yesterday"}, "since"),
                                     ({"until": "2025-13-01"}, "until"), ({"colour": "red"}, "colour")):
                status, resp = await c.call("GET", "/api/measurements", params=params)
                assert status == 400 and resp["error"].startswith(expected), (params, resp)

    run(scenario())


def test_usage_is_per_utc_day(db_url):
    clock = FakeClock(1_750_031_000.0)  # 2025-06-15T23:43:20Z

    async def scenario():
        async with running(gateway_config(db_url, limits={"daily_probe_limit": 10}), clock=clock) as c:
            await c.healthy_agent("a1")
            targets = [("a1", c.source_for(DEV_USER))]
            mid = (await c.submit(targets, probes(10)))[1]["id"]
            assert (await c.submit(targets, probes(1)))[0] == 429
            clock.advance(1800)  # next UTC day
            await c.healthy_agent("a1")
            status, me = await c.call("GET", "/api/user/me")
            assert me["day"] == "2025-06-16" and me["used"] == 0
            assert (await c.submit(targets, probes(10)))[0] == 200
            # A refund goes back to the day the probes were reserved on.
            await report(c, "a1", mid, 4, True)
            assert (await c.call("GET", "/api/user/me"))[1]["used"] == 10

    run(scenario())


def test_racing_cancels_publish_one_cancel_record(db_url):
    async def scenario():
        async with running(gateway_config(db_url)) as c:
            targets = await two_agents(c)
            mid = (await c.submit(targets, probes(10)))[1]["id"]
            before = [s for s in c.gw.publisher.sent if s[0] == "cancel"]
            results = await asyncio.gather(*(c.call("POST", f"/api/measurement/{mid}/cancel") for _ in range(8)))
            statuses = sorted(s for s, _ in results)
            assert statuses == [200] + [409] * 7, statuses
            cancels = [s for s in c.gw.publisher.sent if s[0] == "cancel"]
            assert len(cancels) - len(before) == 1

    run(scenario())
