"""Forged replies injected in the namespace lab: none becomes a row, real replies still do (issue 16).

An attacker on the path towards the agent (here r1, writing frames straight on
its link with a packet socket) sends what the agent's capture sees: echo
replies and ICMP errors to the agent's addresses it never asked for, some
computed with the public IPv4 ID algorithm, plus packets the kernel filter and
the parser must agree on (IPv6 fragments, a bad IPv4 header length, lying
lengths). The agent runs with its default integrity settings, the broker is real.
"""

from __future__ import annotations

import random
import socket
import time
import uuid

import pytest

from nxthdr.saimiris.checksum import probe_id
from tests.saimiris.agent.lab import AGENT_V4, AGENT_V6, TARGET_V4, TARGET_V6, AgentProcess, Lab, agent_config, \
    create_topics, wait_for
from tests.saimiris.agent.test_lab import replies_for, submit, traceroute_csv
from tests.saimiris.wire import a4, a6, icmp4, icmp6, ipv4, ipv6, u16
from tests.support.kafka_client import consume_messages
from tests.support.nsforward import socket_in_netns

pytestmark = pytest.mark.integration

SPOOF_PORTS = range(40000, 40200)


@pytest.fixture(scope="module")
def lab(netns, kafka):
    lab = Lab()
    lab.forward(int(kafka.bootstrap.rsplit(":", 1)[1]))
    lab.in_topic = f"saimiris-probes-{uuid.uuid4().hex[:8]}"
    lab.out_topic = f"saimiris-replies-{uuid.uuid4().hex[:8]}"
    create_topics(kafka.bootstrap, lab.in_topic, lab.out_topic)
    # No integrity_check key: the default must hold.
    cfg = agent_config("agent-s", kafka.bootstrap, lab.in_topic, lab.out_topic,
                       [{"name": "unicast", "interface": lab.agent_if, "probing_rate": 2000}])
    lab.a = AgentProcess(lab, cfg)
    try:
        lab.a.wait_ready()
        yield lab
    finally:
        lab.close()


class Injector:
    """Frames from r1 to the agent's interface: the packets are sent exactly as built."""

    def __init__(self, lab: Lab) -> None:
        mac = lab.agent.run("cat", f"/sys/class/net/{lab.agent_if}/address").stdout.decode().strip()
        self.mac = bytes.fromhex(mac.replace(":", ""))
        self.ifname = lab.r1_agent_if
        self.sock = socket_in_netns(lab.r1.name, socket.AF_PACKET, socket.SOCK_DGRAM, 0)

    def send(self, packet: bytes) -> None:
        ethertype = 0x0800 if packet[0] >> 4 == 4 else 0x86DD
        self.sock.sendto(packet, (self.ifname, ethertype, 0, 0, self.mac))

    def close(self) -> None:
        self.sock.close()


def forged(rng: random.Random) -> list[bytes]:
    """What an attacker who knows the encoding but not our probes can send."""
    me4, me6, t4, t6 = a4(AGENT_V4), a6(AGENT_V6), a4(TARGET_V4), a6(TARGET_V6)
    out = []
    for sport in SPOOF_PORTS:
        ts, ttl = rng.randrange(65535), rng.randrange(1, 30)
        kind = sport % 5
        if kind == 0:  # echo reply, identifier = a plausible source port
            out.append(ipv4(t4, me4, 1, icmp4(0, 0, u16(sport) + u16(ts), bytes(ttl + 2))))
        elif kind == 1:  # time exceeded quoting a UDP "probe" with the right IPv4 ID (the algorithm is public)
            udp = u16(sport) + u16(33434) + u16(8 + ttl + 2) + u16(ts)
            quoted = ipv4(me4, t4, 17, udp, ttl=1, ident=probe_id(0, t4, sport, ttl), total_length=20 + 8 + ttl + 2)
            out.append(ipv4(a4("10.0.1.1"), me4, 1, icmp4(11, 0, bytes(4), quoted)))
        elif kind == 2:  # the same, quoting an echo request
            echo = u16(0x0800) + u16(rng.randrange(65535)) + u16(sport) + u16(ts)
            quoted = ipv4(me4, t4, 1, echo, ttl=1, ident=probe_id(0, t4, sport, ttl), total_length=20 + 8 + ttl + 2)
            out.append(ipv4(a4("10.0.1.1"), me4, 1, icmp4(11, 0, bytes(4), quoted)))
        elif kind == 3:  # ICMPv6 echo reply
            out.append(ipv6(t6, me6, 58, icmp6(t6, me6, 129, 0, u16(sport) + u16(ts), bytes(ttl + 2))))
        else:  # ICMPv6 time exceeded quoting a whole UDP datagram
            udp = u16(sport) + u16(33434) + u16(8 + ttl + 2) + u16(ts) + bytes(ttl + 2)
            quoted = ipv6(me6, t6, 17, udp, hlim=1)
            out.append(ipv6(a6("fd00:1::1"), me6, 58, icmp6(a6("fd00:1::1"), me6, 3, 0, bytes(4), quoted)))
    return out


def test_forged_replies_make_no_rows_and_real_replies_still_do(kafka, lab):
    a = lab.a
    before = {name: a.metric(name) for name in ("saimiris_receiver_received_total",
                                                "saimiris_receiver_received_error_total",
                                                "saimiris_receiver_length_mismatch_total")}
    inj = Injector(lab)
    try:
        packets = forged(random.Random(16))
        for p in packets:
            inj.send(p)
        me4, me6, t4, t6 = a4(AGENT_V4), a6(AGENT_V6), a4(TARGET_V4), a6(TARGET_V6)
        # What the kernel filter must pass for the parser to judge: an IPv4 header length below 20, an IPv6
        # first fragment, a later fragment, lengths claiming more than arrived.
        bad_ihl = bytearray(ipv4(t4, me4, 1, icmp4(0, 0, bytes(4), bytes(8))))
        bad_ihl[0] = 0x44
        frag_first = ipv6(t6, me6, 44, bytes((58, 0, 0, 1)) + bytes(4) + icmp6(t6, me6, 129, 0, bytes(4), bytes(8)))
        frag_later = ipv6(t6, me6, 44, bytes((58, 0, 0, 9)) + bytes(4) + bytes(16))
        lying4 = ipv4(t4, me4, 1, icmp4(0, 0, u16(40999) + u16(1), bytes(10)), total_length=1500)
        lying6 = ipv6(t6, me6, 58, icmp6(t6, me6, 129, 0, u16(40999) + u16(1), bytes(10)), payload_length=4000)
        for p in (bytes(bad_ihl), frag_first, frag_later, lying4, lying6):
            inj.send(p)
        injected = len(packets) + 5
        wait_for(lambda: a.metric("saimiris_receiver_received_total")
                 >= before["saimiris_receiver_received_total"] + injected, 20,
                 "the capture to see every injected packet (IPv6 fragments and a bad IHL included)", details=a.log)
        assert a.metric("saimiris_receiver_received_error_total") >= before["saimiris_receiver_received_error_total"] + 1
        assert a.metric("saimiris_receiver_length_mismatch_total") >= \
            before["saimiris_receiver_length_mismatch_total"] + 2
        for reason in ("timestamp", "echo_checksum", "quoted_checksum"):
            assert a.metric("saimiris_receiver_rejected_total", reason=reason) > 0, reason

        # Real probes while a second wave of forgeries arrives: the real ones match, the forged ones do not.
        submit(kafka, lab, ["agent-s:" + AGENT_V4], traceroute_csv(TARGET_V4, "UDP", 24101)
               + traceroute_csv(TARGET_V4, "ICMP", 24102))
        submit(kafka, lab, ["agent-s:" + AGENT_V6], traceroute_csv(TARGET_V6, "UDP", 24103)
               + traceroute_csv(TARGET_V6, "ICMPv6", 24104))
        wave2_ns = time.time_ns()
        deadline = time.monotonic() + 3
        wave = forged(random.Random(17))
        while time.monotonic() < deadline:
            for p in wave[:50]:
                inj.send(p)
            time.sleep(0.2)
        real = replies_for(kafka, lab, {24101, 24102, 24103, 24104}, 16)
        assert {r["probeSrcPort"] for r in real} == {24101, 24102, 24103, 24104}
        assert all(r["replySize"] < 200 for r in real)
        forged_ports = set(SPOOF_PORTS) | {40999}
        rows = [m for m in consume_messages(kafka.bootstrap, lab.out_topic, "reply.capnp", "Reply", timeout=5)
                if m["probeSrcPort"] in forged_ports]
        # Known limit (README, probing): an IPv4 ICMP error quotes only 8 bytes of our UDP/echo probe, so
        # what proves it is the IP ID (a public function of the probe) and the send-time window; forged
        # while the agent is sending (the second wave), such a reply can pass when the machine is slow
        # enough that the forged timestamp falls in a slot the agent used. Checking it against the probes
        # actually sent (stateful matching) is what is left (issue 16). Every other kind must be refused
        # in both waves, and the IPv4-error kinds in the first wave.
        unprovable = [m for m in rows if m["timeReceivedNs"] >= wave2_ns and m["probeSrcPort"] % 5 in (1, 2)
                      and m["replyProtocol"] == 1 and m["replyIcmpType"] in (3, 11)]
        fabricated = [m for m in rows if m not in unprovable]
        assert fabricated == [], f"{len(fabricated)} fabricated rows"
    finally:
        inj.close()
