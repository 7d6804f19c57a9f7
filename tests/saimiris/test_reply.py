"""Replies built byte by byte (tests/saimiris/wire.py), parsed, checked field by field."""

import dataclasses

import pytest

from nxthdr.core.capnp_codec import encode_message, load_schema, struct_layout
from nxthdr.saimiris.probe import Probe, build_probe_packet
from nxthdr.saimiris.reply import (
    MplsLabel,
    Reply,
    ReplyError,
    check_integrity,
    encode_reply,
    parse_reply,
    reply_values,
)
from tests.saimiris.wire import (
    a4,
    a6,
    extension,
    icmp4,
    icmp6,
    ipv4,
    ipv6,
    mapped,
    mpls_entry,
    mpls_object,
    pad,
    rfc1071,
    u16,
)

ME4, TARGET4, ROUTER4 = a4("192.0.2.1"), a4("8.8.8.8"), a4("72.14.204.68")
ME6, TARGET6, ROUTER6 = a6("2001:db8:1::1"), a6("2001:4860:4860::8888"), a6("2001:db8:ffff::1")
TS = 0x1234
NOW = 65535 * 25_000_000 + TS + 66  # full Unix time in 0.1 ms; 6.6 ms after the send
T_NS = 1_700_000_000_123_456_789


def parse(packet: bytes, now: int = NOW) -> Reply | None:
    return parse_reply(packet, now_01ms=now, time_received_ns=T_NS, agent_id="agent-1")


# -- the probes as routers quote them ----------------------------------------------------------

def quoted_udp4(ttl_sent: int = 6, quoted_ttl: int = 1, full: bool = False) -> bytes:
    """Our IPv4 UDP probe as a router quotes it: IP header + 8 bytes (RFC 792), or whole."""
    udp = u16(24000) + u16(33434) + u16(8 + ttl_sent + 2) + u16(TS)
    payload = bytes.fromhex("beef") + bytes(ttl_sent) if full else b""
    return ipv4(ME4, TARGET4, 17, udp + payload, ttl=quoted_ttl, ident=0xABCD, total_length=28 + ttl_sent + 2)


def quoted_echo4(ttl_sent: int = 6, quoted_ttl: int = 1) -> bytes:
    echo = bytes((8, 0)) + u16(24000) + u16(24000) + u16(TS)
    return ipv4(ME4, TARGET4, 1, echo, ttl=quoted_ttl, ident=0x0BAD, total_length=28 + ttl_sent + 2)


def quoted_udp6(ttl_sent: int = 6, quoted_hlim: int = 1) -> bytes:
    # ICMPv6 errors quote as much as fits in 1280 bytes: the whole probe.
    udp = u16(24000) + u16(33434) + u16(8 + ttl_sent + 2) + u16(TS) + bytes.fromhex("beef") + bytes(ttl_sent)
    return ipv6(ME6, TARGET6, 17, udp, hlim=quoted_hlim)


def quoted_echo6(ttl_sent: int = 6, quoted_hlim: int = 1) -> bytes:
    echo = bytes((128, 0)) + u16(40000) + u16(40000) + u16(TS) + bytes.fromhex("beef") + bytes(ttl_sent)
    return ipv6(ME6, TARGET6, 58, echo, hlim=quoted_hlim)


def v4_error(icmp_type: int, code: int, quoted: bytes, *, length_words: int = 0, ext: bytes = b"") -> bytes:
    message = icmp4(icmp_type, code, b"\0" + bytes((length_words,)) + b"\0\0", quoted + ext)
    return ipv4(ROUTER4, ME4, 1, message, ttl=250, ident=0x0102)


def v6_error(icmp_type: int, code: int, quoted: bytes, *, length_words: int = 0, ext: bytes = b"",
             src: bytes = ROUTER6) -> bytes:
    message = icmp6(src, ME6, icmp_type, code, bytes((length_words,)) + b"\0\0\0", quoted + ext)
    return ipv6(src, ME6, 58, message, hlim=60)


TWO_LABELS = extension(mpls_object(mpls_entry(24001, 0, 0, 1), mpls_entry(16, 5, 1, 255)))
LABELS = (MplsLabel(24001, 0, False, 1), MplsLabel(16, 5, True, 255))


def v4_time_exceeded_udp(**changes) -> Reply:
    fields = dict(
        time_received_ns=T_NS, agent_id="agent-1",
        reply_src_addr=mapped("72.14.204.68"), reply_dst_addr=mapped("192.0.2.1"),
        reply_id=0x0102, reply_size=56, reply_ttl=250, reply_quoted_ttl=1,
        reply_protocol=1, reply_icmp_type=11, reply_icmp_code=0, reply_mpls_labels=(),
        probe_src_addr=mapped("192.0.2.1"), probe_dst_addr=mapped("8.8.8.8"),
        probe_id=0xABCD, probe_size=36, probe_ttl=6, probe_protocol=17,
        probe_src_port=24000, probe_dst_port=33434, rtt=66,
    )
    return Reply(**(fields | changes))


# -- IPv4 ----------------------------------------------------------------------------------------

def test_icmp_time_exceeded_quoting_udp():
    packet = v4_error(11, 0, quoted_udp4())
    assert len(packet) == 20 + 8 + 28
    assert parse(packet) == v4_time_exceeded_udp()


def test_icmp_time_exceeded_quoting_icmp_echo():
    packet = v4_error(11, 0, quoted_echo4(ttl_sent=9))
    assert parse(packet) == v4_time_exceeded_udp(
        probe_id=0x0BAD, probe_size=39, probe_ttl=9, probe_protocol=1, probe_dst_port=0)


def test_icmp_time_exceeded_with_mpls_rfc4884():
    # Compliant: the original datagram is padded to 128 bytes and the length
    # attribute (byte 5, 32-bit words) says so.
    packet = v4_error(11, 0, pad(quoted_udp4(full=True)), length_words=32, ext=TWO_LABELS)
    assert parse(packet) == v4_time_exceeded_udp(reply_size=len(packet), reply_mpls_labels=LABELS)


def test_icmp_time_exceeded_with_mpls_legacy_offset():
    # Pre-RFC 4884 senders: structure at offset 128, length attribute 0.
    packet = v4_error(11, 0, pad(quoted_echo4()), length_words=0, ext=TWO_LABELS)
    reply = parse(packet)
    assert reply.reply_mpls_labels == LABELS
    assert reply.probe_protocol == 1 and reply.probe_ttl == 6


def test_icmp_extension_problems_drop_labels_not_the_reply():
    quoted = pad(quoted_udp4())
    broken_checksum = bytearray(TWO_LABELS)
    broken_checksum[3] ^= 1
    bad_object_length = extension(u16(200) + b"\x01\x01" + mpls_entry(1, 0, 1, 1))
    odd_mpls = extension(u16(7) + b"\x01\x01" + b"\0\0\0")
    version1 = b"\x10" + TWO_LABELS[1:]
    cases = [
        dict(length_words=32, ext=bytes(broken_checksum)),
        dict(length_words=32, ext=bad_object_length),
        dict(length_words=32, ext=odd_mpls),
        dict(length_words=32, ext=version1),
        dict(length_words=20, ext=TWO_LABELS),  # attribute below the 128-byte minimum
        dict(length_words=60, ext=TWO_LABELS),  # attribute beyond the message
        dict(length_words=0, ext=bytes(broken_checksum)),  # legacy without a valid checksum
    ]
    for case in cases:
        reply = parse(v4_error(11, 0, quoted, **case))
        assert reply is not None and reply.reply_mpls_labels == (), case
        assert reply.probe_ttl == 6


def test_icmp_extension_other_objects_are_skipped():
    interface_info = u16(8) + b"\x02\x01" + a4("10.0.0.1")  # RFC 5837 object, not MPLS
    ext = extension(interface_info, mpls_object(mpls_entry(3, 0, 1, 0)))
    reply = parse(v4_error(11, 0, pad(quoted_udp4()), length_words=32, ext=ext))
    assert reply.reply_mpls_labels == (MplsLabel(3, 0, True, 0),)
    # A compliant sender that left the checksum 0 is still believed.
    unchecked = extension(mpls_object(mpls_entry(5, 1, 1, 9)), checksum=False)
    reply = parse(v4_error(11, 0, pad(quoted_udp4()), length_words=32, ext=unchecked))
    assert reply.reply_mpls_labels == (MplsLabel(5, 1, True, 9),)


def test_icmp_port_unreachable():
    packet = v4_error(3, 3, quoted_udp4(quoted_ttl=58))
    assert parse(packet) == v4_time_exceeded_udp(reply_icmp_type=3, reply_icmp_code=3, reply_quoted_ttl=58)


def test_icmp_echo_reply():
    echo = icmp4(0, 0, u16(24000) + u16(TS), bytes.fromhex("beef") + bytes(6))
    packet = ipv4(TARGET4, ME4, 1, echo, ttl=117, ident=0x4242)
    assert parse(packet) == v4_time_exceeded_udp(
        reply_src_addr=mapped("8.8.8.8"), reply_id=0x4242, reply_size=36, reply_ttl=117, reply_quoted_ttl=0,
        reply_icmp_type=0, probe_src_addr=mapped("192.0.2.1"), probe_dst_addr=mapped("8.8.8.8"),
        probe_id=0, probe_size=0, probe_ttl=6, probe_protocol=1, probe_dst_port=0)


def test_rtt_wraps_modulo_65535():
    packet = v4_error(11, 0, quoted_udp4())
    assert parse(packet, now=TS).rtt == 0
    assert parse(packet, now=TS - 1).rtt == 65534  # clock at 65535k + TS - 1: nearly one full turn
    assert parse(packet, now=(TS + 100) % 65535).rtt == 100  # an already-reduced clock works too


def test_link_layer_padding_and_snaplen():
    packet = v4_error(11, 0, quoted_udp4())
    assert parse(packet + bytes(10)) == parse(packet)  # Ethernet padding after the IP length
    full = v4_error(11, 0, pad(quoted_udp4(full=True)), length_words=32, ext=TWO_LABELS)
    truncated = parse(full[:20 + 8 + 28])  # snaplen cut inside the quote: labels lost, reply kept
    assert truncated.reply_mpls_labels == () and truncated.reply_size == 56  # what arrived
    assert truncated.claimed_size == len(full)


# -- IPv6 ----------------------------------------------------------------------------------------

def v6_time_exceeded_udp(**changes) -> Reply:
    fields = dict(
        time_received_ns=T_NS, agent_id="agent-1",
        reply_src_addr=ROUTER6, reply_dst_addr=ME6,
        reply_id=0, reply_size=8 + 40 + 16, reply_ttl=60, reply_quoted_ttl=1,
        reply_protocol=58, reply_icmp_type=3, reply_icmp_code=0, reply_mpls_labels=(),
        probe_src_addr=ME6, probe_dst_addr=TARGET6,
        probe_id=0, probe_size=16, probe_ttl=6, probe_protocol=17,
        probe_src_port=24000, probe_dst_port=33434, rtt=66,
    )
    return Reply(**(fields | changes))


def test_icmpv6_time_exceeded_quoting_udp():
    assert parse(v6_error(3, 0, quoted_udp6())) == v6_time_exceeded_udp()


def test_icmpv6_time_exceeded_quoting_echo():
    reply = parse(v6_error(3, 0, quoted_echo6(ttl_sent=30)))
    assert reply == v6_time_exceeded_udp(reply_size=8 + 40 + 40, probe_size=40, probe_ttl=30, probe_protocol=58,
                                         probe_src_port=40000, probe_dst_port=0)


def test_icmpv6_time_exceeded_with_mpls():
    # ICMPv6: the length attribute is byte 4, in 64-bit words (RFC 4884).
    packet = v6_error(3, 0, pad(quoted_udp6()), length_words=16, ext=TWO_LABELS)
    assert parse(packet) == v6_time_exceeded_udp(reply_size=len(packet) - 40, reply_mpls_labels=LABELS)
    legacy = v6_error(3, 0, pad(quoted_echo6()), length_words=0, ext=TWO_LABELS)
    assert parse(legacy).reply_mpls_labels == LABELS
    # A sender counting in 32-bit words (the ICMPv4 unit) points past the structure.
    wrong_unit = v6_error(3, 0, pad(quoted_udp6()), length_words=32, ext=TWO_LABELS)
    assert parse(wrong_unit).reply_mpls_labels == ()


def test_icmpv6_port_unreachable():
    packet = v6_error(1, 4, quoted_udp6(quoted_hlim=57), src=TARGET6)
    assert parse(packet) == v6_time_exceeded_udp(reply_src_addr=TARGET6, reply_icmp_type=1, reply_icmp_code=4,
                                                 reply_quoted_ttl=57)


def test_icmpv6_echo_reply():
    echo = icmp6(TARGET6, ME6, 129, 0, u16(40000) + u16(TS), bytes.fromhex("beef") + bytes(12))
    reply = parse(ipv6(TARGET6, ME6, 58, echo, hlim=118))
    assert reply == v6_time_exceeded_udp(
        reply_src_addr=TARGET6, reply_size=22, reply_ttl=118, reply_quoted_ttl=0, reply_icmp_type=129,
        probe_src_addr=ME6, probe_dst_addr=TARGET6, probe_size=0, probe_ttl=12, probe_protocol=58,
        probe_src_port=40000, probe_dst_port=0)


def test_ipv6_extension_headers_are_skipped():
    message = icmp6(ROUTER6, ME6, 3, 0, bytes(4), quoted_udp6())
    hop_by_hop = bytes((58, 0)) + b"\x01\x04\0\0\0\0"  # next header ICMPv6, 8 bytes, PadN
    packet = ipv6(ROUTER6, ME6, 0, hop_by_hop + message, hlim=60)
    assert parse(packet) == v6_time_exceeded_udp(reply_size=8 + len(message))
    later_fragment = bytes((58, 0)) + u16(8 << 3) + bytes(4)
    assert parse(ipv6(ROUTER6, ME6, 44, later_fragment + message)) is None


# -- not ours: None ------------------------------------------------------------------------------

@pytest.mark.parametrize("packet", [
    ipv4(ME4, TARGET4, 1, icmp4(8, 0, u16(1) + u16(2), bytes(8))),  # our own echo request
    ipv4(ROUTER4, ME4, 1, icmp4(5, 1, a4("10.0.0.1"), quoted_udp4())),  # redirect
    ipv4(ROUTER4, ME4, 17, bytes(16)),  # UDP
    ipv4(ROUTER4, ME4, 6, bytes(20)),  # TCP
    ipv4(ROUTER4, ME4, 1, bytes(8), frag=0x0010),  # a later fragment
    v4_error(11, 0, ipv4(ME4, TARGET4, 6, bytes(8), total_length=60)),  # quoted TCP
    v4_error(11, 0, ipv4(ME4, TARGET4, 1, icmp4(13, 0, bytes(4), b""))),  # quoted timestamp request
    v4_error(11, 0, ipv4(ME4, TARGET4, 17, u16(1) + u16(2) + u16(8) + u16(0))),  # UDP length below ours
    v4_error(11, 0, ipv4(ME4, TARGET4, 17, u16(1) + u16(2) + u16(300) + u16(0))),  # TTL would be 290
    v4_error(11, 0, ipv4(ME4, TARGET4, 1, bytes((8, 0)) + bytes(6), total_length=20)),  # echo without room
    v4_error(11, 0, ipv4(ME4, TARGET4, 17, bytes(8), frag=0x0005)),  # quoted later fragment
    ipv4(TARGET4, ME4, 1, icmp4(0, 0, bytes(4), b"")),  # echo reply too short to be ours
    ipv6(ME6, TARGET6, 58, icmp6(ME6, TARGET6, 135, 0, bytes(4), bytes(16))),  # neighbour solicitation
    ipv6(ME6, TARGET6, 58, icmp6(ME6, TARGET6, 128, 0, bytes(4), bytes(4))),  # our own echo request
    ipv6(ROUTER6, ME6, 17, bytes(8)),  # UDP
    v6_error(3, 0, ipv6(ME6, TARGET6, 6, bytes(20))),  # quoted TCP
    v6_error(3, 0, ipv6(ME6, TARGET6, 58, bytes((129, 0)) + bytes(10))),  # quoted echo reply
    v6_error(2, 0, quoted_udp6()),  # packet too big
], ids=lambda v: str(len(v)))
def test_not_a_reply_to_our_probes(packet):
    assert parse(packet) is None


# -- malformed: ReplyError -----------------------------------------------------------------------

@pytest.mark.parametrize("packet,reason", [
    (b"", "empty"),
    (b"\x50" + bytes(30), "version 5"),
    (ipv4(ROUTER4, ME4, 1, b"")[:19], "IPv4 header truncated"),
    (b"\x44" + ipv4(ROUTER4, ME4, 1, icmp4(11, 0, bytes(4), quoted_udp4()))[1:], "header length 16"),
    (ipv4(ROUTER4, ME4, 1, b"", total_length=12), "total length 12"),
    (b"\x4f" + ipv4(ROUTER4, ME4, 1, bytes(30), total_length=80)[1:], "options truncated"),
    (ipv4(ROUTER4, ME4, 1, bytes((11, 0, 0, 0))), "ICMP header truncated"),
    (v4_error(11, 0, quoted_udp4()[:19]), "quoted IPv4 header truncated"),
    (v4_error(11, 0, quoted_udp4()[:27]), "quoted UDP header truncated"),
    (v4_error(11, 0, quoted_echo4()[:24]), "quoted ICMP header truncated"),
    (v4_error(11, 0, quoted_udp6()), "quotes an IP version 6"),
    (v4_error(11, 0, b"\x43" + quoted_udp4()[1:]), "quoted IPv4 header length 12"),
    (ipv6(ROUTER6, ME6, 58, b"")[:39], "IPv6 header truncated"),
    (ipv6(ROUTER6, ME6, 58, bytes(4)), "ICMPv6 header truncated"),
    (ipv6(ROUTER6, ME6, 58, icmp6(ROUTER6, ME6, 3, 0, bytes(4), quoted_udp6()), payload_length=0),
     "ICMPv6 header truncated"),
    (v6_error(3, 0, quoted_udp6()[:39]), "quoted IPv6 header truncated"),
    (v6_error(3, 0, quoted_udp6()[:44]), "quoted UDP header truncated"),
    (v6_error(3, 0, pad(quoted_udp4(), 48)), "quotes an IP version 4"),
    (ipv6(ROUTER6, ME6, 0, bytes((58, 4)) + bytes(6)), "overrun"),
    (ipv6(ROUTER6, ME6, 60, bytes(4)), "extension header truncated"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_malformed(packet, reason):
    with pytest.raises(ReplyError, match=reason):
        parse(packet)


# -- round trip: our probe, a router's reply, every field back ----------------------------------

def router_quote(probe_packet: bytes, quoted_ttl: int) -> bytes:
    """The probe as it reached the router: TTL rewritten, IPv4 header checksum redone."""
    quoted = bytearray(probe_packet)
    if quoted[0] >> 4 == 4:
        quoted[8] = quoted_ttl
        quoted[10:12] = b"\0\0"
        quoted[10:12] = u16(rfc1071(bytes(quoted[:20])))
    else:
        quoted[7] = quoted_ttl
    return bytes(quoted)


SEND = 17_000_000_000_000  # Unix time in 0.1 ms


@pytest.mark.parametrize("protocol,dst,src,router", [
    ("udp", mapped("8.8.8.8"), mapped("192.0.2.1"), ROUTER4),
    ("icmp", mapped("8.8.8.8"), mapped("192.0.2.1"), ROUTER4),
    ("udp", TARGET6, ME6, ROUTER6),
    ("icmpv6", TARGET6, ME6, ROUTER6),
])
@pytest.mark.parametrize("ttl", [1, 7, 64, 255])
@pytest.mark.parametrize("with_mpls", [False, True])
def test_round_trip_time_exceeded(protocol, dst, src, router, ttl, with_mpls):
    probe = Probe(dst, 33000 + ttl, 33434 if protocol == "udp" else 0, ttl, protocol)
    sent = build_probe_packet(probe, src, 7, SEND)
    quoted = router_quote(sent, 1)
    ext = TWO_LABELS if with_mpls else b""
    if probe.is_ipv4:
        body = quoted[:28] if not with_mpls else pad(quoted)
        length_words = len(body) // 4 if with_mpls else 0
        if with_mpls and len(body) % 4:
            body = pad(body, len(body) + 4 - len(body) % 4)
            length_words = len(body) // 4
        packet = ipv4(router, src[12:], 1, icmp4(11, 0, bytes((0, length_words, 0, 0)), body + ext), ttl=250)
    else:
        body = pad(quoted) if with_mpls else quoted
        if with_mpls and len(body) % 8:
            body = pad(body, len(body) + 8 - len(body) % 8)
        packet = ipv6(router, src, 58,
                      icmp6(router, src, 3, 0, bytes(((len(body) // 8) if with_mpls else 0, 0, 0, 0)), body + ext))
    received = SEND + 1234  # 123.4 ms later
    reply = parse_reply(packet, now_01ms=received, time_received_ns=received * 100_000, agent_id="a")
    assert reply.probe_dst_addr == probe.dst_addr
    assert reply.probe_src_addr == src
    assert reply.probe_src_port == probe.src_port
    assert reply.probe_dst_port == probe.dst_port
    assert reply.probe_ttl == probe.ttl
    assert reply.probe_protocol == {"udp": 17, "icmp": 1, "icmpv6": 58}[protocol]
    assert reply.rtt == 1234
    assert reply.reply_quoted_ttl == 1
    assert reply.reply_mpls_labels == (LABELS if with_mpls else ())
    assert check_integrity(reply, 7)
    if probe.is_ipv4:
        assert not check_integrity(reply, 8)  # another instance's reply is told apart
        assert not check_integrity(dataclasses.replace(reply, probe_ttl=ttl - 1), 7)
    else:
        assert check_integrity(reply, 8)  # nothing per-instance in IPv6 probes


@pytest.mark.parametrize("dst,src", [(mapped("8.8.8.8"), mapped("192.0.2.1")), (TARGET6, ME6)])
def test_round_trip_echo_reply(dst, src):
    probe = Probe(dst, 24000, 0, 12, "icmp" if dst[:12] == mapped("0.0.0.0")[:12] else "icmpv6")
    sent = build_probe_packet(probe, src, 0, SEND)
    if probe.is_ipv4:
        echo = sent[20:]
        packet = ipv4(dst[12:], src[12:], 1, icmp4(0, 0, echo[4:8], echo[8:]), ttl=55)
    else:
        echo = sent[40:]
        packet = ipv6(dst, src, 58, icmp6(dst, src, 129, 0, echo[4:8], echo[8:]), hlim=55)
    reply = parse_reply(packet, now_01ms=SEND + 50, time_received_ns=0, agent_id="a")
    assert (reply.probe_dst_addr, reply.probe_src_addr, reply.probe_src_port, reply.probe_ttl, reply.rtt) == (
        dst, src, 24000, 12, 50)
    assert check_integrity(reply, 123)  # echo replies cannot be checked


def test_round_trip_zero_timestamp():
    probe = Probe(TARGET6, 24000, 33434, 4, "udp")
    sent = build_probe_packet(probe, ME6, 0, 65535 * 9)  # ts 0, sent as checksum 0xFFFF
    packet = ipv6(ROUTER6, ME6, 58, icmp6(ROUTER6, ME6, 3, 0, bytes(4), router_quote(sent, 1)))
    assert parse_reply(packet, now_01ms=65535 * 9 + 42, time_received_ns=0, agent_id="a").rtt == 42


def test_round_trip_port_unreachable():
    probe = Probe(mapped("8.8.8.8"), 24000, 33434, 30, "udp")
    sent = build_probe_packet(probe, ME4, 2, SEND)
    packet = ipv4(TARGET4, ME4, 1, icmp4(3, 3, bytes(4), router_quote(sent, 45)[:28]))
    reply = parse_reply(packet, now_01ms=SEND + 9, time_received_ns=0, agent_id="a")
    assert (reply.reply_icmp_type, reply.reply_icmp_code, reply.probe_ttl, reply.reply_quoted_ttl, reply.rtt) == (
        3, 3, 30, 45, 9)
    assert check_integrity(reply, 2)


# -- Cap'n Proto ---------------------------------------------------------------------------------

def test_encode_reply_round_trip_with_pycapnp():
    schema = load_schema("reply.capnp").Reply
    replies = [
        parse(v4_error(11, 0, pad(quoted_udp4(full=True)), length_words=32, ext=TWO_LABELS)),
        parse(v6_error(3, 0, quoted_echo6())),
        dataclasses.replace(v4_time_exceeded_udp(), agent_id="é-agent", rtt=65534, time_received_ns=2**64 - 1),
    ]
    record = b"".join(encode_reply(r) for r in replies)
    decoded = list(schema.read_multiple_bytes(record))
    assert len(decoded) == 3
    for reply, message in zip(replies, decoded):
        assert message.timeReceivedNs == reply.time_received_ns
        assert message.agentId == reply.agent_id
        assert bytes(message.replySrcAddr) == reply.reply_src_addr
        assert bytes(message.replyDstAddr) == reply.reply_dst_addr
        assert bytes(message.probeSrcAddr) == reply.probe_src_addr
        assert bytes(message.probeDstAddr) == reply.probe_dst_addr
        for name in ("reply_id", "reply_size", "reply_ttl", "reply_quoted_ttl", "reply_protocol",
                     "reply_icmp_type", "reply_icmp_code", "probe_id", "probe_size", "probe_ttl",
                     "probe_protocol", "probe_src_port", "probe_dst_port", "rtt"):
            camel = "".join(w.capitalize() if i else w for i, w in enumerate(name.split("_")))
            assert getattr(message, camel) == getattr(reply, name), name
        assert [(m.label, m.exp, m.sBit, m.ttl) for m in message.replyMplsLabel] == [
            (m.label, m.exp, m.s_bit, m.ttl) for m in reply.reply_mpls_labels]
    assert decoded[0].replyMplsLabel[0].label == 24001 and decoded[0].replyMplsLabel[1].sBit


def test_fast_writer_matches_generic_writer():
    layout = struct_layout("reply.capnp", "Reply")
    many_labels = tuple(MplsLabel(0xFFFFF - i, i % 8, i == 4, 255 - i) for i in range(5))
    for reply in (
        v4_time_exceeded_udp(),
        v4_time_exceeded_udp(reply_mpls_labels=LABELS, agent_id=""),
        v6_time_exceeded_udp(reply_mpls_labels=many_labels, agent_id="a" * 8),
        v6_time_exceeded_udp(agent_id="agent-with-a-longer-name-ünïcode"),
    ):
        assert encode_reply(reply) == encode_message(layout, reply_values(reply))


def test_mpls_label_stacks_are_capped():
    from nxthdr.saimiris.reply import MAX_MPLS_LABELS

    def stack(n: int) -> bytes:
        return extension(mpls_object(*(mpls_entry(16 + i, 0, int(i == n - 1), 1) for i in range(n))))

    for n, expect in ((MAX_MPLS_LABELS, MAX_MPLS_LABELS), (200, 0)):
        packet = v4_error(11, 0, pad(quoted_udp4(full=True)), length_words=32, ext=stack(n))
        reply = parse(packet)
        assert reply is not None and len(reply.reply_mpls_labels) == expect, n
