"""The builder against wire bytes written out by hand from the RFCs, so that
builder and decoder are not only consistent with each other."""

from __future__ import annotations

import pytest

from nxthdr.bmp import builder as b


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


MARKER = "ff" * 16


def test_bmp_common_header_and_information_tlv():
    # RFC 7854 §4.1: version 3, length 11 (6 + TLV 4 + 1), type 4; §4.4 TLV type 2 sysName.
    assert b.bmp_initiation("r") == h("03 0000000b 04  0002 0001 72")


def test_per_peer_header_ipv4():
    # §4.2: type, flags, distinguisher (8), address (IPv4 in the last 4 bytes),
    # AS, BGP id, seconds, microseconds.
    raw = b.per_peer_header("192.0.2.1", 65001, "192.0.2.1", timestamp_ns=1_000_002_000)
    assert raw == h(
        "00 00 0000000000000000 000000000000000000000000c0000201 0000fde9 c0000201 00000001 00000002"
    )


def test_per_peer_header_flags():
    assert b.per_peer_header("2001:db8::1", post_policy=True)[1] == 0x80 | 0x40
    assert b.per_peer_header("192.0.2.1", legacy_as_path=True, adj_rib_out=True)[1] == 0x20 | 0x10
    assert b.per_peer_header("::", peer_type=3, filtered=True)[:2] == h("03 80")


@pytest.mark.parametrize(
    "spec,add_path,wire",
    [
        ("192.0.2.0/23", False, "17 c00002"),
        (("192.0.2.0", 23, 5), True, "00000005 17 c00002"),
        ("0.0.0.0/0", False, "00"),
        ("2001:db8::/32", False, "20 20010db8"),
        ("10.1.2.3/32", False, "20 0a010203"),
    ],
)
def test_prefix_encoding(spec, add_path, wire):
    assert b.prefix(spec).encode(add_path) == h(wire)


def test_end_of_rib_ipv4_is_empty_update():
    # RFC 4724 §2: withdrawn length 0, attributes length 0; total 23 bytes.
    assert b.end_of_rib() == h(MARKER + "0017 02 0000 0000")


def test_end_of_rib_ipv6_is_empty_mp_unreach():
    # Attribute: flags optional (0x80), type 15, length 3, AFI 2, SAFI 1.
    assert b.end_of_rib(2, 1) == h(MARKER + "001d 02 0000 0006 800f03 0002 01")


def test_as_path_widths():
    assert b.as_path([65001]).encode(True) == h("40 02 06 02 01 0000fde9")
    assert b.as_path([65001]).encode(False) == h("40 02 04 02 01 fde9")
    assert b.as_path([400000]).encode(False) == h("40 02 04 02 01 5ba0")  # AS_TRANS


def test_extended_length_flag_set_for_long_values():
    raw = b.path_attribute(99, bytes(256)).encode()
    assert raw[:4] == h("d0 63 0100")  # optional, transitive, extended length


def test_open_message():
    # RFC 4271 §4.2 + RFC 5492: one Capabilities parameter (type 2, length 12)
    # holding MP (1, length 4: AFI 1, reserved, SAFI 1) and 4-octet AS (65).
    raw = b.bgp_open(65001, "10.0.0.1", 180, multiprotocol=[(1, 1)])
    assert raw == h(MARKER + "002b 01  04 fde9 00b4 0a000001 0e  02 0c 01 04 0001 00 01 41 04 0000fde9")


def test_notification_message():
    assert b.bgp_notification(6, 2, b"x") == h(MARKER + "0016 03 06 02 78")


def test_stats_report_tlvs():
    raw = b.bmp_stats_report(b.per_peer_header(), [(0, 1), (7, 2), (9, 2, 1, 3)])
    body = raw[6 + 42 :]
    assert body == h("00000003  0000 0004 00000001  0007 0008 0000000000000002  0009 000b 0002 01 0000000000000003")


def test_peer_down_with_fsm_event():
    raw = b.bmp_peer_down(b.per_peer_header(), 2, fsm_event=7)
    assert raw[:6] == h("03 00000033 02")  # 6 + 42 + 1 + 2 = 51
    assert raw[48:] == h("02 0007")
