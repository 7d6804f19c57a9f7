"""User submissions: validation, agents, source prefixes, quota (probes x agents), broker failure."""

from __future__ import annotations

import json

import pytest

from nxthdr.saimiris.probe import decode_probes, ip16
from tests.saimiris.gateway.helpers import DEV_USER, gateway_config, probes, run, running


def test_accepted_submission_reserves_probes_times_agents_and_builds_the_records(db_url):
    async def scenario():
        async with running(gateway_config(db_url)) as c:
            await c.healthy_agent("a1")
            await c.healthy_agent("a2", "2001:db8:200::/40")
            src1, src2 = c.source_for(DEV_USER), c.source_for(DEV_USER, "2001:db8:200::/40", 7)
            status, resp = await c.submit([("a1", src1), ("a2", src2)], probes(30))
            assert status == 200, resp
            assert resp["probes"] == 60 and resp["probes_per_agent"] == 30
            assert resp["agents"] == [{"id": "a1", "ip_address": src1}, {"id": "a2", "ip_address": src2}]
            status, me = await c.call("GET", "/api/user/me")
            assert status == 200 and me["used"] == 60 and me["limit"] == 10000 and me["remaining"] == 9940
            assert me["submission_count"] == 1 and me["sub"] == DEV_USER
            [(kind, key, value, headers)] = c.gw.publisher.sent
            assert kind == "probes" and key == resp["id"]
            assert [(h, json.loads(v)) for h, v in headers] == [
                ("a1", {"src_ip": src1, "measurement_id": resp["id"], "end_of_measurement": True}),
                ("a2", {"src_ip": src2, "measurement_id": resp["id"], "end_of_measurement": True})]
            decoded = decode_probes(value)
            assert len(decoded) == 30 and decoded[0].dst_addr == ip16("2001:4860:4860::8888")
            assert (decoded[5].src_port, decoded[5].dst_port, decoded[5].ttl, decoded[5].protocol) == \
                (24005, 33434, 6, "udp")

    run(scenario())


def test_large_measurements_are_split_and_only_the_last_record_ends_it(db_url):
    async def scenario():
        cfg = gateway_config(db_url, kafka={"message_max_bytes": 2048})
        async with running(cfg) as c:
            await c.healthy_agent("a1")
            status, resp = await c.submit([("a1", c.source_for(DEV_USER))], probes(500))
            assert status == 200
            sent = c.gw.publisher.sent
            assert len(sent) > 5 and all(len(v) <= 2048 for _, _, v, _ in sent)
            ends = [json.loads(h[0][1])["end_of_measurement"] for _, _, _, h in sent]
            assert ends == [False] * (len(sent) - 1) + [True]
            assert sum(len(decode_probes(v)) for _, _, v, _ in sent) == 500
            assert {k for _, k, _, _ in sent} == {resp["id"]}

    run(scenario())


BAD = [
    (b"{", "invalid JSON"),
    (b"\xff\xfe", "invalid JSON"),
    (b"[]", "request body: must be a JSON object"),
    (b'{"metadata": [], "probes": [["2001:db8::1", 1, 2, 3, "udp"]]}', "metadata: must list at least one agent"),
    (b'{"metadata": {}, "probes": []}', "metadata: must be an array, got an object"),
    (b'{"metadata": [{"id": "a1"}], "probes": []}', "metadata[0].ip_address: missing"),
    (b'{"metadata": [{"id": "a1", "ip_address": "SRC", "port": 1}], "probes": []}', "metadata[0].port: unknown field"),
    (b'{"metadata": [{"id": "a1", "ip_address": "SRC"}], "probes": [], "extra": 1}', "extra: unknown field"),
    (b'{"metadata": [{"id": "a1", "ip_address": "SRC"}]}', "probes: missing"),
    (b'{"metadata": [{"id": "a1", "ip_address": "SRC"}], "probes": []}', "probes: must contain at least one probe"),
    (b'{"metadata": [{"id": "a1", "ip_address": "192.0.2.1"}], "probes": [["2001:db8::1", 1, 2, 3, "udp"]]}',
     "metadata[0].ip_address: IPv4 address"),
    (b'{"metadata": [{"id": 7, "ip_address": "SRC"}], "probes": []}', "metadata[0].id: must be a string"),
    (b'{"metadata": [{"id": "a1", "ip_address": "SRC"}, {"id": "a1", "ip_address": "SRC"}], "probes": []}',
     "metadata[1].id: agent \"a1\" is listed twice"),
]
BAD_PROBES = [
    (["2001:db8::1", 1, 2, 3], "Probe at index 1: expected [dst_addr, src_port, dst_port, ttl, protocol]"),
    ({"dst": "2001:db8::1"}, "Probe at index 1: expected"),
    (["8.8.8.8", 1, 2, 3, "udp"], "Probe at index 1: dst_addr: IPv4 address 8.8.8.8 is not supported"),
    (["::ffff:8.8.8.8", 1, 2, 3, "udp"], "Probe at index 1: dst_addr: IPv4-mapped address"),
    (["::ffff:808:808", 1, 2, 3, "icmpv6"], "Probe at index 1: dst_addr: IPv4-mapped address"),
    (["::8.8.8.8", 1, 2, 3, "udp"], "Probe at index 1: dst_addr: IPv4-compatible address"),
    (["ff02::1", 1, 2, 3, "udp"], "not a unicast address"),
    (["::1", 1, 2, 3, "udp"], "not a unicast address"),
    (["fe80::1", 1, 2, 3, "udp"], "not a unicast address"),
    (["nope", 1, 2, 3, "udp"], "Probe at index 1: dst_addr: not an IP address"),
    ([1, 1, 2, 3, "udp"], "Probe at index 1: dst_addr must be a string"),
    (["2001:db8::1", 70000, 2, 3, "udp"], "Probe at index 1: src_port must be an integer in 0..65535, got 70000"),
    (["2001:db8::1", True, 2, 3, "udp"], "Probe at index 1: src_port must be an integer"),
    (["2001:db8::1", 1, "2", 3, "udp"], "Probe at index 1: dst_port must be an integer"),
    (["2001:db8::1", 1, 2, 0, "udp"], "Probe at index 1: ttl must be an integer in 1..255, got 0"),
    (["2001:db8::1", 1, 2, 3.0, "udp"], "Probe at index 1: ttl must be an integer"),
    (["2001:db8::1", 1, 2, 3, "icmp"], "Probe at index 1: protocol must be \"udp\" or \"icmpv6\", got \"icmp\""),
    (["2001:db8::1", 1, 2, 3, "tcp"], "Probe at index 1: protocol"),
    (["2001:db8::1", 1, 2, 3, None], "Probe at index 1: protocol must be a string"),
]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_bad_submissions_get_precise_400s(db_url):
    async def scenario():
        async with running(gateway_config(db_url)) as c:
            await c.healthy_agent("a1")
            src = c.source_for(DEV_USER)
            for raw, expected in BAD:
                status, resp = await c.call("POST", "/api/probes", raw=raw.replace(b"SRC", src.encode()),
                                            headers={"Content-Type": "application/json"})
                assert status == 400 and expected in resp["error"], (raw, resp)
            for bad, expected in BAD_PROBES:
                status, resp = await c.submit([("a1", src)], [probes(1)[0], bad])
                assert status == 400 and expected in resp["error"], (bad, resp)
            # Protocol names are case-insensitive; a valid ICMPv6 probe passes.
            status, resp = await c.submit([("a1", src)], [["2001:db8::1", 1, 0, 3, "ICMPv6"]])
            assert status == 200, resp
            assert (await c.call("GET", "/api/user/me"))[1]["used"] == 1
            text = c.gw.metrics.exposition().decode()
            assert 'saimiris_gateway_rejected_probes_total{reason="invalid"}' in text
            assert 'saimiris_gateway_http_requests_total{method="POST",route="/api/probes",status="400"}' in text
            assert 'saimiris_gateway_http_requests_total{method="POST",route="/api/probes",status="200"} 1.0' in text

    run(scenario())


def test_agents_must_be_known_and_healthy_and_sources_inside_the_users_prefix(db_url):
    async def scenario():
        async with running(gateway_config(db_url)) as c:
            await c.healthy_agent("a1")
            await c.register("sick")
            await c.agent("sick", "/config", [{"src_ipv6_prefix": "2001:db8:300::/48"}])
            await c.agent("sick", "/health", {"healthy": False})
            await c.healthy_agent("v4only", "2001:db8:400::/100")  # too long for a /+32
            src = c.source_for(DEV_USER)
            for agent, expected in (("ghost", "metadata[0].id: agent \"ghost\" is unknown or not healthy"),
                                    ("sick", "metadata[0].id: agent \"sick\" is unknown or not healthy")):
                status, resp = await c.submit([(agent, src)], probes(1))
                assert status == 400 and expected in resp["error"]
            status, prefixes = await c.call("GET", "/api/user/prefixes")
            mine = prefixes["agents"][0]["prefixes"][0]["user_prefix"]
            assert prefixes["agents"][0]["agent_id"] == "a1" and mine.endswith("/80")
            assert mine == c.source_for(DEV_USER, host=0) + "/80"
            outside = ["2001:db8:100::1", "2001:db8:999::1", c.source_for("someone-else")]
            for s in outside:
                status, resp = await c.submit([("a1", s)], probes(1))
                assert status == 403 and f"{s} is outside your prefixes on agent \"a1\" ({mine})" in resp["error"]
            status, resp = await c.submit([("v4only", "2001:db8:400::1")], probes(1))
            assert status == 403 and "no IPv6 prefix" in resp["error"]
            # Last address of the /80 is still inside.
            import ipaddress

            last = str(ipaddress.IPv6Network(mine)[-1])
            assert (await c.submit([("a1", last)], probes(1)))[0] == 200
            assert (await c.call("GET", "/api/user/me"))[1]["used"] == 1

    run(scenario())


def test_daily_limit_counts_probes_times_agents(db_url):
    async def scenario():
        async with running(gateway_config(db_url, limits={"daily_probe_limit": 100})) as c:
            await c.healthy_agent("a1")
            await c.healthy_agent("a2", "2001:db8:200::/48")
            targets = [("a1", c.source_for(DEV_USER)), ("a2", c.source_for(DEV_USER, "2001:db8:200::/48"))]
            assert (await c.submit(targets, probes(40)))[0] == 200  # 80
            status, resp = await c.submit(targets, probes(20))  # 80 + 40 > 100
            assert status == 429 and "80 used today, 40 requested, limit 100" in resp["error"]
            status, resp = await c.submit(targets[:1], probes(21))  # 80 + 21 > 100
            assert status == 429
            assert (await c.submit(targets, probes(10)))[0] == 200  # exactly 100
            assert (await c.submit(targets[:1], probes(1)))[0] == 429
            status, me = await c.call("GET", "/api/user/me")
            assert (me["used"], me["remaining"], me["submission_count"]) == (100, 0, 2)
            assert len(c.gw.publisher.sent) == 2  # refused submissions publish nothing
            text = c.gw.metrics.exposition().decode()
            assert 'saimiris_gateway_rejected_probes_total{reason="quota"} 42.0' in text

    run(scenario())


def test_broker_failure_is_a_500_and_nothing_is_counted(db_url):
    async def scenario():
        async with running(gateway_config(db_url)) as c:
            await c.healthy_agent("a1")
            c.gw.publisher.fail = True
            status, resp = await c.submit([("a1", c.source_for(DEV_USER))], probes(5))
            assert status == 500 and "nothing was counted" in resp["error"]
            assert (await c.call("GET", "/api/user/me"))[1]["used"] == 0
            assert (await c.call("GET", "/api/measurements"))[1] == []

    run(scenario())


def test_broker_unreachable_with_the_real_producer(db_url):
    """No injected publisher: the gateway's own producer cannot reach a broker; the API still answers."""
    async def scenario():
        async with running(gateway_config(db_url), recording=False) as c:
            await c.healthy_agent("a1")
            status, resp = await c.submit([("a1", c.source_for(DEV_USER))], probes(5))
            assert status == 500
            assert (await c.call("GET", "/api/user/me"))[1]["used"] == 0
            ok, checks = c.gw.metrics.health()
            assert not ok and not checks["kafka:saimiris-probes"]["ok"]

    run(scenario())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_oversize_bodies_and_unknown_routes(db_url):
    async def scenario():
        async with running(gateway_config(db_url, gateway={"max_body_size": 4096})) as c:
            await c.healthy_agent("a1")
            status, resp = await c.submit([("a1", c.source_for(DEV_USER))], probes(200))
            assert status == 413 and "larger than 4096 bytes" in resp["error"]
            assert (await c.call("GET", "/api/nothing"))[0] == 404
            status, resp = await c.call("DELETE", "/api/probes")
            assert status == 405 and resp["error"]
            status, resp = await c.call("GET", "/api/user/me", params={"x": "1"})
            assert status == 400 and "x: unknown query parameter" in resp["error"]
            big = {"metadata": [{"id": "a1", "ip_address": c.source_for(DEV_USER)}], "probes": [[[[[[1]]]]]] * 10}
            status, resp = await c.call("POST", "/api/probes", big)
            assert status == 400
            status, resp = await c.call("POST", "/api/probes", raw=b"[" * 3000 + b"]" * 3000)
            assert status in (400, 413)
            status, resp = await c.call("POST", "/api/probes", raw=b'{"metadata": 1' + b"1" * 3000 + b"}")
            assert status == 400

    run(scenario())


def test_per_user_limits_override_the_default(db_url):
    async def scenario():
        async with running(gateway_config(db_url, limits={"daily_probe_limit": 100})) as c:
            await c.healthy_agent("a1")
            target = [("a1", c.source_for(DEV_USER))]
            await c.gw.store.set_daily_limit(DEV_USER, 5, "trial account")
            assert (await c.call("GET", "/api/user/me"))[1]["limit"] == 5
            assert (await c.submit(target, probes(6)))[0] == 429
            assert (await c.submit(target, probes(5)))[0] == 200
            await c.gw.store.set_daily_limit(DEV_USER, 1000)
            assert (await c.submit(target, probes(500)))[0] == 200
            me = (await c.call("GET", "/api/user/me"))[1]
            assert (me["used"], me["limit"], me["remaining"]) == (505, 1000, 495)

    run(scenario())
