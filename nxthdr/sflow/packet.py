"""Walk a sampled packet header (sFlow v5 §5.2 "sampled_header") down to the transport layer.

Agents copy only the first bytes of each sampled frame (pmacct and most
switches: 128), so the walk is lenient by design: it fills whatever the
captured bytes hold and stops quietly at the end of the capture. Lengths come
from the IP header (IPv4 total length, IPv6 40 + payload length), never from
the capture. The only hard requirement for an IP result is the fixed IP header,
which holds the addresses.

Layers: Ethernet II with any stack of 802.1Q / 802.1ad / 0x9100 tags
(IEEE 802.1Q), IPv4 with options (RFC 791, IHL), IPv6 with its extension
header chain walked to the real upper-layer protocol (RFC 8200 §4, AH per
RFC 4302 §2.2, mobility RFC 6275, HIP RFC 7401, shim6 RFC 5533), then TCP
(RFC 9293, NS bit from RFC 3540), UDP, ICMP / ICMPv6 type and code, and the
port pair of SCTP, UDP-Lite and DCCP which share UDP's first four bytes.

Pure functions over `bytes`; never raises on any input.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from nxthdr.sflow._fast import positional_constructor

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
# 802.1Q C-tag, 802.1ad S-tag, and the pre-standard 0x9100 QinQ tag.
VLAN_TPIDS = frozenset((0x8100, 0x88A8, 0x9100))
# Every VLAN tag takes 4 bytes; the stack is bounded by the capture anyway,
# this only stops a pathological frame made of nothing but tags early.
MAX_VLAN_TAGS = 8

# IPv6 extension headers whose length is (hdr_ext_len + 1) * 8 bytes.
_IPV6_EXT_GENERIC = frozenset((0, 43, 60, 135, 139, 140, 253, 254))
IPV6_FRAGMENT = 44
IPV6_AH = 51

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ICMPV6 = 58
# Transports whose first four bytes are source and destination ports.
_PORT_PROTOS = frozenset((PROTO_UDP, 33, 132, 136))

V4_MAPPED_PREFIX = b"\0" * 10 + b"\xff\xff"

_ipv4_hdr = struct.Struct("!BBHHHBB2x4s4s").unpack_from
_ipv6_hdr = struct.Struct("!IHBB16s16s").unpack_from
_u16 = struct.Struct("!H").unpack_from
_u16_pair = struct.Struct("!HH").unpack_from
_tcp_ports_flags = struct.Struct("!HH8xBB").unpack_from


@dataclass(frozen=True, slots=True)
class Packet:
    """IP-level facts about one sampled packet (from a sampled header or a Sampled IPv4/IPv6 record).

    Addresses are 16 bytes, IPv4 as IPv4-mapped IPv6. Fields the captured bytes
    did not reach are 0; `truncated` says the capture ended before the
    transport fields. `tos` is the whole IPv4 ToS / IPv6 traffic-class byte,
    `tcp_flags` the standard flag byte plus NS as 0x100, `fragment_offset` the
    header's 13-bit field (8-byte units; non-zero means no transport header).
    """

    ip_version: int
    src_ip: bytes
    dst_ip: bytes
    protocol: int
    length: int
    tos: int
    ttl: int
    src_port: int = 0
    dst_port: int = 0
    tcp_flags: int = 0
    icmp_type: int = 0
    icmp_code: int = 0
    fragment_offset: int = 0
    etype: int = 0
    vlan: int = 0
    inner_vlan: int = 0
    truncated: bool = False

    @property
    def src_address(self) -> IPv4Address | IPv6Address:
        return _to_address(self.src_ip)

    @property
    def dst_address(self) -> IPv4Address | IPv6Address:
        return _to_address(self.dst_ip)


# All 17 fields, positionally: the hot-path constructor (see nxthdr.sflow._fast).
_P = positional_constructor(Packet)


def _to_address(raw: bytes) -> IPv4Address | IPv6Address:
    if raw[:12] == V4_MAPPED_PREFIX:
        return IPv4Address(raw[12:])
    return ip_address(raw)


def parse_ethernet(buf: bytes, off: int, end: int) -> Packet | None:
    """Decode the Ethernet frame in buf[off:end]; None for non-IP frames or a capture too short for IP."""
    if end - off < 14:
        return None
    (etype,) = _u16(buf, off + 12)
    off += 14
    vlan = inner = 0
    tags = 0
    while etype in VLAN_TPIDS:
        if end - off < 4 or tags == MAX_VLAN_TAGS:
            return None
        tci, etype = _u16_pair(buf, off)
        if tags == 0:
            vlan = tci & 0x0FFF
        elif tags == 1:
            inner = tci & 0x0FFF
        tags += 1
        off += 4
    if etype == ETH_IPV4:
        return parse_ipv4(buf, off, end, vlan, inner)
    if etype == ETH_IPV6:
        return parse_ipv6(buf, off, end, vlan, inner)
    return None


def parse_ipv4(buf: bytes, off: int, end: int, vlan: int = 0, inner: int = 0) -> Packet | None:
    if end - off < 20:
        return None
    vihl, tos, total, _ident, frag, ttl, proto, src, dst = _ipv4_hdr(buf, off)
    if vihl >> 4 != 4:
        return None
    ihl = (vihl & 0x0F) * 4
    frag_off = frag & 0x1FFF
    src = V4_MAPPED_PREFIX + src
    dst = V4_MAPPED_PREFIX + dst
    # Non-first fragments carry no transport header; a bad IHL leaves nothing to trust.
    if frag_off or ihl < 20:
        return Packet(4, src, dst, proto, total, tos, ttl, fragment_offset=frag_off, etype=ETH_IPV4,
                      vlan=vlan, inner_vlan=inner, truncated=False)
    return _transport(buf, off + ihl, end, 4, src, dst, proto, total, tos, ttl, 0, ETH_IPV4, vlan, inner)


def parse_ipv6(buf: bytes, off: int, end: int, vlan: int = 0, inner: int = 0) -> Packet | None:
    if end - off < 40:
        return None
    first, plen, nh, hlim, src, dst = _ipv6_hdr(buf, off)
    if first >> 28 != 6:
        return None
    tclass = (first >> 20) & 0xFF
    length = 40 + plen
    off += 40
    frag_off = 0
    # Each extension header is at least 8 bytes, so the chain is bounded by the capture.
    while True:
        if nh in _IPV6_EXT_GENERIC:
            if end - off < 8:
                break
            nxt, hlen = buf[off], buf[off + 1]
            nh, off = nxt, off + (hlen + 1) * 8
        elif nh == IPV6_FRAGMENT:
            if end - off < 8:
                break
            nxt = buf[off]
            (fo,) = _u16(buf, off + 2)
            nh, off = nxt, off + 8
            frag_off = fo >> 3
            if frag_off:
                # Later fragments: the protocol is known, the transport header is in the first one.
                return Packet(6, src, dst, nh, length, tclass, hlim, fragment_offset=frag_off, etype=ETH_IPV6,
                              vlan=vlan, inner_vlan=inner, truncated=False)
        elif nh == IPV6_AH:
            if end - off < 8:
                break
            nxt, hlen = buf[off], buf[off + 1]
            nh, off = nxt, off + (hlen + 2) * 4
        else:
            return _transport(buf, off, end, 6, src, dst, nh, length, tclass, hlim, frag_off, ETH_IPV6, vlan, inner)
    # The capture ended inside the extension header chain: the last next-header seen is all we know.
    return Packet(6, src, dst, nh, length, tclass, hlim, fragment_offset=frag_off, etype=ETH_IPV6,
                  vlan=vlan, inner_vlan=inner, truncated=True)


def _transport(buf: bytes, off: int, end: int, version: int, src: bytes, dst: bytes, proto: int, length: int,
               tos: int, ttl: int, frag_off: int, etype: int, vlan: int, inner: int) -> Packet:
    avail = end - off
    if proto == PROTO_TCP:
        if avail >= 14:
            sport, dport, offs, flags = _tcp_ports_flags(buf, off)
            return _P(version, src, dst, proto, length, tos, ttl, sport, dport, ((offs & 1) << 8) | flags,
                          0, 0, frag_off, etype, vlan, inner, False)
        if avail >= 4:
            sport, dport = _u16_pair(buf, off)
            return _P(version, src, dst, proto, length, tos, ttl, sport, dport, 0, 0, 0, frag_off, etype,
                          vlan, inner, True)
    elif proto in _PORT_PROTOS:
        if avail >= 4:
            sport, dport = _u16_pair(buf, off)
            return _P(version, src, dst, proto, length, tos, ttl, sport, dport, 0, 0, 0, frag_off, etype,
                          vlan, inner, False)
    elif proto == PROTO_ICMP or proto == PROTO_ICMPV6:
        if avail >= 2:
            return _P(version, src, dst, proto, length, tos, ttl, 0, 0, 0, buf[off], buf[off + 1], frag_off,
                          etype, vlan, inner, False)
    else:
        # Nothing further is decoded for other protocols; not a truncation.
        return _P(version, src, dst, proto, length, tos, ttl, 0, 0, 0, 0, 0, frag_off, etype, vlan, inner, False)
    return _P(version, src, dst, proto, length, tos, ttl, 0, 0, 0, 0, 0, frag_off, etype, vlan, inner, True)
