"""The agent as a real process in a namespace, probes through the real Kafka broker, replies from real Linux routers."""

from __future__ import annotations

import io
import ipaddress
import time
import uuid

import pytest

from nxthdr.saimiris import client
from tests.saimiris.agent.lab import (
    AGENT_V4,
    AGENT_V6,
    HOPS_V4,
    HOPS_V6,
    TARGET_V4,
    TARGET_V6,
    AgentProcess,
    Lab,
    agent_config,
    create_topics,
    wait_for,
)
from tests.support.kafka_client import consume_messages

pytestmark = pytest.mark.integration


def addr(b: bytes) -> str:
    ip = ipaddress.IPv6Address(b)
    return str(ip.ipv4_mapped or ip)


@pytest.fixture(scope="module")
def lab(netns, kafka):
    lab = Lab()
    port = int(kafka.bootstrap.rsplit(":", 1)[1])
    lab.forward(port)
    lab.in_topic = f"saimiris-probes-{uuid.uuid4().hex[:8]}"
    lab.out_topic = f"saimiris-replies-{uuid.uuid4().hex[:8]}"
    create_topics(kafka.bootstrap, lab.in_topic, lab.out_topic)
    a = agent_config("agent-a", kafka.bootstrap, lab.in_topic, lab.out_topic, [
        {"name": "unicast", "interface": lab.agent_if, "probing_rate": 2000},
        {"name": "anycast", "interface": lab.agent_if, "instance_id": 7, "integrity_check": True,
         "src_ipv4_prefix": "10.99.0.0/24", "src_ipv6_prefix": "fd00:99::/48", "probing_rate": 2000},
    ])
    b = agent_config("agent-b", kafka.bootstrap, lab.in_topic, lab.out_topic, [
        {"name": "only-prefix", "interface": lab.agent_if, "src_ipv4_prefix": "10.99.1.0/24",
         "src_ipv6_prefix": "fd00:99:1::/48", "probing_rate": 2000},
    ])
    lab.a, lab.b = AgentProcess(lab, a), AgentProcess(lab, b)
    try:
        lab.a.wait_ready()
        lab.b.wait_ready()
        yield lab
    finally:
        lab.close()


def submit(kafka, lab, targets: list[str], csv: str) -> str:
    args = ["--brokers", kafka.bootstrap, "--topic", lab.in_topic]
    for t in targets:
        args += ["--agent", t]
    out = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out):
        assert client.main(args, stdin=io.StringIO(csv)) == 0
    return out.getvalue().strip()


def replies_for(kafka, lab, sports: set[int], expected: int, timeout: float = 30.0) -> list[dict]:
    def mine(msgs):
        return [m for m in msgs if m["probeSrcPort"] in sports]

    msgs = consume_messages(kafka.bootstrap, lab.out_topic, "reply.capnp", "Reply",
                            until=lambda ms: len(mine(ms)) >= expected, timeout=timeout)
    return mine(msgs)


def traceroute_csv(target: str, proto: str, sport: int, ttls=range(1, 5)) -> str:
    return "".join(f"{target},{sport},33434,{ttl},{proto}\n" for ttl in ttls)


def check_hops(replies: list[dict], hops: list[str], target: str, proto_num: int, src: str) -> None:
    by_ttl = {}
    for r in replies:
        by_ttl.setdefault(r["probeTtl"], []).append(r)
    assert sorted(by_ttl) == [1, 2, 3, 4], sorted(by_ttl)
    now_ns = time.time_ns()
    for ttl, rs in by_ttl.items():
        for r in rs:
            expect_from = hops[ttl - 1] if ttl <= len(hops) else target
            assert addr(r["replySrcAddr"]) == expect_from, (ttl, r)
            assert addr(r["probeSrcAddr"]) == src
            assert addr(r["replyDstAddr"]) == src
            assert addr(r["probeDstAddr"]) == target
            assert r["probeProtocol"] == proto_num
            assert 0 <= r["rtt"] < 10000, r["rtt"]  # tenths of a millisecond: below 1 s on veths
            assert abs(now_ns - r["timeReceivedNs"]) < 120e9


def test_traceroute_ipv4_and_ipv6_from_interface_addresses(kafka, lab):
    csv = (traceroute_csv(TARGET_V4, "UDP", 24001) + traceroute_csv(TARGET_V4, "ICMP", 24002)
           + traceroute_csv(TARGET_V6, "UDP", 24003) + traceroute_csv(TARGET_V6, "ICMPv6", 24004))
    submit(kafka, lab, ["agent-a:" + AGENT_V4], csv)
    replies = replies_for(kafka, lab, {24001, 24002, 24003, 24004}, 16)
    assert {r["agentId"] for r in replies} == {"agent-a"}
    by_port = {p: [r for r in replies if r["probeSrcPort"] == p] for p in (24001, 24002, 24003, 24004)}
    check_hops(by_port[24001], HOPS_V4[:2], TARGET_V4, 17, AGENT_V4)
    check_hops(by_port[24002], HOPS_V4[:2], TARGET_V4, 1, AGENT_V4)
    check_hops(by_port[24003], HOPS_V6[:2], TARGET_V6, 17, AGENT_V6)
    check_hops(by_port[24004], HOPS_V6[:2], TARGET_V6, 58, AGENT_V6)
    # What the routers and the target answer, by hop.
    types = {(r["probeSrcPort"], r["probeTtl"]): (r["replyIcmpType"], r["replyIcmpCode"]) for r in replies}
    assert types[(24001, 1)] == (11, 0) and types[(24001, 4)] == (3, 3)  # time exceeded, port unreachable
    assert types[(24002, 2)] == (11, 0) and types[(24002, 3)] == (0, 0)  # echo reply
    assert types[(24003, 1)] == (3, 0) and types[(24003, 3)] == (1, 4)  # ICMPv6 time exceeded, port unreachable
    assert types[(24004, 2)] == (3, 0) and types[(24004, 4)] == (129, 0)


def test_prefix_sources_not_configured_on_any_interface(kafka, lab):
    csv = traceroute_csv(TARGET_V4, "UDP", 24011) + traceroute_csv(TARGET_V6, "ICMPv6", 24012)
    submit(kafka, lab, ["agent-a:10.99.0.7"], traceroute_csv(TARGET_V4, "UDP", 24011))
    submit(kafka, lab, ["agent-a:fd00:99::7"], traceroute_csv(TARGET_V6, "ICMPv6", 24012))
    assert csv
    replies = replies_for(kafka, lab, {24011, 24012}, 8)
    check_hops([r for r in replies if r["probeSrcPort"] == 24011], HOPS_V4[:2], TARGET_V4, 17, "10.99.0.7")
    check_hops([r for r in replies if r["probeSrcPort"] == 24012], HOPS_V6[:2], TARGET_V6, 58, "fd00:99::7")
    # Sent by the anycast instance: its instance id is in the IPv4 IDs, and its integrity check kept them.
    assert all(r["probeId"] != 0 for r in replies if r["probeSrcPort"] == 24011 and r["replyIcmpType"] == 11)


def test_each_agent_acts_only_on_its_own_messages(kafka, lab):
    read_a = lab.a.metric("saimiris_sender_read_total")
    skipped_a = lab.a.metric("saimiris_consumer_records_total", outcome="not_for_us")
    submit(kafka, lab, ["agent-b:10.99.1.9"], traceroute_csv(TARGET_V4, "UDP", 24021))
    submit(kafka, lab, ["agent-b:fd00:99:1::9"], traceroute_csv(TARGET_V6, "UDP", 24022))
    replies = replies_for(kafka, lab, {24021, 24022}, 8)
    assert {r["agentId"] for r in replies} == {"agent-b"}
    assert {addr(r["probeSrcAddr"]) for r in replies} == {"10.99.1.9", "fd00:99:1::9"}
    wait_for(lambda: lab.a.metric("saimiris_consumer_records_total", outcome="not_for_us") >= skipped_a + 2, 10,
             "agent-a to skip agent-b's records")
    assert lab.a.metric("saimiris_sender_read_total") == read_a
    # Both agents at once: one record, two headers, each agent its own source.
    submit(kafka, lab, ["agent-a:10.99.0.8", "agent-b:10.99.1.8"], traceroute_csv(TARGET_V4, "ICMP", 24023))
    replies = replies_for(kafka, lab, {24023}, 8)
    pairs = {(r["agentId"], addr(r["probeSrcAddr"])) for r in replies}
    assert pairs == {("agent-a", "10.99.0.8"), ("agent-b", "10.99.1.8")}
    assert lab.a.metric("saimiris_sender_sent_total") > 0 and lab.b.metric("saimiris_sender_sent_total") > 0
