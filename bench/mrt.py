"""A minimal MRT TABLE_DUMP_V2 writer (RFC 6396 §4.3), enough for `gobgp mrt inject`.

Writes one PEER_INDEX_TABLE, then one RIB_IPV4_UNICAST / RIB_IPV6_UNICAST record
per prefix with a single RIB entry. AS_PATH always carries 4-byte ASNs. For IPv6
the RFC (§4.3.4) abbreviates MP_REACH_NLRI to the next hop only, but GoBGP 3.10
parses the full form (AFI, SAFI, next hop, reserved, NLRI), so that is written,
with an empty NLRI; the prefix is in the RIB record itself.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import BinaryIO, Sequence

TABLE_DUMP_V2 = 13
PEER_INDEX_TABLE = 1
RIB_IPV4_UNICAST = 2
RIB_IPV6_UNICAST = 4

ORIGIN, AS_PATH, NEXT_HOP, MED, COMMUNITIES, MP_REACH, LARGE_COMMUNITIES = 1, 2, 3, 4, 8, 14, 32
_TRANSITIVE, _OPTIONAL, _EXTENDED = 0x40, 0x80, 0x10
AS_SEQUENCE = 2


@dataclass(frozen=True)
class Attrs:
    """Path attributes of one route; `communities` as (high, low), `large` as (global, local1, local2)."""

    as_path: tuple[int, ...]
    next_hop: str
    origin: int = 0  # 0 IGP, 1 EGP, 2 INCOMPLETE
    med: int | None = None
    communities: tuple[tuple[int, int], ...] = ()
    large: tuple[tuple[int, int, int], ...] = ()


def _attr(flags: int, code: int, value: bytes) -> bytes:
    if len(value) > 255:
        return struct.pack("!BBH", flags | _EXTENDED, code, len(value)) + value
    return struct.pack("!BBB", flags, code, len(value)) + value


def encode_attrs(a: Attrs) -> bytes:
    out = [_attr(_TRANSITIVE, ORIGIN, bytes([a.origin]))]
    path = b""
    # A segment holds at most 255 ASNs.
    for i in range(0, len(a.as_path), 255):
        seg = a.as_path[i : i + 255]
        path += struct.pack("!BB", AS_SEQUENCE, len(seg)) + b"".join(struct.pack("!I", x) for x in seg)
    out.append(_attr(_TRANSITIVE, AS_PATH, path))
    nh = ipaddress.ip_address(a.next_hop)
    if nh.version == 4:
        out.append(_attr(_TRANSITIVE, NEXT_HOP, nh.packed))
    else:
        out.append(_attr(_OPTIONAL, MP_REACH, struct.pack("!HBB", 2, 1, 16) + nh.packed + b"\x00"))
    if a.med is not None:
        out.append(_attr(_OPTIONAL, MED, struct.pack("!I", a.med)))
    if a.communities:
        out.append(_attr(_OPTIONAL | _TRANSITIVE, COMMUNITIES, b"".join(struct.pack("!HH", *c) for c in a.communities)))
    if a.large:
        out.append(_attr(_OPTIONAL | _TRANSITIVE, LARGE_COMMUNITIES, b"".join(struct.pack("!III", *c) for c in a.large)))
    return b"".join(out)


class MrtWriter:
    """Write a TABLE_DUMP_V2 file: call `peer_index()` once, then `rib()` per prefix."""

    def __init__(self, out: BinaryIO, timestamp: int) -> None:
        self.out = out
        self.timestamp = timestamp
        self.sequence = 0

    def _record(self, subtype: int, body: bytes) -> None:
        self.out.write(struct.pack("!IHHI", self.timestamp, TABLE_DUMP_V2, subtype, len(body)) + body)

    def peer_index(self, collector_id: str, peers: Sequence[tuple[str, str, int]], view: str = "") -> None:
        """`peers`: (BGP ID, address, ASN); every peer is written with a 4-byte AS."""
        body = ipaddress.IPv4Address(collector_id).packed + struct.pack("!H", len(view)) + view.encode()
        body += struct.pack("!H", len(peers))
        for bgp_id, address, asn in peers:
            addr = ipaddress.ip_address(address)
            peer_type = 0x02 | (0x01 if addr.version == 6 else 0)  # bit 1: AS4, bit 0: IPv6
            body += bytes([peer_type]) + ipaddress.IPv4Address(bgp_id).packed + addr.packed + struct.pack("!I", asn)
        self._record(PEER_INDEX_TABLE, body)

    def rib(self, prefix: str, entries: Sequence[tuple[int, Attrs]]) -> None:
        """One prefix with its (peer index, attributes) entries."""
        net = ipaddress.ip_network(prefix)
        nbytes = (net.prefixlen + 7) // 8
        body = struct.pack("!IB", self.sequence, net.prefixlen) + net.network_address.packed[:nbytes]
        body += struct.pack("!H", len(entries))
        for peer_index, attrs in entries:
            encoded = encode_attrs(attrs)
            body += struct.pack("!HIH", peer_index, self.timestamp, len(encoded)) + encoded
        self._record(RIB_IPV6_UNICAST if net.version == 6 else RIB_IPV4_UNICAST, body)
        self.sequence += 1
