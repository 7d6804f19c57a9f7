"""BGP-4 decoding: builder -> nxthdr.bgp.decode round trips and edge cases."""

from __future__ import annotations

import struct

import pytest

from nxthdr.bgp.decode import (
    AS_CONFED_SEQUENCE,
    AS_SET,
    AS_SEQUENCE,
    AttributeCache,
    decode_message,
    decode_notification,
    decode_open,
    decode_update,
    split_message,
)
from nxthdr.bgp.types import (
    AFI_IPV4,
    AFI_IPV6,
    EMPTY_ATTRIBUTES,
    SAFI_MULTICAST,
    SAFI_UNICAST,
    ZERO16,
    BgpError,
    ExtendedCommunity,
    Notification,
)
from nxthdr.bmp import builder as b

from .helpers import ip_int, v4, v6


def body(message: bytes) -> bytes:
    """Body of a BGP message (after the 19-byte header)."""
    return message[19:]


def update(**kwargs):
    four = kwargs.pop("decode_four_octet_as", True)
    add_path = kwargs.pop("decode_add_path", None)
    return decode_update(body(b.bgp_update(**kwargs)), four_octet_as=four, add_path=add_path)


def attrs(*attributes, four_octet_as=True):
    return update(attributes=list(attributes), nlri=["192.0.2.0/24"], four_octet_as=four_octet_as,
                  decode_four_octet_as=four_octet_as).attributes


# ---------------------------------------------------------------- header


def test_split_message_checks_marker_and_length():
    msg = b.bgp_keepalive()
    assert split_message(msg) == (4, 19, 19)
    with pytest.raises(BgpError):
        split_message(b"\0" * 16 + msg[16:])
    with pytest.raises(BgpError):
        split_message(msg[:18])
    with pytest.raises(BgpError):
        split_message(msg[:16] + struct.pack(">HB", 18, 4))
    with pytest.raises(BgpError):
        split_message(msg[:16] + struct.pack(">HB", 20, 4))
    assert decode_message(msg) == 4


# ---------------------------------------------------------------- OPEN


def test_open_capabilities_in_one_parameter():
    msg = b.bgp_open(
        400000, "192.0.2.1", 90,
        multiprotocol=[(1, 1), (2, 1)],
        add_path={(1, 1): 3, (2, 1): 1},
        extra_capabilities=[(2, b""), (128, b"\x01")],
    )
    opened = decode_open(body(msg))
    assert opened.version == 4
    assert opened.asn == 23456  # AS_TRANS in My Autonomous System
    assert opened.effective_asn == 400000
    assert opened.hold_time == 90
    assert opened.bgp_id == ip_int("192.0.2.1")
    caps = opened.capabilities
    assert caps.four_octet_asn == 400000
    assert caps.multiprotocol == frozenset({(1, 1), (2, 1)})
    assert caps.add_path == {(1, 1): 3, (2, 1): 1}
    assert caps.codes == (1, 1, 65, 69, 2, 128)
    assert decode_message(msg) == opened


def test_open_capabilities_spread_over_parameters():
    one = decode_open(body(b.bgp_open(65001, "10.0.0.1", add_path={(2, 1): 2})))
    spread = decode_open(body(b.bgp_open(65001, "10.0.0.1", add_path={(2, 1): 2}, parameter_per_capability=True)))
    assert spread == one
    assert spread.asn == spread.effective_asn == 65001
    assert spread.capabilities.add_path == {(2, 1): 2}


def test_open_extended_optional_parameters_rfc9072():
    many = [(200, bytes(200)), (201, bytes(100))]  # more than 255 bytes of parameters
    msg = b.bgp_open(65001, "10.0.0.1", extra_capabilities=many, parameter_per_capability=True, extended_parameters=True)
    opened = decode_open(body(msg))
    assert opened.capabilities.codes == (1, 65, 200, 201)
    assert opened.capabilities.four_octet_asn == 65001


def test_open_without_capabilities():
    raw = struct.pack(">BHHIB", 4, 65001, 180, 1, 0)
    opened = decode_open(raw)
    assert opened.capabilities.four_octet_asn is None
    assert opened.capabilities.codes == ()
    assert opened.effective_asn == 65001


@pytest.mark.parametrize(
    "raw",
    [
        b"\x04\x00",  # shorter than the fixed part
        struct.pack(">BHHIB", 4, 1, 180, 1, 5) + b"\x02\x03\x01",  # parameters overrun
        struct.pack(">BHHIB", 4, 1, 180, 1, 4) + b"\x02\x02\x41\x04",  # capability overruns parameter
        struct.pack(">BHHIB", 4, 1, 180, 1, 4) + b"\x02\x02\x41\x00",  # 4-octet AS of length 0
        struct.pack(">BHHIB", 4, 1, 180, 1, 5) + b"\x02\x03\x45\x01\x00",  # ADD-PATH length 1
        struct.pack(">BHHIB", 4, 1, 180, 1, 255) + b"\xff\x00",  # RFC 9072 length truncated
    ],
)
def test_open_malformed(raw):
    with pytest.raises(BgpError):
        decode_open(raw)


def test_notification():
    msg = b.bgp_notification(6, 2, b"shutdown")
    assert decode_notification(body(msg)) == Notification(code=6, subcode=2, data=b"shutdown")
    assert decode_message(msg) == Notification(6, 2, b"shutdown")
    with pytest.raises(BgpError):
        decode_notification(b"\x06")


# ---------------------------------------------------------------- attributes


def test_typical_attributes():
    a = attrs(
        b.origin("IGP"),
        b.as_path([65001, 65002, 65002, 65003]),
        b.next_hop("192.0.2.254"),
        b.med(50),
        b.local_pref(200),
        b.communities((65001, 100), (0xFFFF, 0xFF01), 0xFFFFFF02),
    )
    assert a.origin == "IGP"
    assert a.as_path == (65001, 65002, 65002, 65003)  # prepends kept
    assert a.next_hop == v4("192.0.2.254")
    assert a.med == 50
    assert a.local_pref == 200
    assert a.communities == ((65001, 100), (65535, 65281), (65535, 65282))
    assert a.unknown == ()


@pytest.mark.parametrize("name,code", [("IGP", 0), ("EGP", 1), ("INCOMPLETE", 2)])
def test_origin_values(name, code):
    assert attrs(b.origin(code)).origin == name


def test_every_other_attribute():
    ec = ExtendedCommunity(0x00, 0x02, struct.pack(">HI", 65001, 7))
    ec6 = ExtendedCommunity(0x00, 0x02, v6("2001:db8::1") + b"\x00\x07")
    a = attrs(
        b.atomic_aggregate(),
        b.aggregator(400000, "198.51.100.1"),
        b.extended_communities(ec, bytes.fromhex("0003000000000001")),
        b.ipv6_extended_communities(ec6),
        b.large_communities((400000, 1, 2), (65001, 0, 4294967295)),
        b.originator_id("10.0.0.7"),
        b.cluster_list("10.0.0.1", 42),
        b.only_to_customer(65010),
    )
    assert a.atomic_aggregate is True
    assert (a.aggregator_asn, a.aggregator_bgp_id) == (400000, ip_int("198.51.100.1"))
    assert a.extended_communities == (ec, ExtendedCommunity(0, 3, bytes.fromhex("000000000001")), ec6)
    assert len(a.extended_communities[2].value) == 18
    assert a.large_communities == ((400000, 1, 2), (65001, 0, 4294967295))
    assert a.originator_id == ip_int("10.0.0.7")
    assert a.cluster_list == (ip_int("10.0.0.1"), 42)
    assert a.only_to_customer == 65010
    assert a.origin == "" and a.as_path == () and a.next_hop == ZERO16


def test_aggregator_six_bytes_on_two_octet_session():
    a = attrs(b.as_path([65001]), b.aggregator(65001, "192.0.2.9"), four_octet_as=False)
    assert (a.aggregator_asn, a.aggregator_bgp_id) == (65001, ip_int("192.0.2.9"))


def test_extended_length_attribute():
    many = [(65000, i) for i in range(100)]  # 400 bytes: needs the extended-length flag
    raw = b.communities(*many).encode()
    assert raw[0] & 0x10 and len(raw) == 404
    assert attrs(b.communities(*many)).communities == tuple(many)
    # The extended-length flag may also be used for short values.
    short = b.path_attribute(4, struct.pack(">I", 9), flags=0x80 | 0x10)
    assert attrs(short).med == 9


def test_unknown_attributes_are_skipped_and_recorded():
    a = attrs(b.med(1), b.path_attribute(99, b"whatever"), b.path_attribute(128, bytes(300)), b.local_pref(5))
    assert a.med == 1 and a.local_pref == 5
    assert a.unknown == (99, 128)


def test_duplicate_attribute_first_one_counts():
    a = attrs(b.med(1), b.med(2))
    assert a.med == 1


def test_as_set_and_confederation_segments_dropped():
    path = b.as_path(segments=[(AS_CONFED_SEQUENCE, [64512]), (AS_SEQUENCE, [65001, 65002]), (AS_SET, [65003, 65004])])
    assert attrs(path).as_path == (65001, 65002)


def test_long_as_path_split_in_segments():
    asns = list(range(1, 301))
    assert attrs(b.as_path(asns)).as_path == tuple(asns)


def test_two_octet_as_path():
    a = update(attributes=[b.as_path([65001, 65002])], four_octet_as=False, decode_four_octet_as=False).attributes
    assert a.as_path == (65001, 65002)


@pytest.mark.parametrize("encoded_four", [True, False])
def test_as_path_width_heuristic(encoded_four):
    # The path is decoded with the wrong width first, then retried with the other.
    a = update(attributes=[b.as_path([65001, 65002, 3356])], four_octet_as=encoded_four,
               decode_four_octet_as=not encoded_four).attributes
    assert a.as_path == (65001, 65002, 3356)


def test_as_path_unparseable_with_both_widths():
    bad = b.path_attribute(2, bytes([2, 3, 0, 1]))  # 3 ASes announced, 2 bytes present
    with pytest.raises(BgpError):
        attrs(bad)


# ---------------------------------------------------------------- RFC 6793


def two_octet(*attributes):
    return update(attributes=list(attributes), nlri=["192.0.2.0/24"], four_octet_as=False,
                  decode_four_octet_as=False).attributes


def test_as4_path_merged_for_two_octet_session():
    # Real path 65001 400000 400001 65002: the 2-octet speaker 65001 sees AS_TRANS
    # for the 4-octet ASes and prepends itself in AS_PATH only.
    a = two_octet(b.as_path([65001, 400000, 400001, 65002]), b.as4_path([400000, 400001, 65002]))
    assert a.as_path == (65001, 400000, 400001, 65002)


def test_as4_path_merge_keeps_leading_prepends():
    a = two_octet(b.as_path([65001, 65001, 23456, 65002]), b.as4_path([400000, 65002]))
    assert a.as_path == (65001, 65001, 400000, 65002)


def test_as4_path_longer_than_as_path_ignored():
    a = two_octet(b.as_path([65001, 23456]), b.as4_path([400000, 400001, 400002]))
    assert a.as_path == (65001, 23456)


def test_as4_path_with_as_set_counts_one():
    path = b.as_path(segments=[(AS_SEQUENCE, [65001, 23456]), (AS_SET, [65010, 65011])])
    as4 = b.as4_path(segments=[(AS_SEQUENCE, [400000]), (AS_SET, [65010, 65011])])
    assert two_octet(path, as4).as_path == (65001, 400000)


def test_as4_aggregator_replaces_as_trans_aggregator():
    a = two_octet(
        b.as_path([65001, 23456]),
        b.as4_path([400000]),
        b.aggregator(400000, "192.0.2.1"),  # written as AS_TRANS on a 2-octet session
        b.as4_aggregator(400000, "192.0.2.1"),
    )
    assert a.aggregator_asn == 400000
    assert a.as_path == (65001, 400000)


def test_as4_attributes_ignored_when_aggregator_is_not_as_trans():
    a = two_octet(
        b.as_path([65001, 23456]),
        b.as4_path([400000]),
        b.aggregator(65005, "192.0.2.1"),
        b.as4_aggregator(400000, "192.0.2.1"),
    )
    assert a.aggregator_asn == 65005
    assert a.as_path == (65001, 23456)


def test_as4_path_ignored_on_four_octet_session():
    a = attrs(b.as_path([65001, 400000]), b.as4_path([1, 2, 3]))
    assert a.as_path == (65001, 400000)


def test_malformed_as4_path_discarded():
    a = two_octet(b.as_path([65001, 23456]), b.path_attribute(17, bytes([2, 5, 0])))
    assert a.as_path == (65001, 23456)
    assert a.unknown == (17,)


# ---------------------------------------------------------------- NLRI


def test_ipv4_nlri_and_withdrawn():
    u = update(withdrawn=["10.0.0.0/8", "0.0.0.0/0"], attributes=[b.origin()],
               nlri=["192.0.2.0/24", "198.51.100.128/25", "203.0.113.7/32"])
    assert u.withdrawn.prefixes() == [(v4("10.0.0.0"), 8, 0), (v4("0.0.0.0"), 0, 0)]
    assert u.announced.prefixes() == [(v4("192.0.2.0"), 24, 0), (v4("198.51.100.128"), 25, 0), (v4("203.0.113.7"), 32, 0)]
    assert u.announced.items[0] == bytes([24, 192, 0, 2])  # wire slices
    assert (u.announced.afi, u.announced.safi, u.announced.add_path) == (1, 1, False)
    assert u.mp_reach is None and u.mp_unreach is None and u.end_of_rib is None


def test_ipv4_add_path():
    u = update(attributes=[b.origin()], nlri=[("192.0.2.0", 24, 7), ("192.0.2.0", 24, 8)],
               withdrawn=[("10.0.0.0", 8, 1)], add_path=True, decode_add_path={(1, 1)})
    assert u.announced.add_path is True
    assert u.announced.prefixes() == [(v4("192.0.2.0"), 24, 7), (v4("192.0.2.0"), 24, 8)]
    assert u.withdrawn.prefixes() == [(v4("10.0.0.0"), 8, 1)]
    assert u.announced.items[0] == bytes([0, 0, 0, 7, 24, 192, 0, 2])


def test_add_path_spec_forms():
    msg = body(b.bgp_update(nlri=[("0.0.0.0", 0, 0)], add_path=True))  # ambiguous: 5 zero bytes
    assert decode_update(msg, add_path=True).announced.prefixes() == [(v4("0.0.0.0"), 0, 0)]
    assert decode_update(msg, add_path=lambda afi, safi: afi == 1).announced.add_path is True
    assert decode_update(msg, add_path=[(1, 1)]).announced.add_path is True
    # Without ADD-PATH the same bytes are five default routes: the expected mode wins.
    assert len(decode_update(msg, add_path=None).announced.items) == 5


def test_nlri_add_path_heuristic_both_ways():
    with_ids = body(b.bgp_update(attributes=[b.origin()], nlri=[("198.51.100.0", 24, 1)], add_path=True))
    u = decode_update(with_ids, add_path=False)
    assert u.announced.add_path is True
    assert u.announced.prefixes() == [(v4("198.51.100.0"), 24, 1)]
    without = body(b.bgp_update(attributes=[b.origin()], nlri=["198.51.100.0/24"]))
    u = decode_update(without, add_path=True)
    assert u.announced.add_path is False
    assert u.announced.prefixes() == [(v4("198.51.100.0"), 24, 0)]


@pytest.mark.parametrize(
    "nlri",
    [
        # IPv4 length > 32. (With one more byte it would parse as an ADD-PATH
        # item: the retry heuristic accepts any valid reading.)
        bytes([33, 1, 2, 3, 4]),
        bytes([24, 192, 0]),  # truncated prefix
    ],
)
def test_invalid_ipv4_nlri(nlri):
    raw = body(b.bgp_update(attributes=[b.origin()])) + nlri
    with pytest.raises(BgpError):
        decode_update(raw)


def test_mp_reach_ipv6_global_next_hop():
    u = update(attributes=[b.origin(), b.as_path([65001])],
               mp_reach=b.mp_reach(["2001:db8::/32", "2001:db8:1::/48"], "2001:db8::1"))
    r = u.mp_reach
    assert (r.afi, r.safi) == (AFI_IPV6, SAFI_UNICAST)
    assert r.next_hop == v6("2001:db8::1") and r.next_hop_link_local == ZERO16
    assert r.nlri.prefixes() == [(v6("2001:db8::"), 32, 0), (v6("2001:db8:1::"), 48, 0)]
    assert u.attributes.as_path == (65001,)
    assert u.announced.items == ()


def test_mp_reach_ipv6_link_local_next_hop():
    r = update(mp_reach=b.mp_reach(["2001:db8::/32"], "2001:db8::1", link_local="fe80::1")).mp_reach
    assert r.next_hop == v6("2001:db8::1")
    assert r.next_hop_link_local == v6("fe80::1")


def test_mp_reach_rfc8950_ipv6_next_hop_for_ipv4():
    r = update(mp_reach=b.mp_reach(["192.0.2.0/24"], "2001:db8::1", link_local="fe80::2")).mp_reach
    assert (r.afi, r.safi) == (AFI_IPV4, SAFI_UNICAST)
    assert r.next_hop == v6("2001:db8::1") and r.next_hop_link_local == v6("fe80::2")
    assert r.nlri.prefixes() == [(v4("192.0.2.0"), 24, 0)]


def test_mp_reach_ipv4_multicast_with_ipv4_next_hop():
    r = update(mp_reach=b.mp_reach(["232.0.0.0/8"], "192.0.2.1", safi=SAFI_MULTICAST)).mp_reach
    assert (r.afi, r.safi) == (1, 2)
    assert r.next_hop == v4("192.0.2.1")
    assert r.nlri.prefixes() == [(v4("232.0.0.0"), 8, 0)]


def test_mp_reach_and_unreach_ipv6_add_path():
    u = update(
        mp_reach=b.mp_reach([("2001:db8::", 32, 11)], "2001:db8::1"),
        mp_unreach=b.mp_unreach([("2001:db8:ffff::", 48, 12)]),
        add_path={(2, 1)},
        decode_add_path={(2, 1)},
    )
    assert u.mp_reach.nlri.add_path is True
    assert u.mp_reach.nlri.prefixes() == [(v6("2001:db8::"), 32, 11)]
    assert u.mp_unreach.withdrawn.prefixes() == [(v6("2001:db8:ffff::"), 48, 12)]


def test_ipv6_prefix_length_over_128():
    raw = b.path_attribute(14, struct.pack(">HBB", 2, 1, 16) + v6("2001:db8::1") + b"\0" + bytes([129]) + bytes(17))
    with pytest.raises(BgpError):
        update(attributes=[raw])


def test_mp_reach_bad_next_hop_length():
    raw = b.path_attribute(14, struct.pack(">HBB", 2, 1, 5) + bytes(5) + b"\0")
    with pytest.raises(BgpError):
        update(attributes=[raw])


def test_other_families_kept_unparsed():
    # VPNv4 (SAFI 128) and EVPN (AFI 25 SAFI 70): AFI/SAFI kept, NLRI not parsed, never fatal.
    vpn = b.path_attribute(14, struct.pack(">HBB", 1, 128, 12) + bytes(12) + b"\0" + b"\xff\xfe garbage")
    evpn = b.path_attribute(15, struct.pack(">HB", 25, 70) + b"\x02\x21 not parsed")
    u = update(attributes=[b.origin(), vpn, evpn])
    assert (u.mp_reach.afi, u.mp_reach.safi, u.mp_reach.nlri.items) == (1, 128, ())
    assert (u.mp_unreach.afi, u.mp_unreach.safi, u.mp_unreach.withdrawn.items) == (25, 70, ())
    assert u.attributes.origin == "IGP"


def test_duplicate_mp_reach_is_malformed():
    one = b.mp_reach(["2001:db8::/32"], "2001:db8::1").attribute().encode()
    with pytest.raises(BgpError):
        update(attributes=[one, one])


# ---------------------------------------------------------------- End-of-RIB


def test_end_of_rib_ipv4():
    u = decode_update(body(b.end_of_rib()))
    assert u.end_of_rib == (AFI_IPV4, SAFI_UNICAST)
    assert u.attributes == EMPTY_ATTRIBUTES


def test_end_of_rib_mp_unreach():
    assert decode_update(body(b.end_of_rib(AFI_IPV6, SAFI_UNICAST))).end_of_rib == (2, 1)
    assert decode_update(body(b.end_of_rib(AFI_IPV4, SAFI_MULTICAST))).end_of_rib == (1, 2)


def test_not_end_of_rib():
    assert update(attributes=[b.origin()]).end_of_rib is None  # attributes but no prefix
    assert update(mp_unreach=b.mp_unreach(["2001:db8::/32"])).end_of_rib is None
    assert update(withdrawn=["10.0.0.0/8"]).end_of_rib is None


# ---------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    "attribute",
    [
        b.path_attribute(1, b"\x03"),  # ORIGIN 3
        b.path_attribute(1, b"\x00\x00"),  # ORIGIN length 2
        b.path_attribute(3, b"\x01\x02\x03"),  # NEXT_HOP length 3
        b.path_attribute(4, b"\x00"),  # MED length 1
        b.path_attribute(5, b""),  # LOCAL_PREF length 0
        b.path_attribute(8, b"\x00\x01\x02"),  # COMMUNITIES not a multiple of 4
        b.path_attribute(16, bytes(7)),  # EXTENDED_COMMUNITIES not a multiple of 8
        b.path_attribute(25, bytes(19)),
        b.path_attribute(32, bytes(11)),
        b.path_attribute(9, bytes(3)),
        b.path_attribute(10, bytes(5)),
        b.path_attribute(35, bytes(2)),
        b.path_attribute(14, b"\x00\x02"),  # MP_REACH shorter than its header
        b.path_attribute(15, b"\x00"),
    ],
)
def test_malformed_attribute(attribute):
    with pytest.raises(BgpError):
        update(attributes=[attribute], nlri=["192.0.2.0/24"])


def test_discarded_attributes_rfc7606():
    a = attrs(b.path_attribute(6, b"\x01"), b.path_attribute(7, bytes(5)), b.med(3))
    assert a.atomic_aggregate is False and a.aggregator_asn == 0
    assert a.unknown == (6, 7)
    assert a.med == 3


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00",
        b"\x00\x05\x00\x00",  # withdrawn length overruns
        b"\x00\x00\x00\x09\x40\x01\x01\x00",  # attributes length overruns
        b"\x00\x00\x00\x02\x40\x01",  # attribute header truncated
        b"\x00\x00\x00\x03\x50\x01\x00",  # extended length header truncated
        b"\x00\x00\x00\x04\x40\x01\x05\x00",  # attribute overruns
    ],
)
def test_malformed_update(raw):
    with pytest.raises(BgpError):
        decode_update(raw)


def test_every_truncation_raises_only_bgp_error():
    full = body(b.bgp_update(
        withdrawn=["10.0.0.0/8"],
        attributes=[b.origin(), b.as_path([1, 2, 3]), b.next_hop("192.0.2.1"), b.communities((1, 2)),
                    b.large_communities((1, 2, 3))],
        mp_reach=b.mp_reach(["2001:db8::/32"], "2001:db8::1", link_local="fe80::1"),
        nlri=["192.0.2.0/24"],
    ))
    for n in range(len(full)):
        try:
            decode_update(full[:n])
        except BgpError:
            pass


def test_accepts_memoryview_and_bytearray():
    raw = body(b.bgp_update(attributes=[b.origin()], nlri=["192.0.2.0/24"]))
    expected = decode_update(raw)
    assert decode_update(memoryview(raw)) == expected
    assert decode_update(bytearray(raw)) == expected
    assert type(decode_update(memoryview(raw)).announced.items[0]) is bytes


# ---------------------------------------------------------------- cache


def test_cache_gives_the_same_result():
    cache = AttributeCache(max_size=4)
    messages = [
        body(b.bgp_update(attributes=[b.origin(), b.as_path([65001, i % 3])], nlri=[f"10.{i}.0.0/16"]))
        for i in range(10)
    ] + [
        body(b.bgp_update(attributes=[b.origin(), b.as_path([65001, i % 3])],
                          mp_reach=b.mp_reach([f"2001:db8:{i}::/48"], "2001:db8::1")))
        for i in range(10)
    ]
    for raw in messages * 2:
        assert decode_update(raw, cache=cache) == decode_update(raw)
    assert len(cache) <= 2 * 4
    assert cache.hits > 0 and cache.misses > 0


def test_cache_separates_as_widths():
    cache = AttributeCache()
    raw = body(b.bgp_update(attributes=[b.as_path([1, 2])], nlri=["10.0.0.0/8"], four_octet_as=True))
    four = decode_update(raw, four_octet_as=True, cache=cache).attributes.as_path
    two = decode_update(raw, four_octet_as=False, cache=cache).attributes.as_path
    assert four == (1, 2)
    # Read as 2-octet, the 4-octet bytes give a different (but valid) path.
    assert two == decode_update(raw, four_octet_as=False).attributes.as_path


def test_cache_with_mp_attribute_first_and_last():
    cache = AttributeCache()
    common = [b.origin(), b.as_path([65001]), b.med(5)]
    first = b.bgp_update(attributes=common, mp_reach=b.mp_reach(["2001:db8:1::/48"], "2001:db8::1"))
    last = b.bgp_update(attributes=[*common, b.mp_reach(["2001:db8:2::/48"], "2001:db8::2").attribute()])
    a = decode_update(body(first), cache=cache)
    c = decode_update(body(last), cache=cache)
    assert a.attributes is c.attributes  # shared through the cache
    assert c.mp_reach.nlri.prefixes() == [(v6("2001:db8:2::"), 48, 0)]
    assert c.mp_reach.next_hop == v6("2001:db8::2")
