"""Hypothesis fuzzing of the BMP decoder and the BGP codec.

Properties: whatever the bytes and however they are chunked,
- only BmpError subclasses leave BmpDecoder.receive_data / next_event, and only
  BgpError leaves the nxthdr.bgp.decode functions;
- the decoder never loops: every event consumes at least a 6-byte header;
- the guard rail that turns an unexpected exception into a MalformedMessage
  ("internal decoder error") never fires: every malformed input is caught by an
  explicit check.
"""

from __future__ import annotations

import os
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nxthdr.bgp.decode import decode_message, decode_notification, decode_open, decode_update
from nxthdr.bgp.types import BgpError
from nxthdr.bmp import builder as b
from nxthdr.bmp.decoder import BmpDecoder
from nxthdr.bmp.events import NEED_DATA, BmpError, MalformedMessage

# About 10 s in all by default; NXTHDR_FUZZ_EXAMPLES=20000 for a deeper run.
FUZZ = settings(
    max_examples=int(os.environ.get("NXTHDR_FUZZ_EXAMPLES", "1000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

PEER = b.per_peer_header("192.0.2.1", 65001, timestamp_ns=1_700_000_000_000_000_000)
PEER6 = b.per_peer_header("2001:db8::1", 65002, adj_rib_out=True, post_policy=True)
LOC_RIB = b.per_peer_header("::", 65000, "192.0.2.254", peer_type=3, distinguisher=1)
LEGACY = b.per_peer_header("192.0.2.2", 65003, legacy_as_path=True)

OPEN_SENT = b.bgp_open(65000, "192.0.2.254", multiprotocol=[(1, 1), (2, 1)], add_path={(1, 1): 3, (2, 1): 3})
OPEN_RECEIVED = b.bgp_open(400000, "192.0.2.1", multiprotocol=[(1, 1), (2, 1)], add_path={(1, 1): 3, (2, 1): 3},
                           parameter_per_capability=True)

FULL_UPDATE = b.bgp_update(
    withdrawn=["10.0.0.0/8"],
    attributes=[
        b.origin("EGP"),
        b.as_path(segments=[(2, [65001, 65002]), (1, [65003, 65004]), (3, [64512])]),
        b.next_hop("192.0.2.1"),
        b.med(1),
        b.local_pref(2),
        b.atomic_aggregate(),
        b.aggregator(400000, "192.0.2.9"),
        b.communities((65001, 1), (65535, 65281)),
        b.extended_communities(bytes.fromhex("0002fde800000001")),
        b.ipv6_extended_communities(bytes(20)),
        b.large_communities((1, 2, 3)),
        b.originator_id("10.0.0.1"),
        b.cluster_list("10.0.0.2"),
        b.only_to_customer(65001),
        b.path_attribute(99, b"unknown"),
    ],
    nlri=["192.0.2.0/24", "198.51.100.0/25"],
)
ADD_PATH_UPDATE = b.bgp_update(
    attributes=[b.origin(), b.as_path([65001])],
    nlri=[("192.0.2.0", 24, 1)],
    mp_reach=b.mp_reach([("2001:db8::", 32, 2)], "2001:db8::1", link_local="fe80::1"),
    mp_unreach=b.mp_unreach([("2001:db8:1::", 48, 3)]),
    add_path=True,
)
TWO_OCTET_UPDATE = b.bgp_update(
    attributes=[b.as_path([65001, 23456]), b.as4_path([400000]), b.aggregator(400000, 1), b.as4_aggregator(400000, 1)],
    nlri=["203.0.113.0/24"],
    four_octet_as=False,
)

SEEDS = [
    b.bmp_initiation("router", "descr", tlvs=[(0, "x")]),
    b.bmp_peer_up(PEER, OPEN_SENT, OPEN_RECEIVED, tlvs=[(0, "up")]),
    b.bmp_peer_up(LOC_RIB, OPEN_SENT, OPEN_SENT, local_address="::"),
    b.bmp_route_monitoring(PEER, FULL_UPDATE),
    b.bmp_route_monitoring(PEER, ADD_PATH_UPDATE),
    b.bmp_route_monitoring(PEER6, b.bgp_update(mp_reach=b.mp_reach(["192.0.2.0/24"], "2001:db8::1"))),
    b.bmp_route_monitoring(LEGACY, TWO_OCTET_UPDATE),
    b.bmp_route_monitoring(LOC_RIB, b.end_of_rib(2, 1)),
    b.bmp_route_monitoring(PEER, b.end_of_rib()),
    b.bmp_stats_report(PEER, [(0, 1), (7, 2), (9, 2, 1, 3), (300, b"\x01")]),
    b.bmp_route_mirroring(PEER, bgp_messages=[FULL_UPDATE], information=1),
    b.bmp_peer_down(PEER, 1, notification=b.bgp_notification(6, 2, b"bye")),
    b.bmp_peer_down(PEER, 2, fsm_event=3),
    b.bmp_peer_down(LOC_RIB, 6, tlvs=[(3, "vrf")]),
    b.bmp_termination(reason=1),
]
SESSION = b"".join(SEEDS)


def run_decoder(chunks: list[bytes]) -> list:
    """Feed chunks; stop at the first BmpError (the session would close)."""
    decoder = BmpDecoder(max_message_size=1 << 16, max_buffer=1 << 17)
    total = sum(len(c) for c in chunks)
    events = []
    try:
        for chunk in chunks:
            decoder.receive_data(chunk)
            while (event := decoder.next_event()) is not NEED_DATA:
                events.append(event)
                # Each event consumes >= 6 bytes: more events means a loop.
                assert len(events) <= total // 6
        decoder.receive_data(b"")
        assert decoder.next_event() is NEED_DATA
    except BmpError:
        pass
    for event in events:
        if isinstance(event, MalformedMessage):
            assert not event.reason.startswith("internal decoder error"), event.reason
    return events


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = []
    last = 0
    for p in [*points, len(data)]:
        chunks.append(data[last:p])
        last = p
    return [c for c in chunks if c]


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """Flip, insert, delete bytes or truncate."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if not out:
            break
        i = draw(st.integers(0, len(out) - 1))
        if op == "flip":
            out[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            out[i] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, draw(st.integers(0, 255))]))
        elif op == "insert":
            out[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del out[i : i + draw(st.integers(1, 8))]
        else:
            del out[i:]
    return bytes(out)


@st.composite
def mutated_body(draw) -> bytes:
    """A seed message whose body is mutated but whose BMP header stays consistent,
    so the body decoders (not the framing) see the damage."""
    seed = draw(st.sampled_from(SEEDS))
    body = draw(mutated(seed[6:]))
    return struct.pack(">BIB", 3, 6 + len(body), seed[5]) + body


@FUZZ
@given(st.binary(max_size=300), st.lists(st.integers(0, 1000), max_size=8))
def test_random_bytes(data, cuts):
    run_decoder(split(data, cuts))


@FUZZ
@given(st.binary(max_size=200), st.integers(0, 6))
def test_random_bodies_with_valid_header(body, msg_type):
    run_decoder([struct.pack(">BIB", 3, 6 + len(body), msg_type) + body])


@FUZZ
@given(st.data(), st.lists(st.integers(0, 5000), max_size=10))
def test_mutated_session(data, cuts):
    run_decoder(split(data.draw(mutated(SESSION)), cuts))


@FUZZ
@given(st.lists(mutated_body(), min_size=1, max_size=4), st.lists(st.integers(0, 2000), max_size=6))
def test_mutated_bodies_then_valid_message(bodies, cuts):
    # A malformed body must not cost the messages after it.
    tail = b.bmp_route_monitoring(PEER, FULL_UPDATE)
    events = run_decoder(split(b"".join(bodies) + tail, cuts))
    assert len(events) == len(bodies) + 1
    assert events[-1].update.announced.items  # the valid message still decodes


BGP_BODIES = [FULL_UPDATE[19:], ADD_PATH_UPDATE[19:], TWO_OCTET_UPDATE[19:], b.end_of_rib(2, 1)[19:]]


@FUZZ
@given(st.data(), st.booleans(), st.sampled_from([None, True, {(2, 1)}]))
def test_bgp_update_only_raises_bgp_error(data, four, add_path):
    raw = data.draw(st.one_of(st.binary(max_size=120), mutated(data.draw(st.sampled_from(BGP_BODIES)))))
    try:
        decode_update(raw, four_octet_as=four, add_path=add_path)
    except BgpError:
        pass


@FUZZ
@given(st.data())
def test_bgp_open_notification_message_only_raise_bgp_error(data):
    raw = data.draw(st.one_of(st.binary(max_size=80), mutated(OPEN_RECEIVED), mutated(OPEN_SENT)))
    for decode in (decode_message, lambda r: decode_open(r[19:]), lambda r: decode_notification(r[19:])):
        try:
            decode(raw)
        except BgpError:
            pass
