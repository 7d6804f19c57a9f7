"""Encoders for BMP v3 and BGP-4 messages: the inverse of the decoders.

Used by tests, fuzz seeds and benchmarks, and meant to be read as a map of the
wire formats:

BGP-4 (RFC 4271 §4.1): marker (16 x 0xff) | length (2) | type (1) | body.
- OPEN (§4.2): version | my AS (2) | hold time (2) | BGP id (4) | opt. params
  length (1) | params; capabilities in parameter type 2 (RFC 5492), extended
  lengths per RFC 9072.
- UPDATE (§4.3): withdrawn length (2) | withdrawn | attributes length (2) |
  attributes | NLRI. Attribute: flags | type | length (1, or 2 with the
  extended-length flag) | value. NLRI item: [path id (4), RFC 7911] | length in
  bits (1) | ceil(bits / 8) bytes.
- NOTIFICATION (§4.5): code | subcode | data.

BMP v3 (RFC 7854 §4): version 3 | length (4, whole message) | type (1) | body.
Per-peer header (§4.2, 42 bytes): peer type | flags | distinguisher (8) |
address (16, IPv4 in the last 4 bytes) | AS (4) | BGP id (4) | seconds (4) |
microseconds (4). Loc-RIB peers per RFC 9069, Adj-RIB-Out per RFC 8671.

Prefixes are given as "192.0.2.0/24" / "2001:db8::/32" strings or as
(address, length, path id) tuples; addresses as strings or packed bytes.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Union

from nxthdr.bgp.decode import (
    ATTR_AGGREGATOR,
    ATTR_AS4_AGGREGATOR,
    ATTR_AS4_PATH,
    ATTR_AS_PATH,
    ATTR_ATOMIC_AGGREGATE,
    ATTR_CLUSTER_LIST,
    ATTR_COMMUNITIES,
    ATTR_EXT_COMMUNITIES,
    ATTR_IPV6_EXT_COMMUNITIES,
    ATTR_LARGE_COMMUNITIES,
    ATTR_LOCAL_PREF,
    ATTR_MED,
    ATTR_MP_REACH,
    ATTR_MP_UNREACH,
    ATTR_NEXT_HOP,
    ATTR_ONLY_TO_CUSTOMER,
    ATTR_ORIGIN,
    ATTR_ORIGINATOR_ID,
    AS_SEQUENCE,
    AS_TRANS,
    CAP_ADD_PATH,
    CAP_FOUR_OCTET_AS,
    CAP_MULTIPROTOCOL,
    FLAG_EXTENDED_LENGTH,
    FLAG_OPTIONAL,
    FLAG_TRANSITIVE,
    MARKER,
    MSG_KEEPALIVE,
    MSG_NOTIFICATION,
    MSG_OPEN,
    MSG_UPDATE,
)
from nxthdr.bgp.types import AFI_IPV4, AFI_IPV6, SAFI_UNICAST, ExtendedCommunity
from nxthdr.bmp.events import (
    FLAG_A,
    FLAG_L,
    FLAG_O,
    FLAG_V,
    INITIATION,
    PEER_DOWN,
    PEER_LOC_RIB,
    PEER_UP,
    ROUTE_MIRRORING,
    ROUTE_MONITORING,
    STATS_REPORT,
    TERMINATION,
)

Address = Union[str, bytes, ipaddress.IPv4Address, ipaddress.IPv6Address]
PrefixLike = Union[str, tuple[Address, int], tuple[Address, int, int]]
AddPathLike = Union[bool, Collection[tuple[int, int]]]

# --------------------------------------------------------------------------
# Addresses and prefixes
# --------------------------------------------------------------------------


def packed_address(addr: Address) -> bytes:
    """4 bytes for IPv4, 16 for IPv6."""
    if isinstance(addr, bytes):
        if len(addr) not in (4, 16):
            raise ValueError(f"packed address of {len(addr)} bytes")
        return addr
    return ipaddress.ip_address(addr).packed


def address16(addr: Address) -> bytes:
    """The 16-byte form the decoders return: IPv4 as IPv4-mapped IPv6."""
    raw = packed_address(addr)
    return b"\0" * 10 + b"\xff\xff" + raw if len(raw) == 4 else raw


def bgp_id(value: int | Address) -> int:
    """A BGP identifier (or ORIGINATOR_ID, CLUSTER_ID) from an int or a dotted quad."""
    if isinstance(value, int):
        return value
    return int.from_bytes(packed_address(value), "big")


@dataclass(frozen=True, slots=True)
class Prefix:
    afi: int
    address: bytes  # packed, 4 or 16 bytes
    length: int
    path_id: int = 0

    def encode(self, add_path: bool = False) -> bytes:
        """The NLRI item (RFC 4271 §4.3, RFC 7911 §3)."""
        head = struct.pack(">IB", self.path_id, self.length) if add_path else bytes((self.length,))
        return head + self.address[: (self.length + 7) // 8]


def prefix(value: PrefixLike | Prefix) -> Prefix:
    if isinstance(value, Prefix):
        return value
    if isinstance(value, str):
        net = ipaddress.ip_network(value, strict=False)
        return Prefix(AFI_IPV4 if net.version == 4 else AFI_IPV6, net.network_address.packed, net.prefixlen)
    addr, length, *rest = value
    raw = packed_address(addr)
    if not 0 <= length <= len(raw) * 8:
        raise ValueError(f"prefix length {length} out of range")
    return Prefix(AFI_IPV4 if len(raw) == 4 else AFI_IPV6, raw, length, rest[0] if rest else 0)


def _family_add_path(add_path: AddPathLike, afi: int, safi: int) -> bool:
    if isinstance(add_path, bool):
        return add_path
    return (afi, safi) in add_path


def encode_nlri(prefixes: Iterable[PrefixLike | Prefix], add_path: bool = False) -> bytes:
    return b"".join(prefix(p).encode(add_path) for p in prefixes)


# --------------------------------------------------------------------------
# BGP messages
# --------------------------------------------------------------------------


def bgp_message(msg_type: int, body: bytes) -> bytes:
    """Frame a BGP body with the RFC 4271 §4.1 header."""
    return MARKER + struct.pack(">HB", 19 + len(body), msg_type) + body


def capability(code: int, value: bytes = b"") -> bytes:
    return struct.pack(">BB", code, len(value)) + value


def bgp_open(
    asn: int,
    bgp_identifier: int | Address,
    hold_time: int = 180,
    *,
    four_octet_as: bool = True,
    multiprotocol: Iterable[tuple[int, int]] = ((AFI_IPV4, SAFI_UNICAST),),
    add_path: Mapping[tuple[int, int], int] | None = None,
    extra_capabilities: Iterable[tuple[int, bytes]] = (),
    parameter_per_capability: bool = False,
    extended_parameters: bool = False,
    version: int = 4,
) -> bytes:
    """An OPEN message.

    `four_octet_as` advertises capability 65 (RFC 6793); an ASN above 65535 then
    goes in the capability and AS_TRANS in My Autonomous System. `add_path` maps
    (AFI, SAFI) to 1 (receive), 2 (send) or 3 (both) (RFC 7911 §4).
    `parameter_per_capability` puts each capability in its own optional
    parameter (RFC 5492 allows both layouts); `extended_parameters` uses the
    RFC 9072 2-byte lengths.
    """
    caps = [capability(CAP_MULTIPROTOCOL, struct.pack(">HBB", afi, 0, safi)) for afi, safi in multiprotocol]
    if four_octet_as:
        caps.append(capability(CAP_FOUR_OCTET_AS, struct.pack(">I", asn)))
    if add_path:
        value = b"".join(struct.pack(">HBB", afi, safi, mode) for (afi, safi), mode in add_path.items())
        caps.append(capability(CAP_ADD_PATH, value))
    caps.extend(capability(code, value) for code, value in extra_capabilities)

    groups = [[c] for c in caps] if parameter_per_capability else ([caps] if caps else [])
    if extended_parameters:
        params = b"".join(struct.pack(">BH", 2, sum(map(len, g))) + b"".join(g) for g in groups)
        opt = struct.pack(">BBH", 255, 255, len(params)) + params
    else:
        params = b"".join(struct.pack(">BB", 2, sum(map(len, g))) + b"".join(g) for g in groups)
        opt = struct.pack(">B", len(params)) + params
    my_as = asn if asn <= 0xFFFF else AS_TRANS
    return bgp_message(MSG_OPEN, struct.pack(">BHHI", version, my_as, hold_time, bgp_id(bgp_identifier)) + opt)


def bgp_notification(code: int, subcode: int, data: bytes = b"") -> bytes:
    return bgp_message(MSG_NOTIFICATION, bytes((code, subcode)) + data)


def bgp_keepalive() -> bytes:
    return bgp_message(MSG_KEEPALIVE, b"")


# --------------------------------------------------------------------------
# Path attributes
# --------------------------------------------------------------------------

# Flags of the attributes we know: well-known ones are transitive, optional
# ones are optional (+ transitive when RFCs say so).
_WELL_KNOWN = FLAG_TRANSITIVE
_OPT_TRANS = FLAG_OPTIONAL | FLAG_TRANSITIVE
_OPT = FLAG_OPTIONAL
_DEFAULT_FLAGS = {
    ATTR_ORIGIN: _WELL_KNOWN,
    ATTR_AS_PATH: _WELL_KNOWN,
    ATTR_NEXT_HOP: _WELL_KNOWN,
    ATTR_MED: _OPT,
    ATTR_LOCAL_PREF: _WELL_KNOWN,
    ATTR_ATOMIC_AGGREGATE: _WELL_KNOWN,
    ATTR_AGGREGATOR: _OPT_TRANS,
    ATTR_COMMUNITIES: _OPT_TRANS,
    ATTR_ORIGINATOR_ID: _OPT,
    ATTR_CLUSTER_LIST: _OPT,
    ATTR_MP_REACH: _OPT,
    ATTR_MP_UNREACH: _OPT,
    ATTR_EXT_COMMUNITIES: _OPT_TRANS,
    ATTR_AS4_PATH: _OPT_TRANS,
    ATTR_AS4_AGGREGATOR: _OPT_TRANS,
    ATTR_IPV6_EXT_COMMUNITIES: _OPT_TRANS,
    ATTR_LARGE_COMMUNITIES: _OPT_TRANS,
    ATTR_ONLY_TO_CUSTOMER: _OPT_TRANS,
}


@dataclass(frozen=True, slots=True)
class Attribute:
    """One path attribute. `value` is bytes, or a function of the UPDATE's AS
    width for the attributes whose encoding depends on it (AS_PATH, AGGREGATOR)."""

    code: int
    value: bytes | Callable[[bool], bytes]
    flags: int | None = None  # None: the usual flags for `code`, optional transitive if unknown

    def encode(self, four_octet_as: bool = True) -> bytes:
        value = self.value(four_octet_as) if callable(self.value) else self.value
        flags = _DEFAULT_FLAGS.get(self.code, _OPT_TRANS) if self.flags is None else self.flags
        if len(value) > 255:
            flags |= FLAG_EXTENDED_LENGTH
        if flags & FLAG_EXTENDED_LENGTH:
            return struct.pack(">BBH", flags, self.code, len(value)) + value
        return struct.pack(">BBB", flags, self.code, len(value)) + value


def path_attribute(code: int, value: bytes, flags: int | None = None) -> Attribute:
    """Any attribute, e.g. an unknown one or a deliberately malformed one."""
    return Attribute(code, value, flags)


def origin(value: str | int = "IGP") -> Attribute:
    code = value if isinstance(value, int) else ("IGP", "EGP", "INCOMPLETE").index(value)
    return Attribute(ATTR_ORIGIN, bytes((code,)))


def _segments_value(segments: Sequence[tuple[int, Sequence[int]]], four: bool) -> bytes:
    fmt = "I" if four else "H"
    out = []
    for seg_type, asns in segments:
        for i in range(0, len(asns), 255) or [0]:  # a segment holds at most 255 ASes
            chunk = list(asns[i : i + 255])
            if not four:
                chunk = [a if a <= 0xFFFF else AS_TRANS for a in chunk]
            out.append(struct.pack(f">BB{len(chunk)}{fmt}", seg_type, len(chunk), *chunk))
    return b"".join(out)


def _segments(asns: Sequence[int] | None, segments: Sequence[tuple[int, Sequence[int]]] | None) -> list:
    if segments is not None:
        return list(segments)
    return [(AS_SEQUENCE, list(asns))] if asns else []


def as_path(
    asns: Sequence[int] | None = None,
    *,
    segments: Sequence[tuple[int, Sequence[int]]] | None = None,
    four_octet_as: bool | None = None,
) -> Attribute:
    """AS_PATH from a plain AS_SEQUENCE or explicit (segment type, ASNs) segments.

    With 2-octet encoding, ASNs above 65535 are written as AS_TRANS (RFC 6793).
    `four_octet_as` None: the width of the UPDATE it goes in.
    """
    segs = _segments(asns, segments)
    if four_octet_as is None:
        return Attribute(ATTR_AS_PATH, lambda four: _segments_value(segs, four))
    return Attribute(ATTR_AS_PATH, _segments_value(segs, four_octet_as))


def as4_path(asns: Sequence[int] | None = None, *, segments: Sequence[tuple[int, Sequence[int]]] | None = None) -> Attribute:
    return Attribute(ATTR_AS4_PATH, _segments_value(_segments(asns, segments), True))


def next_hop(addr: Address) -> Attribute:
    return Attribute(ATTR_NEXT_HOP, packed_address(addr))


def med(value: int) -> Attribute:
    return Attribute(ATTR_MED, struct.pack(">I", value))


def local_pref(value: int) -> Attribute:
    return Attribute(ATTR_LOCAL_PREF, struct.pack(">I", value))


def atomic_aggregate() -> Attribute:
    return Attribute(ATTR_ATOMIC_AGGREGATE, b"")


def aggregator(asn: int, bgp_identifier: int | Address, *, four_octet_as: bool | None = None) -> Attribute:
    """AGGREGATOR: 8 bytes with 4-octet ASNs, 6 bytes (AS_TRANS above 65535) without."""
    ident = bgp_id(bgp_identifier)

    def encode(four: bool) -> bytes:
        if four:
            return struct.pack(">II", asn, ident)
        return struct.pack(">HI", asn if asn <= 0xFFFF else AS_TRANS, ident)

    if four_octet_as is None:
        return Attribute(ATTR_AGGREGATOR, encode)
    return Attribute(ATTR_AGGREGATOR, encode(four_octet_as))


def as4_aggregator(asn: int, bgp_identifier: int | Address) -> Attribute:
    return Attribute(ATTR_AS4_AGGREGATOR, struct.pack(">II", asn, bgp_id(bgp_identifier)))


def communities(*values: tuple[int, int] | int) -> Attribute:
    """RFC 1997 communities as (high 16 bits, low 16 bits) pairs or 32-bit ints."""
    words = [v if isinstance(v, int) else (v[0] << 16) | v[1] for v in values]
    return Attribute(ATTR_COMMUNITIES, struct.pack(f">{len(words)}I", *words))


def _ext_value(ec: ExtendedCommunity | bytes, size: int) -> bytes:
    raw = ec if isinstance(ec, bytes) else bytes((ec.type_high, ec.type_low)) + ec.value
    if len(raw) != size:
        raise ValueError(f"extended community of {len(raw)} bytes, expected {size}")
    return raw


def extended_communities(*values: ExtendedCommunity | bytes) -> Attribute:
    """RFC 4360: 8 bytes each (type high, type low, 6-byte value)."""
    return Attribute(ATTR_EXT_COMMUNITIES, b"".join(_ext_value(v, 8) for v in values))


def ipv6_extended_communities(*values: ExtendedCommunity | bytes) -> Attribute:
    """RFC 5701: 20 bytes each (type high, type low, 18-byte value)."""
    return Attribute(ATTR_IPV6_EXT_COMMUNITIES, b"".join(_ext_value(v, 20) for v in values))


def large_communities(*values: tuple[int, int, int]) -> Attribute:
    """RFC 8092: (global administrator, local data 1, local data 2)."""
    return Attribute(ATTR_LARGE_COMMUNITIES, b"".join(struct.pack(">III", *v) for v in values))


def originator_id(value: int | Address) -> Attribute:
    return Attribute(ATTR_ORIGINATOR_ID, struct.pack(">I", bgp_id(value)))


def cluster_list(*ids: int | Address) -> Attribute:
    return Attribute(ATTR_CLUSTER_LIST, b"".join(struct.pack(">I", bgp_id(i)) for i in ids))


def only_to_customer(asn: int) -> Attribute:
    return Attribute(ATTR_ONLY_TO_CUSTOMER, struct.pack(">I", asn))


@dataclass(frozen=True, slots=True)
class MpReachNlri:
    afi: int
    safi: int
    next_hop: bytes  # packed: 0, 4 or 16 bytes
    link_local: bytes  # packed: empty or 16 bytes
    prefixes: tuple[Prefix, ...]

    def attribute(self, add_path: AddPathLike = False) -> Attribute:
        nh = self.next_hop + self.link_local
        ap = _family_add_path(add_path, self.afi, self.safi)
        value = struct.pack(">HBB", self.afi, self.safi, len(nh)) + nh + b"\0" + encode_nlri(self.prefixes, ap)
        return Attribute(ATTR_MP_REACH, value)


@dataclass(frozen=True, slots=True)
class MpUnreachNlri:
    afi: int
    safi: int
    prefixes: tuple[Prefix, ...]

    def attribute(self, add_path: AddPathLike = False) -> Attribute:
        ap = _family_add_path(add_path, self.afi, self.safi)
        return Attribute(ATTR_MP_UNREACH, struct.pack(">HB", self.afi, self.safi) + encode_nlri(self.prefixes, ap))


def mp_reach(
    prefixes: Iterable[PrefixLike | Prefix],
    next_hop: Address | None = None,
    *,
    link_local: Address | None = None,
    afi: int | None = None,
    safi: int = SAFI_UNICAST,
) -> MpReachNlri:
    """MP_REACH_NLRI (RFC 4760 §3). AFI defaults to the prefixes' family (or the
    next hop's); an IPv6 next hop for IPv4 prefixes is RFC 8950."""
    items = tuple(prefix(p) for p in prefixes)
    nh = packed_address(next_hop) if next_hop is not None else b""
    ll = packed_address(link_local) if link_local is not None else b""
    if afi is None:
        afi = items[0].afi if items else (AFI_IPV4 if len(nh) == 4 else AFI_IPV6)
    return MpReachNlri(afi, safi, nh, ll, items)


def mp_unreach(
    prefixes: Iterable[PrefixLike | Prefix] = (), *, afi: int | None = None, safi: int = SAFI_UNICAST
) -> MpUnreachNlri:
    """MP_UNREACH_NLRI (RFC 4760 §4); without prefixes it is an End-of-RIB (RFC 4724)."""
    items = tuple(prefix(p) for p in prefixes)
    if afi is None:
        afi = items[0].afi if items else AFI_IPV6
    return MpUnreachNlri(afi, safi, items)


def bgp_update(
    *,
    withdrawn: Iterable[PrefixLike | Prefix] = (),
    attributes: Iterable[Attribute | bytes] = (),
    nlri: Iterable[PrefixLike | Prefix] = (),
    mp_reach: MpReachNlri | None = None,
    mp_unreach: MpUnreachNlri | None = None,
    four_octet_as: bool = True,
    add_path: AddPathLike = False,
) -> bytes:
    """An UPDATE message. `attributes` are Attribute values or pre-encoded bytes
    (flags, type, length, value); MP_REACH / MP_UNREACH go first.
    `add_path`: True/False for every family, or the set of (AFI, SAFI) with path ids."""
    ipv4_ap = _family_add_path(add_path, AFI_IPV4, SAFI_UNICAST)
    w = encode_nlri(withdrawn, ipv4_ap)
    parts = []
    if mp_reach is not None:
        parts.append(mp_reach.attribute(add_path).encode())
    if mp_unreach is not None:
        parts.append(mp_unreach.attribute(add_path).encode())
    for attr in attributes:
        parts.append(attr if isinstance(attr, bytes) else attr.encode(four_octet_as))
    a = b"".join(parts)
    body = struct.pack(">H", len(w)) + w + struct.pack(">H", len(a)) + a + encode_nlri(nlri, ipv4_ap)
    return bgp_message(MSG_UPDATE, body)


def end_of_rib(afi: int = AFI_IPV4, safi: int = SAFI_UNICAST) -> bytes:
    """End-of-RIB marker (RFC 4724 §2): an empty UPDATE for IPv4 unicast, an
    empty MP_UNREACH_NLRI otherwise."""
    if (afi, safi) == (AFI_IPV4, SAFI_UNICAST):
        return bgp_update()
    return bgp_update(mp_unreach=MpUnreachNlri(afi, safi, ()))


# --------------------------------------------------------------------------
# BMP messages (RFC 7854 §4)
# --------------------------------------------------------------------------


def bmp_message(msg_type: int, body: bytes, *, version: int = 3) -> bytes:
    """Frame a BMP body with the common header (RFC 7854 §4.1)."""
    return struct.pack(">BIB", version, 6 + len(body), msg_type) + body


def information_tlv(tlv_type: int, value: bytes | str) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack(">HH", tlv_type, len(raw)) + raw


def _tlvs(tlvs: Iterable[tuple[int, bytes | str]]) -> bytes:
    return b"".join(information_tlv(t, v) for t, v in tlvs)


def _bmp_address(addr: Address) -> bytes:
    # RFC 7854 §4.2: an IPv4 address sits in the last 4 bytes, zeros before.
    raw = packed_address(addr)
    return b"\0" * 12 + raw if len(raw) == 4 else raw


def per_peer_header(
    address: Address = "192.0.2.1",
    asn: int = 65000,
    bgp_identifier: int | Address | None = None,
    *,
    peer_type: int = 0,
    distinguisher: int = 0,
    timestamp_ns: int = 0,
    post_policy: bool = False,
    adj_rib_out: bool = False,
    legacy_as_path: bool = False,
    filtered: bool = False,
    flags: int | None = None,
) -> bytes:
    """The 42-byte per-peer header (RFC 7854 §4.2).

    The V flag follows the address family. For Loc-RIB (peer type 3, RFC 9069)
    the only flag is F (`filtered`) and the address is normally ::.
    `flags` overrides the computed flags byte. The timestamp has microsecond
    resolution on the wire.
    """
    raw = _bmp_address(address)
    if flags is None:
        if peer_type == PEER_LOC_RIB:
            flags = 0x80 if filtered else 0
        else:
            flags = (
                (FLAG_V if len(packed_address(address)) == 16 else 0)
                | (FLAG_L if post_policy else 0)
                | (FLAG_A if legacy_as_path else 0)
                | (FLAG_O if adj_rib_out else 0)
            )
    if bgp_identifier is None:
        packed = packed_address(address)
        bgp_identifier = int.from_bytes(packed, "big") if len(packed) == 4 else 0
    seconds, rest = divmod(timestamp_ns, 1_000_000_000)
    return (
        struct.pack(">BBQ", peer_type, flags, distinguisher)
        + raw
        + struct.pack(">IIII", asn, bgp_id(bgp_identifier), seconds, rest // 1000)
    )


def bmp_initiation(
    sys_name: str | None = None, sys_descr: str | None = None, tlvs: Iterable[tuple[int, bytes | str]] = ()
) -> bytes:
    """Initiation (§4.3): information TLVs, 1 sysDescr, 2 sysName, 0 string."""
    head = []
    if sys_descr is not None:
        head.append((1, sys_descr))
    if sys_name is not None:
        head.append((2, sys_name))
    return bmp_message(INITIATION, _tlvs([*head, *tlvs]))


def bmp_termination(reason: int | None = None, tlvs: Iterable[tuple[int, bytes | str]] = ()) -> bytes:
    """Termination (§4.5): TLV 0 string, 1 reason (2 bytes)."""
    head = [(1, struct.pack(">H", reason))] if reason is not None else []
    return bmp_message(TERMINATION, _tlvs([*head, *tlvs]))


def bmp_peer_up(
    peer: bytes,
    sent_open: bytes,
    received_open: bytes,
    *,
    local_address: Address = "192.0.2.254",
    local_port: int = 179,
    remote_port: int = 50000,
    tlvs: Iterable[tuple[int, bytes | str]] = (),
) -> bytes:
    """Peer Up (§4.10): local address (16), local port, remote port, the OPEN the
    monitored router sent, the OPEN it received, information TLVs."""
    body = peer + _bmp_address(local_address) + struct.pack(">HH", local_port, remote_port)
    return bmp_message(PEER_UP, body + sent_open + received_open + _tlvs(tlvs))


def bmp_peer_down(
    peer: bytes,
    reason: int,
    *,
    notification: bytes | None = None,
    fsm_event: int | None = None,
    data: bytes = b"",
    tlvs: Iterable[tuple[int, bytes | str]] = (),
) -> bytes:
    """Peer Down (§4.9): reason (1), then a NOTIFICATION PDU (reasons 1, 3), an
    FSM event code (reason 2), or TLVs (reason 6, RFC 9069)."""
    body = peer + bytes((reason,))
    if notification is not None:
        body += notification
    if fsm_event is not None:
        body += struct.pack(">H", fsm_event)
    return bmp_message(PEER_DOWN, body + data + _tlvs(tlvs))


def bmp_route_monitoring(peer: bytes, update: bytes) -> bytes:
    """Route Monitoring (§4.6): per-peer header then one BGP UPDATE PDU."""
    return bmp_message(ROUTE_MONITORING, peer + update)


# Stat types whose value is a 64-bit gauge (RFC 7854 §4.8, RFC 8671, RFC 9069).
GAUGE_STATS = frozenset({7, 8, 14, 15, 18})
AFI_SAFI_STATS = frozenset({9, 10, 16, 17, 19})


def bmp_stats_report(
    peer: bytes,
    stats: Iterable[tuple[int, int] | tuple[int, int, int, int] | tuple[int, bytes]],
) -> bytes:
    """Stats Report (§4.8): count (4), then TLVs. Each stat is (type, counter or
    gauge), (type, AFI, SAFI, gauge) for the per-family gauges, or (type, raw bytes)."""
    items = list(stats)
    out = [struct.pack(">I", len(items))]
    for stat in items:
        if len(stat) == 4:
            stat_type, afi, safi, value = stat
            out.append(struct.pack(">HHHBQ", stat_type, 11, afi, safi, value))
        elif isinstance(stat[1], bytes):
            out.append(struct.pack(">HH", stat[0], len(stat[1])) + stat[1])
        elif stat[0] in GAUGE_STATS:
            out.append(struct.pack(">HHQ", stat[0], 8, stat[1]))
        else:
            out.append(struct.pack(">HHI", stat[0], 4, stat[1]))
    return bmp_message(STATS_REPORT, peer + b"".join(out))


def bmp_route_mirroring(
    peer: bytes,
    *,
    bgp_messages: Iterable[bytes] = (),
    information: int | None = None,
    tlvs: Iterable[tuple[int, bytes | str]] = (),
) -> bytes:
    """Route Mirroring (§4.7): TLV 0 a BGP message, TLV 1 an information code
    (0 errored PDU, 1 messages lost)."""
    items = [(0, m) for m in bgp_messages]
    if information is not None:
        items.append((1, struct.pack(">H", information)))
    return bmp_message(ROUTE_MIRRORING, peer + _tlvs([*items, *tlvs]))
