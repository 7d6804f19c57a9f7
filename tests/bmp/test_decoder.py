"""BmpDecoder: builder -> decoder round trips for every message type, session
context (4-octet AS, ADD-PATH), framing errors and recovery from malformed bodies.

Every stream goes through decode_stream, which feeds it whole, byte by byte and
in random chunks and checks that the events are the same."""

from __future__ import annotations

import struct
import time

import pytest

from nxthdr.bgp.types import Notification
from nxthdr.bmp import builder as b
from nxthdr.bmp.decoder import BmpDecoder
from nxthdr.bmp.events import (
    NEED_DATA,
    PEER_DOWN,
    PEER_GLOBAL,
    PEER_LOC_RIB,
    PEER_RD_INSTANCE,
    PEER_UP,
    ROUTE_MONITORING,
    TERMINATION,
    BmpError,
    BufferLimitError,
    FramingError,
    InformationTlv,
    Initiation,
    MalformedMessage,
    PeerDown,
    PeerUp,
    RouteMirroring,
    RouteMonitoring,
    Stat,
    StatsReport,
    Termination,
)

from .helpers import decode_one, decode_stream, feed, ip_int, v4, v6

TS = 1_700_000_000_123_456_000  # microsecond resolution on the wire

PEER = b.per_peer_header("192.0.2.1", 65001, "192.0.2.1", timestamp_ns=TS)
PEER6 = b.per_peer_header("2001:db8::1", 65002, "10.0.0.2", timestamp_ns=TS)


def simple_update(prefix="198.51.100.0/24", **kwargs):
    return b.bgp_update(
        attributes=[b.origin(), b.as_path([65001, 65010]), b.next_hop("192.0.2.1")], nlri=[prefix], **kwargs
    )


def peer_up(peer=PEER, *, sent=None, received=None, **kwargs):
    sent = sent or b.bgp_open(65000, "192.0.2.254")
    received = received or b.bgp_open(65001, "192.0.2.1")
    return b.bmp_peer_up(peer, sent, received, **kwargs)


# ---------------------------------------------------------------- message types


def test_initiation():
    event = decode_one(b.bmp_initiation("router1", "FRRouting 10", tlvs=[(0, "hello")]))
    assert isinstance(event, Initiation)
    assert event.sys_name == "router1"
    assert event.sys_descr == "FRRouting 10"
    assert event.tlvs[2] == InformationTlv(type=0, value=b"hello")


def test_termination():
    event = decode_one(b.bmp_termination(reason=1, tlvs=[(0, "bye")]))
    assert event == Termination(tlvs=(InformationTlv(1, b"\x00\x01"), InformationTlv(0, b"bye")))
    assert event.reason == 1
    assert decode_one(b.bmp_termination()).tlvs == ()


def test_per_peer_header_fields():
    peer = b.per_peer_header("192.0.2.1", 4200000000, "10.1.2.3", timestamp_ns=TS, post_policy=True, adj_rib_out=True)
    event = decode_one(b.bmp_route_monitoring(peer, simple_update()))
    p = event.peer
    assert (p.peer_type, p.distinguisher, p.asn, p.bgp_id) == (PEER_GLOBAL, 0, 4200000000, ip_int("10.1.2.3"))
    assert p.address == v4("192.0.2.1")
    assert p.timestamp_ns == TS
    assert p.is_post_policy and p.is_adj_rib_out and not p.is_ipv6 and not p.is_legacy_as_path
    assert p.flags == 0x40 | 0x10


def test_ipv6_peer_address():
    p = decode_one(b.bmp_route_monitoring(PEER6, simple_update())).peer
    assert p.address == v6("2001:db8::1") and p.is_ipv6


def test_route_monitoring_ipv4():
    event = decode_one(b.bmp_route_monitoring(PEER, simple_update()))
    assert isinstance(event, RouteMonitoring)
    u = event.update
    assert u.announced.prefixes() == [(v4("198.51.100.0"), 24, 0)]
    assert u.attributes.as_path == (65001, 65010)
    assert u.attributes.next_hop == v4("192.0.2.1")


def test_route_monitoring_legacy_as_path_flag():
    peer = b.per_peer_header("192.0.2.1", 65001, legacy_as_path=True)
    update = b.bgp_update(attributes=[b.as_path([65001, 400000]), b.as4_path([400000])], nlri=["10.0.0.0/8"],
                          four_octet_as=False)
    u = decode_one(b.bmp_route_monitoring(peer, update)).update
    assert u.attributes.as_path == (65001, 400000)  # 2-octet path + AS4_PATH merged


def test_route_monitoring_wrong_legacy_flag_recovered():
    # The A flag says 2-octet but the path is 4-octet: the width retry fixes it.
    peer = b.per_peer_header("192.0.2.1", 65001, legacy_as_path=True)
    update = b.bgp_update(attributes=[b.as_path([65001, 400000])], nlri=["10.0.0.0/8"])
    assert decode_one(b.bmp_route_monitoring(peer, update)).update.attributes.as_path == (65001, 400000)


def test_route_monitoring_end_of_rib():
    events = decode_stream(
        b.bmp_route_monitoring(PEER, b.end_of_rib()) + b.bmp_route_monitoring(PEER, b.end_of_rib(2, 1))
    )
    assert [e.update.end_of_rib for e in events] == [(1, 1), (2, 1)]


def test_route_monitoring_unknown_all_zero_peer():
    # FRR: locally originated routes under an all-zero peer never announced in a Peer Up.
    peer = b.per_peer_header("0.0.0.0", 0, 0)
    event = decode_one(b.bmp_route_monitoring(peer, simple_update()))
    assert event.update.announced.prefixes() == [(v4("198.51.100.0"), 24, 0)]
    assert event.peer.address == v4("0.0.0.0")


def test_peer_up_ipv4():
    sent = b.bgp_open(65000, "192.0.2.254", 90, multiprotocol=[(1, 1), (2, 1)])
    received = b.bgp_open(65001, "192.0.2.1", 180)
    event = decode_one(b.bmp_peer_up(PEER, sent, received, local_address="192.0.2.254", local_port=179,
                                     remote_port=34567, tlvs=[(0, "up")]))
    assert isinstance(event, PeerUp)
    assert event.local_address == v4("192.0.2.254")
    assert (event.local_port, event.remote_port) == (179, 34567)
    assert event.sent_open.asn == 65000 and event.sent_open.hold_time == 90
    assert event.sent_open.capabilities.multiprotocol == frozenset({(1, 1), (2, 1)})
    assert event.received_open.bgp_id == ip_int("192.0.2.1")
    assert event.tlvs == (InformationTlv(0, b"up"),)


def test_peer_up_ipv6():
    event = decode_one(peer_up(PEER6, local_address="2001:db8::fe"))
    assert event.local_address == v6("2001:db8::fe")
    assert event.peer.address == v6("2001:db8::1")


@pytest.mark.parametrize(
    "reason,kwargs,expected",
    [
        (1, {"notification": b.bgp_notification(6, 2)}, {"notification": Notification(6, 2, b"")}),
        (2, {"fsm_event": 7}, {"fsm_event": 7}),
        (3, {"notification": b.bgp_notification(4, 0, b"x")}, {"notification": Notification(4, 0, b"x")}),
        (4, {}, {}),
        (5, {}, {}),
        (6, {"tlvs": [(3, "vrf-red")]}, {"tlvs": (InformationTlv(3, b"vrf-red"),)}),
    ],
)
def test_peer_down_reasons(reason, kwargs, expected):
    event = decode_one(b.bmp_peer_down(PEER, reason, **kwargs))
    assert isinstance(event, PeerDown)
    assert event.reason == reason
    assert event.notification == expected.get("notification")
    assert event.fsm_event == expected.get("fsm_event")
    assert event.tlvs == expected.get("tlvs", ())


def test_stats_report():
    stats = [(0, 5), (7, 2**40), (9, 2, 1, 1234), (16, 1, 1, 99), (17, 1, 2, 3), (13, 4), (300, b"\x01\x02\x03")]
    event = decode_one(b.bmp_stats_report(PEER, stats))
    assert isinstance(event, StatsReport)
    assert event.stats == (
        Stat(0, 5),
        Stat(7, 2**40),
        Stat(9, 1234, afi=2, safi=1),
        Stat(16, 99, afi=1, safi=1),
        Stat(17, 3, afi=1, safi=2),
        Stat(13, 4),
        Stat(300, 0x010203),
    )


def test_route_mirroring():
    event = decode_one(b.bmp_route_mirroring(PEER, bgp_messages=[simple_update()], information=1))
    assert isinstance(event, RouteMirroring)
    assert event.tlvs == (InformationTlv(0, simple_update()), InformationTlv(1, b"\x00\x01"))


# ---------------------------------------------------------------- session context


AMBIGUOUS_V4 = b.bgp_update(attributes=[b.origin()], nlri=[("0.0.0.0", 0, 0)], add_path=True)
"""Five zero bytes: one ADD-PATH default route (path id 0) or five plain default
routes. Both parse, so the decoded form shows which mode the context chose."""


def items_of(event):
    return len(event.update.announced.items), event.update.announced.add_path


@pytest.mark.parametrize(
    "adj_rib_out,sent_mode,received_mode,expected",
    [
        (False, 1, 2, True),  # Adj-RIB-In: the peer sends, the router receives
        (False, 2, 1, False),
        (False, 3, 3, True),
        (False, 0, 2, False),  # the router did not advertise receive
        (True, 2, 1, True),  # Adj-RIB-Out: the router sends, the peer receives
        (True, 1, 2, False),
    ],
)
def test_add_path_negotiation(adj_rib_out, sent_mode, received_mode, expected):
    peer = b.per_peer_header("192.0.2.1", 65001, adj_rib_out=adj_rib_out)
    sent = b.bgp_open(65000, "192.0.2.254", add_path={(1, 1): sent_mode} if sent_mode else None)
    received = b.bgp_open(65001, "192.0.2.1", add_path={(1, 1): received_mode} if received_mode else None)
    events = decode_stream(b.bmp_peer_up(peer, sent, received) + b.bmp_route_monitoring(peer, AMBIGUOUS_V4))
    assert items_of(events[1]) == ((1, True) if expected else (5, False))


def test_add_path_ipv4_and_ipv6_after_peer_up():
    sent = b.bgp_open(65000, "192.0.2.254", multiprotocol=[(1, 1), (2, 1)], add_path={(1, 1): 1, (2, 1): 1})
    received = b.bgp_open(65001, "192.0.2.1", multiprotocol=[(1, 1), (2, 1)], add_path={(1, 1): 2, (2, 1): 2})
    v4_update = b.bgp_update(attributes=[b.origin()], nlri=[("192.0.2.0", 24, 1), ("192.0.2.0", 24, 2)],
                             add_path=True)
    v6_update = b.bgp_update(attributes=[b.origin()],
                             mp_reach=b.mp_reach([("2001:db8::", 32, 5)], "2001:db8::1", link_local="fe80::1"),
                             add_path=True)
    v6_withdraw = b.bgp_update(mp_unreach=b.mp_unreach([("2001:db8::", 32, 5)]), add_path=True)
    stream = b"".join([
        b.bmp_peer_up(PEER, sent, received),
        b.bmp_route_monitoring(PEER, v4_update),
        b.bmp_route_monitoring(PEER, v6_update),
        b.bmp_route_monitoring(PEER, v6_withdraw),
    ])
    _, e4, e6, w6 = decode_stream(stream)
    assert e4.update.announced.prefixes() == [(v4("192.0.2.0"), 24, 1), (v4("192.0.2.0"), 24, 2)]
    assert e6.update.mp_reach.nlri.prefixes() == [(v6("2001:db8::"), 32, 5)]
    assert e6.update.mp_reach.nlri.add_path is True
    assert e6.update.mp_reach.next_hop_link_local == v6("fe80::1")
    assert w6.update.mp_unreach.withdrawn.prefixes() == [(v6("2001:db8::"), 32, 5)]


def test_context_four_octet_and_peer_down_forgets():
    sent = b.bgp_open(65000, "192.0.2.254", add_path={(1, 1): 1})
    received = b.bgp_open(65001, "192.0.2.1", add_path={(1, 1): 2})
    decoder = BmpDecoder()
    decoder.receive_data(b.bmp_peer_up(PEER, sent, received))
    up = decoder.next_event()
    ctx = decoder.peer_context(up.peer.key)
    assert ctx.four_octet_as is True and ctx.add_path == frozenset({(1, 1)})
    decoder.receive_data(b.bmp_peer_down(PEER, 4) + b.bmp_route_monitoring(PEER, AMBIGUOUS_V4))
    assert isinstance(decoder.next_event(), PeerDown)
    assert decoder.peer_context(up.peer.key) is None
    assert items_of(decoder.next_event()) == (5, False)  # back to defaults


def test_context_two_octet_when_one_open_lacks_capability():
    decoder = BmpDecoder()
    decoder.receive_data(peer_up(sent=b.bgp_open(65000, "192.0.2.254", four_octet_as=False)))
    up = decoder.next_event()
    assert decoder.peer_context(up.peer.key).four_octet_as is False


def test_rd_instance_peers_are_distinct():
    red = b.per_peer_header("192.0.2.1", 65001, peer_type=PEER_RD_INSTANCE, distinguisher=(65000 << 32) | 1)
    blue = b.per_peer_header("192.0.2.1", 65001, peer_type=PEER_RD_INSTANCE, distinguisher=(65000 << 32) | 2)
    with_add_path = peer_up(red, sent=b.bgp_open(65000, "192.0.2.254", add_path={(1, 1): 1}),
                            received=b.bgp_open(65001, "192.0.2.1", add_path={(1, 1): 2}))
    stream = with_add_path + peer_up(blue) + b.bmp_route_monitoring(red, AMBIGUOUS_V4) + b.bmp_route_monitoring(
        blue, AMBIGUOUS_V4)
    up_red, up_blue, rm_red, rm_blue = decode_stream(stream)
    assert up_red.peer.distinguisher == (65000 << 32) | 1
    assert up_red.peer.key != up_blue.peer.key
    assert up_red.peer.address == up_blue.peer.address
    assert items_of(rm_red) == (1, True)
    assert items_of(rm_blue) == (5, False)


def test_loc_rib_peer():
    peer = b.per_peer_header("::", 65000, "192.0.2.254", peer_type=PEER_LOC_RIB, distinguisher=7, filtered=True)
    fabricated = b.bgp_open(65000, "192.0.2.254", add_path={(1, 1): 1})
    stream = (
        b.bmp_peer_up(peer, fabricated, fabricated, local_address="::", local_port=0, remote_port=0,
                      tlvs=[(3, "vrf-blue")])
        + b.bmp_route_monitoring(peer, AMBIGUOUS_V4)
        + b.bmp_peer_down(peer, 6, tlvs=[(3, "vrf-blue")])
    )
    up, rm, down = decode_stream(stream)
    assert up.peer.is_loc_rib and up.peer.is_filtered
    assert not up.peer.is_ipv6 and not up.peer.is_post_policy  # F is bit 0x80, not V
    assert up.peer.address == bytes(16) and up.local_address == bytes(16)
    assert up.peer.key == (PEER_LOC_RIB, 7, bytes(16))
    assert up.tlvs[0].text == "vrf-blue"
    assert items_of(rm) == (1, True)
    assert down.reason == 6 and down.tlvs[0].text == "vrf-blue"


# ---------------------------------------------------------------- malformed bodies


MALFORMED = [
    (ROUTE_MONITORING, b.bmp_message(ROUTE_MONITORING, PEER[:30])),  # per-peer header truncated
    (ROUTE_MONITORING, b.bmp_message(ROUTE_MONITORING, PEER + b"\0" * 16 + simple_update()[16:])),  # bad marker
    (ROUTE_MONITORING, b.bmp_route_monitoring(PEER, b.bgp_keepalive())),  # not an UPDATE
    (ROUTE_MONITORING, b.bmp_route_monitoring(PEER, simple_update()[:-2])),  # BGP length overruns
    (ROUTE_MONITORING, b.bmp_route_monitoring(PEER, b.bgp_message(2, b"\x00\x00\x00\x04\x40\x01\x01\x07"))),
    (PEER_UP, b.bmp_message(PEER_UP, peer_up()[6:-10])),  # received OPEN truncated
    (PEER_UP, b.bmp_peer_up(PEER, b.bgp_keepalive(), b.bgp_open(1, 1))),
    (PEER_DOWN, b.bmp_peer_down(PEER, 1)),  # reason 1 without NOTIFICATION
    (PEER_DOWN, b.bmp_peer_down(PEER, 2)),  # reason 2 without FSM event
    (PEER_DOWN, b.bmp_peer_down(PEER, 9)),
    (PEER_DOWN, b.bmp_message(PEER_DOWN, PEER)),
    (TERMINATION, b.bmp_message(TERMINATION, b"\x00\x00\x00\x09abc")),  # TLV overruns
    (1, b.bmp_message(1, PEER + struct.pack(">I", 2) + struct.pack(">HHI", 0, 4, 1))),  # 2 stats announced, 1 sent
]


@pytest.mark.parametrize("msg_type,message", MALFORMED)
def test_malformed_body_then_next_message_decodes(msg_type, message):
    events = decode_stream(message + b.bmp_route_monitoring(PEER, simple_update()))
    assert len(events) == 2
    bad, good = events
    assert isinstance(bad, MalformedMessage)
    assert bad.msg_type == msg_type
    assert not bad.reason.startswith("internal")
    assert isinstance(good, RouteMonitoring)
    assert good.update.announced.prefixes() == [(v4("198.51.100.0"), 24, 0)]


def test_malformed_message_carries_the_peer():
    bad = decode_one(b.bmp_route_monitoring(PEER, b.bgp_keepalive()))
    assert bad.peer.address == v4("192.0.2.1")
    assert decode_one(b.bmp_message(ROUTE_MONITORING, b"\x00")).peer is None


# ---------------------------------------------------------------- framing


@pytest.mark.parametrize(
    "header",
    [
        struct.pack(">BIB", 1, 6, 4),  # version 1
        struct.pack(">BIB", 3, 5, 4),  # length < 6
        struct.pack(">BIB", 3, 6, 7),  # unknown type
        struct.pack(">BIB", 3, (1 << 20) + 1, 0),  # over the message size cap
    ],
)
def test_framing_errors(header):
    decoder = BmpDecoder()
    decoder.receive_data(b.bmp_initiation("r") + header)
    assert isinstance(decoder.next_event(), Initiation)
    with pytest.raises(FramingError):
        decoder.next_event()
    with pytest.raises(FramingError):  # sticky: the session must close
        decoder.next_event()
    with pytest.raises(FramingError):
        decoder.receive_data(b"more")


def test_framing_error_detected_before_the_body_arrives():
    decoder = BmpDecoder()
    decoder.receive_data(struct.pack(">BIB", 3, 1 << 30, 0))
    with pytest.raises(FramingError):
        decoder.next_event()


def test_custom_max_message_size():
    message = b.bmp_route_monitoring(PEER, simple_update())
    assert len(feed([message], max_message_size=len(message))) == 1
    with pytest.raises(FramingError):
        feed([message], max_message_size=len(message) - 1, max_buffer=1 << 20)


def test_buffer_limit():
    decoder = BmpDecoder(max_message_size=1000, max_buffer=2000)
    message = b.bmp_route_monitoring(PEER, simple_update())
    decoder.receive_data(message * (2000 // len(message)))
    with pytest.raises(BufferLimitError):
        decoder.receive_data(message)
    with pytest.raises(BufferLimitError):
        decoder.next_event()


def test_buffer_limit_not_hit_when_drained():
    decoder = BmpDecoder(max_message_size=1000, max_buffer=2000)
    message = b.bmp_route_monitoring(PEER, simple_update())
    for _ in range(100):
        decoder.receive_data(message * 5)
        assert len(list(decoder)) == 5
    assert decoder.buffered == 0


def test_end_of_stream_inside_a_message():
    decoder = BmpDecoder()
    decoder.receive_data(b.bmp_initiation("r")[:-1])
    assert decoder.next_event() is NEED_DATA
    decoder.receive_data(b"")
    with pytest.raises(FramingError):
        decoder.next_event()


def test_end_of_stream_between_messages():
    decoder = BmpDecoder()
    decoder.receive_data(b.bmp_initiation("r"))
    decoder.receive_data(b"")
    assert isinstance(decoder.next_event(), Initiation)
    assert decoder.next_event() is NEED_DATA


def test_only_bmp_errors_are_framing_and_buffer_errors():
    assert issubclass(FramingError, BmpError) and issubclass(BufferLimitError, BmpError)


def test_large_message_in_small_chunks_is_linear():
    # A 1 MB Route Mirroring message fed 100 bytes at a time, then many small
    # messages: quadratic buffering would take minutes.
    big = b.bmp_route_mirroring(PEER, tlvs=[(2, bytes(60000))] * 17)
    small = b.bmp_route_monitoring(PEER, simple_update()) * 20000
    stream = big + small
    decoder = BmpDecoder(max_message_size=2 << 20)
    start = time.perf_counter()
    count = 0
    for i in range(0, len(stream), 100):
        decoder.receive_data(stream[i : i + 100])
        while decoder.next_event() is not NEED_DATA:
            count += 1
    assert count == 20001
    assert time.perf_counter() - start < 10


# ---------------------------------------------------------------- a whole session


def test_whole_session_in_any_chunking():
    sent = b.bgp_open(65000, "192.0.2.254", multiprotocol=[(1, 1), (2, 1)], add_path={(2, 1): 1})
    received = b.bgp_open(65001, "192.0.2.1", multiprotocol=[(1, 1), (2, 1)], add_path={(2, 1): 2})
    stream = b"".join([
        b.bmp_initiation("r1", "test router"),
        b.bmp_peer_up(PEER, sent, received),
        b.bmp_route_monitoring(PEER, simple_update("10.0.0.0/8")),
        b.bmp_route_monitoring(PEER, b.bgp_update(
            attributes=[b.origin(), b.as_path([65001])],
            mp_reach=b.mp_reach([("2001:db8::", 32, 3)], "2001:db8::1"), add_path={(2, 1)})),
        b.bmp_route_monitoring(PEER, b.end_of_rib()),
        b.bmp_stats_report(PEER, [(0, 1), (7, 10)]),
        b.bmp_route_mirroring(PEER, information=0),
        b.bmp_route_monitoring(PEER, b.bgp_update(withdrawn=["10.0.0.0/8"])),
        b.bmp_peer_down(PEER, 2, fsm_event=1),
        b.bmp_termination(reason=0),
    ])
    for seed in range(5):
        events = decode_stream(stream, seed=seed)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Initiation", "PeerUp", "RouteMonitoring", "RouteMonitoring", "RouteMonitoring",
                     "StatsReport", "RouteMirroring", "RouteMonitoring", "PeerDown", "Termination"]
    assert events[3].update.mp_reach.nlri.prefixes() == [(v6("2001:db8::"), 32, 3)]
    assert events[4].update.end_of_rib == (1, 1)
    assert events[7].update.withdrawn.prefixes() == [(v4("10.0.0.0"), 8, 0)]
