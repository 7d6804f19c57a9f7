"""Typed events of the BMP v3 decoder (RFC 7854, RFC 8671, RFC 9069).

The decoder (nxthdr.bmp.decoder) turns the bytes of one BMP session into these
small frozen values; it never touches a socket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from nxthdr.bgp.types import Notification, Open, Update

# Message types (RFC 7854 section 4.1).
ROUTE_MONITORING = 0
STATS_REPORT = 1
PEER_DOWN = 2
PEER_UP = 3
INITIATION = 4
TERMINATION = 5
ROUTE_MIRRORING = 6

# Metric label of each message type (the reference collector's names).
MESSAGE_TYPE_NAMES = {
    ROUTE_MONITORING: "route_monitoring",
    STATS_REPORT: "stats_report",
    PEER_DOWN: "peer_down_notification",
    PEER_UP: "peer_up_notification",
    INITIATION: "initiation",
    TERMINATION: "termination",
    ROUTE_MIRRORING: "route_mirroring",
}

# Peer types (RFC 7854 4.2, RFC 9069).
PEER_GLOBAL = 0
PEER_RD_INSTANCE = 1
PEER_LOCAL_INSTANCE = 2
PEER_LOC_RIB = 3

# Per-peer header flags.
FLAG_V = 0x80  # IPv6 peer address (for Loc-RIB: F, filtered)
FLAG_L = 0x40  # post-policy
FLAG_A = 0x20  # legacy 2-octet AS_PATH
FLAG_O = 0x10  # Adj-RIB-Out (RFC 8671)


class BmpError(ValueError):
    """The BMP speaker broke the protocol."""


class FramingError(BmpError):
    """The message boundaries are lost (bad version, length or type): the session must close."""


class TruncatedMessageError(FramingError):
    """The stream ended inside a message (or its header): the trailing bytes are lost."""

    def __init__(self, message: str, *, buffered: int, expected: int | None) -> None:
        super().__init__(message)
        self.buffered = buffered  # bytes of the unfinished message that arrived
        self.expected = expected  # its announced length, None when the header itself is cut


class BufferLimitError(BmpError):
    """The speaker sent more than the decoder may buffer (message or session cap)."""


@dataclass(frozen=True, slots=True)
class PeerHeader:
    peer_type: int
    flags: int
    distinguisher: int  # 64-bit peer distinguisher (RD or local instance id; VRF id for Loc-RIB)
    address: bytes  # 16 bytes, IPv4-mapped when the V flag is clear; :: for Loc-RIB
    asn: int
    bgp_id: int
    timestamp_ns: int  # seconds + microseconds of the header, in ns

    @property
    def is_ipv6(self) -> bool:
        return self.peer_type != PEER_LOC_RIB and bool(self.flags & FLAG_V)

    @property
    def is_post_policy(self) -> bool:
        return self.peer_type != PEER_LOC_RIB and bool(self.flags & FLAG_L)

    @property
    def is_legacy_as_path(self) -> bool:
        return self.peer_type != PEER_LOC_RIB and bool(self.flags & FLAG_A)

    @property
    def is_adj_rib_out(self) -> bool:
        return self.peer_type != PEER_LOC_RIB and bool(self.flags & FLAG_O)

    @property
    def is_loc_rib(self) -> bool:
        return self.peer_type == PEER_LOC_RIB

    @property
    def is_filtered(self) -> bool:
        """Loc-RIB F flag (RFC 9069): the Loc-RIB is filtered."""
        return self.peer_type == PEER_LOC_RIB and bool(self.flags & 0x80)

    @property
    def key(self) -> tuple[int, int, bytes]:
        """Identity of the monitored peer within one router: type, distinguisher, address."""
        return (self.peer_type, self.distinguisher, self.address)


@dataclass(frozen=True, slots=True)
class InformationTlv:
    type: int
    value: bytes

    @property
    def text(self) -> str:
        return self.value.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class Initiation:
    tlvs: tuple[InformationTlv, ...]

    @property
    def sys_name(self) -> str:
        return next((t.text for t in self.tlvs if t.type == 2), "")

    @property
    def sys_descr(self) -> str:
        return next((t.text for t in self.tlvs if t.type == 1), "")


@dataclass(frozen=True, slots=True)
class Termination:
    tlvs: tuple[InformationTlv, ...]

    @property
    def reason(self) -> int | None:
        for t in self.tlvs:
            if t.type == 1 and len(t.value) == 2:
                return int.from_bytes(t.value, "big")
        return None


@dataclass(frozen=True, slots=True)
class PeerUp:
    peer: PeerHeader
    local_address: bytes  # 16 bytes
    local_port: int
    remote_port: int
    sent_open: Open  # the OPEN the monitored router sent
    received_open: Open  # the OPEN the router received from the peer
    tlvs: tuple[InformationTlv, ...]


@dataclass(frozen=True, slots=True)
class PeerDown:
    peer: PeerHeader
    reason: int  # 1..6 (RFC 7854 4.9, RFC 9069)
    notification: Notification | None  # reasons 1 and 3
    fsm_event: int | None  # reason 2
    tlvs: tuple[InformationTlv, ...] = ()  # reason 6 (RFC 9069)


@dataclass(frozen=True, slots=True)
class RouteMonitoring:
    peer: PeerHeader
    update: Update


@dataclass(frozen=True, slots=True)
class Stat:
    type: int
    value: int
    afi: int = 0  # per-AFI/SAFI gauges (types 9, 10, 16, 17)
    safi: int = 0


@dataclass(frozen=True, slots=True)
class StatsReport:
    peer: PeerHeader
    stats: tuple[Stat, ...]


@dataclass(frozen=True, slots=True)
class RouteMirroring:
    peer: PeerHeader
    tlvs: tuple[InformationTlv, ...]  # type 0: BGP message, type 1: information code


@dataclass(frozen=True, slots=True)
class MalformedMessage:
    """A message whose framing was intact but whose body could not be decoded.

    The session continues with the next message; the collector counts and logs it.
    """

    msg_type: int
    reason: str
    peer: PeerHeader | None = None


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()

Event = Union[Initiation, Termination, PeerUp, PeerDown, RouteMonitoring, StatsReport, RouteMirroring, MalformedMessage]
