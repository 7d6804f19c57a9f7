"""Feeding BMP bytes through the decoder into a processor, and reading the rows back."""

from __future__ import annotations

from nxthdr.bmp import builder as b
from nxthdr.bmp.decoder import BmpDecoder
from nxthdr.bmp.events import NEED_DATA
from nxthdr.core.addr import to16
from nxthdr.core.capnp_codec import load_schema
from nxthdr.core.metrics import Metrics
from nxthdr.core.sinks import CollectingSink
from nxthdr.risotto.processor import Processor

ROUTER = to16("198.51.100.1")
PEER_A = "192.0.2.1"
PEER_B = "2001:db8::2"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self, curation: bool = True, key_mode: str = "none", stale_timeout: float = 300.0, rib=None):
        self.sink = CollectingSink()
        self.metrics = Metrics("risotto")
        self.clock = FakeClock()
        self.p = Processor(self.sink, self.metrics, curation=curation, key_mode=key_mode,
                           stale_timeout=stale_timeout, clock=self.clock, rib=rib)
        self.session = None
        self.decoder = None
        self.seen = 0

    def connect(self, router16: bytes = ROUTER, port: int = 40000):
        self.session = self.p.open_session(router16, port)
        self.decoder = BmpDecoder()
        return self.session

    def feed(self, *messages: bytes) -> list[dict]:
        """Feed messages; returns the rows they produced."""
        for m in messages:
            self.decoder.receive_data(m)
            while (e := self.decoder.next_event()) is not NEED_DATA:
                self.p.handle(self.session, e)
        return self.new_rows()

    def new_rows(self) -> list[dict]:
        new = self.sink.messages[self.seen:]
        self.seen = len(self.sink.messages)
        update = load_schema("update.capnp").Update
        return [u.to_dict() for m in new for u in update.read_multiple_bytes(m)]

    def close(self, lost: bool = True) -> list[dict]:
        self.p.close_session(self.session, lost=lost)
        return self.new_rows()


def peer_header(address: str = PEER_A, asn: int = 65001, **kw) -> bytes:
    return b.per_peer_header(address, asn, **kw)


def peer_up(address: str = PEER_A, asn: int = 65001, add_path=None, **kw) -> bytes:
    fams = ((1, 1), (2, 1))
    sent = b.bgp_open(65000, "198.51.100.1", multiprotocol=fams, add_path={f: 1 for f in fams} if add_path else None)
    recv = b.bgp_open(asn, address if ":" not in address else "192.0.2.99", multiprotocol=fams,
                      add_path={f: 2 for f in fams} if add_path else None)
    return b.bmp_peer_up(peer_header(address, asn, **kw), sent, recv)


def announce(prefixes, *, address: str = PEER_A, asn: int = 65001, path=(65001, 65010), communities=(),
             large=(), med=None, next_hop="192.0.2.1", add_path=False, **kw) -> bytes:
    attrs = [b.origin("IGP"), b.as_path(list(path))]
    if communities:
        attrs.append(b.communities(*communities))
    if large:
        attrs.append(b.large_communities(*large))
    if med is not None:
        attrs.append(b.med(med))
    v4 = [p for p in prefixes if ":" not in str(p)]
    v6 = [p for p in prefixes if ":" in str(p)]
    if v4:
        attrs.append(b.next_hop(next_hop))
    mp = b.mp_reach(v6, "2001:db8::1", link_local="fe80::1") if v6 else None
    return b.bmp_route_monitoring(peer_header(address, asn, **kw),
                                  b.bgp_update(attributes=attrs, nlri=v4, mp_reach=mp, add_path=add_path))


def withdraw(prefixes, *, address: str = PEER_A, asn: int = 65001, add_path=False, **kw) -> bytes:
    v4 = [p for p in prefixes if ":" not in str(p)]
    v6 = [p for p in prefixes if ":" in str(p)]
    mp = b.mp_unreach(v6) if v6 else None
    return b.bmp_route_monitoring(peer_header(address, asn, **kw),
                                  b.bgp_update(withdrawn=v4, mp_unreach=mp, add_path=add_path))


def eor(afi: int = 1, *, address: str = PEER_A, asn: int = 65001, **kw) -> bytes:
    return b.bmp_route_monitoring(peer_header(address, asn, **kw), b.end_of_rib(afi, 1))


def peer_down(address: str = PEER_A, asn: int = 65001, **kw) -> bytes:
    return b.bmp_peer_down(peer_header(address, asn, **kw), 4)


def prefixes_of(rows: list[dict]) -> list[tuple[str, int, bool, bool]]:
    import ipaddress

    out = []
    for r in rows:
        a = ipaddress.IPv6Address(r["prefixAddr"])
        text = str(a.ipv4_mapped) if a.ipv4_mapped else str(a)
        out.append((f"{text}/{r['prefixLen']}", r["pathId"], r["announced"], r["synthetic"]))
    return sorted(out)
