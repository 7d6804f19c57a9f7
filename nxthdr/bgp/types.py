"""Typed values decoded from BGP-4 messages (RFC 4271 and extensions).

Addresses are always 16 bytes: IPv4 as IPv4-mapped IPv6, as on the wire formats
of the collectors (see schemas/update.capnp).
"""

from __future__ import annotations

from dataclasses import dataclass, field

AFI_IPV4 = 1
AFI_IPV6 = 2
AFI_L2VPN = 25
AFI_BGP_LS = 16388
SAFI_UNICAST = 1
SAFI_MULTICAST = 2

ORIGINS = ("IGP", "EGP", "INCOMPLETE")
V4_MAPPED = b"\0" * 10 + b"\xff\xff"
ZERO16 = b"\0" * 16


class BgpError(ValueError):
    """A BGP message (or part of one) is malformed: the peer broke the protocol."""


@dataclass(frozen=True, slots=True)
class NlriBlock:
    """The prefixes of one address family in one UPDATE, kept in wire form.

    Each item is the validated wire encoding of one prefix, `[path id (4 bytes)]
    length (1 byte) prefix bytes (ceil(length / 8))`. Keeping the wire slice
    makes it a compact, exact key for the collector's state; `prefixes()` turns
    items into (address, length, path id) for everyone else.
    """

    afi: int
    safi: int
    add_path: bool
    items: tuple[bytes, ...]

    def prefixes(self) -> list[tuple[bytes, int, int]]:
        return [decode_nlri_item(item, self.afi, self.add_path) for item in self.items]


def decode_nlri_item(item: bytes, afi: int, add_path: bool) -> tuple[bytes, int, int]:
    """(16-byte address, prefix length, path id) of one validated NLRI item."""
    if add_path:
        path_id = int.from_bytes(item[:4], "big")
        item = item[4:]
    else:
        path_id = 0
    length = item[0]
    raw = item[1:]
    if afi == AFI_IPV4:
        return V4_MAPPED + raw + b"\0" * (4 - len(raw)), length, path_id
    return raw + b"\0" * (16 - len(raw)), length, path_id


@dataclass(frozen=True, slots=True)
class ExtendedCommunity:
    type_high: int
    type_low: int
    value: bytes  # 6 bytes (RFC 4360) or 18 bytes (IPv6-specific, RFC 5701)


@dataclass(frozen=True, slots=True)
class MpReach:
    afi: int
    safi: int
    next_hop: bytes  # 16 bytes, :: when absent
    next_hop_link_local: bytes  # 16 bytes, :: when absent
    nlri: NlriBlock


@dataclass(frozen=True, slots=True)
class MpUnreach:
    afi: int
    safi: int
    withdrawn: NlriBlock


@dataclass(frozen=True, slots=True)
class PathAttributes:
    """Path attributes of one UPDATE (MP_REACH/MP_UNREACH are kept separately)."""

    origin: str = ""  # "IGP", "EGP", "INCOMPLETE" or "" when absent
    as_path: tuple[int, ...] = ()  # AS_SEQUENCE members, AS4_PATH merged (RFC 6793)
    next_hop: bytes = ZERO16  # NEXT_HOP attribute, 16 bytes
    med: int = 0
    local_pref: int = 0
    atomic_aggregate: bool = False
    aggregator_asn: int = 0
    aggregator_bgp_id: int = 0
    communities: tuple[tuple[int, int], ...] = ()  # (high 16 bits, low 16 bits)
    extended_communities: tuple[ExtendedCommunity, ...] = ()
    large_communities: tuple[tuple[int, int, int], ...] = ()
    originator_id: int = 0
    cluster_list: tuple[int, ...] = ()
    only_to_customer: int = 0
    unknown: tuple[int, ...] = ()  # type codes of attributes skipped


EMPTY_ATTRIBUTES = PathAttributes()


@dataclass(frozen=True, slots=True)
class Update:
    """A decoded BGP UPDATE.

    `announced` / `withdrawn` are the IPv4 unicast NLRI / withdrawn routes fields;
    MP-BGP families are in `mp_reach` / `mp_unreach`.
    """

    withdrawn: NlriBlock
    attributes: PathAttributes
    announced: NlriBlock
    mp_reach: MpReach | None = None
    mp_unreach: MpUnreach | None = None

    @property
    def end_of_rib(self) -> tuple[int, int] | None:
        """(AFI, SAFI) when this UPDATE is an End-of-RIB marker (RFC 4724), else None."""
        if self.announced.items or self.withdrawn.items or self.mp_reach is not None:
            return None
        if self.mp_unreach is None:
            if self.attributes == EMPTY_ATTRIBUTES:
                return (AFI_IPV4, SAFI_UNICAST)
            return None
        if not self.mp_unreach.withdrawn.items:
            return (self.mp_unreach.afi, self.mp_unreach.safi)
        return None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an OPEN message advertised (RFC 5492)."""

    four_octet_asn: int | None = None  # the 4-octet AS (RFC 6793) when advertised
    multiprotocol: frozenset[tuple[int, int]] = frozenset()  # (AFI, SAFI)
    # ADD-PATH (RFC 7911): (AFI, SAFI) -> 1 receive, 2 send, 3 both
    add_path: dict[tuple[int, int], int] = field(default_factory=dict)
    codes: tuple[int, ...] = ()  # every capability code seen


@dataclass(frozen=True, slots=True)
class Open:
    version: int
    asn: int  # My Autonomous System field (AS_TRANS for 4-octet speakers)
    hold_time: int
    bgp_id: int
    capabilities: Capabilities

    @property
    def effective_asn(self) -> int:
        return self.capabilities.four_octet_asn if self.capabilities.four_octet_asn is not None else self.asn


@dataclass(frozen=True, slots=True)
class Notification:
    code: int
    subcode: int
    data: bytes
