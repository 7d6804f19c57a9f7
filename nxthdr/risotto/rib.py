"""Curation state: which prefixes each monitored peer currently has, with the
identity of their attributes.

Layout, chosen for memory (the target is <= 150 bytes per stored prefix):
routers -> peers -> tables -> {NLRI wire item: attribute id}. A table is one
(AFI, SAFI, pre/post-policy, Adj-RIB-In/Out, ADD-PATH encoding, Loc-RIB)
combination, encoded in a small int, so the key of a prefix is just its NLRI
wire slice (`[path id] length prefix-bytes`, 2-21 bytes) and the value is an int
object shared by every prefix announced with the same attributes.

After a Peer Up (or a reconnection after a restart) a peer's tables move to
`stale`; re-announced prefixes move back, and whatever is left is withdrawn when
that table's End-of-RIB arrives, or by the fallback timer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nxthdr.bgp.types import AFI_IPV4, AFI_IPV6, SAFI_MULTICAST, SAFI_UNICAST

T_IPV6 = 0x01
T_MULTICAST = 0x02
T_POST_POLICY = 0x04
T_ADJ_RIB_OUT = 0x08
T_ADD_PATH = 0x10
T_LOC_RIB = 0x20


def table_id(afi: int, safi: int, post_policy: bool, adj_rib_out: bool, add_path: bool, loc_rib: bool) -> int | None:
    """Table of a prefix, or None for families the collector does not store (no rows either)."""
    if afi == AFI_IPV4:
        t = 0
    elif afi == AFI_IPV6:
        t = T_IPV6
    else:
        return None
    if safi == SAFI_MULTICAST:
        t |= T_MULTICAST
    elif safi != SAFI_UNICAST:
        return None
    if post_policy:
        t |= T_POST_POLICY
    if adj_rib_out:
        t |= T_ADJ_RIB_OUT
    if add_path:
        t |= T_ADD_PATH
    if loc_rib:
        t |= T_LOC_RIB
    return t


def table_family(tid: int) -> tuple[int, int]:
    return (AFI_IPV6 if tid & T_IPV6 else AFI_IPV4, SAFI_MULTICAST if tid & T_MULTICAST else SAFI_UNICAST)


@dataclass(eq=False)
class PeerRib:
    peer_type: int
    distinguisher: int
    address: bytes  # 16 bytes
    asn: int = 0
    bgp_id: int = 0
    header_ts_ns: int = 0
    up: bool = False
    needs_resync: bool = False  # restored from the state file, not yet seen since
    tables: dict[int, dict[bytes, int]] = field(default_factory=dict)
    stale: dict[int, dict[bytes, int]] | None = None
    stale_since: float = 0.0
    owner: object | None = None  # the BMP session that last reported this peer

    @property
    def key(self) -> tuple[int, int, bytes]:
        return (self.peer_type, self.distinguisher, self.address)

    def stored(self) -> int:
        n = sum(len(t) for t in self.tables.values())
        if self.stale:
            n += sum(len(t) for t in self.stale.values())
        return n

    def mark_stale(self, now: float) -> None:
        """Everything stored so far must be re-announced, or it is withdrawn later."""
        if not self.tables:
            return
        if self.stale is None:
            self.stale = self.tables
        else:
            for tid, table in self.tables.items():
                self.stale.setdefault(tid, {}).update(table)
        self.tables = {}
        self.stale_since = now


@dataclass(eq=False)
class RouterRib:
    address: bytes  # 16 bytes
    peers: dict[tuple[int, int, bytes], PeerRib] = field(default_factory=dict)
    restored_since: float | None = None  # loaded from a state file at this time, not reconnected yet
    reconnected_at: float | None = None


class Rib:
    def __init__(self) -> None:
        self.routers: dict[bytes, RouterRib] = {}

    def router(self, address: bytes) -> RouterRib:
        r = self.routers.get(address)
        if r is None:
            r = self.routers[address] = RouterRib(address)
        return r

    def stored(self) -> int:
        return sum(p.stored() for r in self.routers.values() for p in r.peers.values())
