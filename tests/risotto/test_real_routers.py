"""risotto fed by real routers, producing to a real Kafka broker.

Topology (network namespaces, veth):

    peer (GoBGP AS65010) ── gobgp (GoBGP AS65001) ── BMP over IPv6 ──┐
         │                                                          ├─ risotto (this process) ── Kafka
         └────────────── frr (FRR AS65002) ──────── BMP over IPv4 ──┘

The peer is told what to announce; the monitored routers stream it (pre-policy,
post-policy, Loc-RIB for GoBGP) and the test reads the `Update` rows back from
Kafka and compares them with what the peer was told.
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Iterator

import pytest

from nxthdr.core import config
from nxthdr.core.addr import to16
from nxthdr.risotto.app import build
from tests.support.kafka_client import consume, split_messages
from tests.support.netns import Topology, Uplink
from tests.support.routers import BmpServer, Frr, GoBgp, Neighbor, Policy
from tests.support.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("router_env")]

PEER_AS, GOBGP_AS, FRR_AS = 65010, 65001, 65002
# peer <-> gobgp link, peer <-> frr link
PG_PEER, PG_MON, PG_PEER6, PG_MON6 = "10.0.1.10", "10.0.1.1", "fd01::10", "fd01::1"
PF_PEER, PF_MON, PF_PEER6, PF_MON6 = "10.0.2.10", "10.0.2.1", "fd02::10", "fd02::1"
V4_PREFIX, V6_PREFIX = "10.10.0.0/24", "2001:db8:10::/48"


class CollectorThread:
    """risotto running in its own event loop thread, as it runs in production (one process)."""

    def __init__(self, cfg: dict) -> None:
        self.cfg = cfg
        self.app = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.started = threading.Event()
        self.error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main():
            self.app = build(self.cfg)
            await self.app.supervisor.start()
            self.started.set()
            await self.app.supervisor._stop.wait()
            await self.app.supervisor.stop()

        try:
            self.loop.run_until_complete(main())
        except BaseException as e:  # surfaced by start()/stop()
            self.error = e
            self.started.set()

    def start(self) -> "CollectorThread":
        self.thread.start()
        assert self.started.wait(30), "collector did not start"
        if self.error:
            raise self.error
        return self

    def call(self, fn):
        """Run `fn()` on the collector's loop (state is not thread-safe) and return its result."""
        fut = asyncio.run_coroutine_threadsafe(_wrap(fn), self.loop)
        return fut.result(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.app.supervisor.request_stop)
        self.thread.join(60)
        assert not self.thread.is_alive(), "collector did not stop"


async def _wrap(fn):
    return fn()


def collector_cfg(tmp, port: int, bootstrap: str, topic: str, **kafka) -> dict:
    cfg = config.defaults(config.load_schema("risotto"))
    cfg["bmp"]["address"] = f"[::]:{port}"
    cfg["metrics"]["address"] = "127.0.0.1:0"
    cfg["kafka"].update(brokers=bootstrap, topic=topic, batch_wait_time=100, batch_wait_interval=20, **kafka)
    cfg["curation"].update(state_path=str(tmp / "state.bin"), state_interval=2, stale_timeout=8)
    config.validate(config.load_schema("risotto"), cfg)
    return cfg


@dataclass
class Lab:
    peer: GoBgp
    gobgp: GoBgp
    frr: Frr
    gobgp_up: Uplink
    frr_up: Uplink
    port: int
    stateless_port: int

    @property
    def gobgp_router(self) -> bytes:
        return to16(self.gobgp_up.ns_v6)

    @property
    def frr_router(self) -> bytes:
        return to16(self.frr_up.ns_v4)


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    port, stateless_port = free_port(), free_port()
    with Topology() as topo:
        peer_ns, g_ns, f_ns = topo.add("peer"), topo.add("gobgp"), topo.add("frr")
        topo.link(peer_ns, [f"{PG_PEER}/24", f"{PG_PEER6}/64"], g_ns, [f"{PG_MON}/24", f"{PG_MON6}/64"])
        topo.link(peer_ns, [f"{PF_PEER}/24", f"{PF_PEER6}/64"], f_ns, [f"{PF_MON}/24", f"{PF_MON6}/64"])
        g_up, f_up = topo.uplink(g_ns), topo.uplink(f_ns)
        routers = []
        try:
            peer = GoBgp(peer_ns, PEER_AS, PG_PEER, [PG_PEER, PG_PEER6, PF_PEER, PF_PEER6],
                         neighbors=[Neighbor(PG_MON, GOBGP_AS), Neighbor(PG_MON6, GOBGP_AS),
                                    Neighbor(PF_MON, FRR_AS), Neighbor(PF_MON6, FRR_AS)])
            routers.append(peer)
            gobgp = GoBgp(g_ns, GOBGP_AS, PG_MON, [PG_MON, PG_MON6],
                          neighbors=[Neighbor(PG_PEER, PEER_AS), Neighbor(PG_PEER6, PEER_AS)],
                          bmp_servers=[BmpServer(g_up.root_v6, port, "all"),
                                       BmpServer(g_up.root_v4, stateless_port, "pre-policy")],
                          import_policy=Policy("gobgp-in", add_communities=("65001:999",)))
            routers.append(gobgp)
            frr = Frr(f_ns, FRR_AS, PF_MON,
                      neighbors=[Neighbor(PF_PEER, PEER_AS), Neighbor(PF_PEER6, PEER_AS)],
                      bmp_targets=[BmpServer(f_up.root_v4, port, ("pre-policy", "post-policy"))])
            routers.append(frr)
            for n in (PG_MON, PG_MON6, PF_MON, PF_MON6):
                peer.wait_established(n, timeout=60)
            yield Lab(peer, gobgp, frr, g_up, f_up, port, stateless_port)
        finally:
            for r in routers:
                r.close()


def rows_of(bootstrap: str, topic: str, until=None, timeout: float = 30.0) -> list[dict]:
    def done(records):
        return until is not None and until([m for r in records for m in split_messages(r.value, "update.capnp",
                                                                                       "Update")])

    records = asyncio.run(consume(bootstrap, topic, until=done, timeout=timeout))
    return [m for r in records for m in split_messages(r.value, "update.capnp", "Update")]


def prefix_text(row: dict) -> str:
    a = ipaddress.IPv6Address(row["prefixAddr"])
    return f"{a.ipv4_mapped or a}/{row['prefixLen']}"


def select(rows, *, router=None, peer=None, prefix=None, post=None, loc_rib=None, announced=None, synthetic=None):
    out = []
    for r in rows:
        if router is not None and r["routerAddr"] != router:
            continue
        if peer is not None and r["peerAddr"] != to16(peer):
            continue
        if prefix is not None and prefix_text(r) != prefix:
            continue
        if post is not None and r["isPostPolicy"] != post:
            continue
        if loc_rib is not None and r["isLocRib"] != loc_rib:
            continue
        if announced is not None and r["announced"] != announced:
            continue
        if synthetic is not None and r["synthetic"] != synthetic:
            continue
        out.append(r)
    return out


def test_routers_to_kafka(lab: Lab, kafka, tmp_path):
    topic = f"risotto-real-{uuid.uuid4().hex[:8]}"
    stateless_topic = f"risotto-stateless-{uuid.uuid4().hex[:8]}"
    collector = CollectorThread(collector_cfg(tmp_path, lab.port, kafka.bootstrap, topic)).start()
    # A second collector, stateless, reached over SASL/SCRAM.
    stateless_cfg = collector_cfg(tmp_path / "stateless", lab.stateless_port, kafka.sasl_bootstrap, stateless_topic,
                                  auth_protocol="SASL_PLAINTEXT", auth_sasl_username="risotto",
                                  auth_sasl_password="risotto", auth_sasl_mechanism="SCRAM-SHA-512")
    stateless_cfg["curation"]["disable"] = True
    stateless = CollectorThread(stateless_cfg).start()
    try:
        _scenario(lab, kafka, collector, topic, tmp_path)
        _stateless_checks(lab, kafka, stateless_topic)
    finally:
        stateless.stop()
        try:
            collector.stop()
        except AssertionError:
            pass


def _scenario(lab: Lab, kafka, collector: CollectorThread, topic: str, tmp_path) -> None:
    bs = kafka.bootstrap
    gr, fr = lab.gobgp_router, lab.frr_router
    # 1. The peer announces IPv4 and IPv6 routes with all three community kinds.
    lab.peer.add_route(V4_PREFIX, PG_PEER, communities=["65010:1"], large_communities=["65010:1:2"],
                       ext_communities=["65010:100"], med=10, origin="igp")
    lab.peer.add_route(V6_PREFIX, PG_PEER6, communities=["65010:2"], large_communities=["65010:2:3"])

    def have_all(rows):
        return all(select(rows, router=r, peer=p, prefix=x, announced=True)
                   for r, p, x in ((gr, PG_PEER, V4_PREFIX), (gr, PG_PEER6, V6_PREFIX),
                                   (fr, PF_PEER, V4_PREFIX), (fr, PF_PEER6, V6_PREFIX)))

    rows = rows_of(bs, topic, until=have_all, timeout=60)
    assert have_all(rows), f"rows seen: {[(prefix_text(r), r['peerAddr']) for r in rows]}"
    v4 = select(rows, router=gr, peer=PG_PEER, prefix=V4_PREFIX, post=False, loc_rib=False)[0]
    assert v4["peerAsn"] == PEER_AS and v4["asPath"] == [PEER_AS]
    assert v4["nextHop"] == to16(PG_PEER) and v4["multiExitDisc"] == 10 and v4["origin"] == "IGP"
    assert {"asn": 65010, "value": 1} in v4["communities"]
    assert v4["largeCommunities"] == [{"globalAdmin": 65010, "localDataPart1": 1, "localDataPart2": 2}]
    rt = [c for c in v4["extendedCommunities"] if (c["typeHigh"], c["typeLow"]) == (0x00, 0x02)]
    assert rt and rt[0]["value"] == (65010).to_bytes(2, "big") + (100).to_bytes(4, "big")
    # Post-policy carries GoBGP's import policy community, pre-policy does not.
    post = select(rows, router=gr, peer=PG_PEER, prefix=V4_PREFIX, post=True)
    assert post and {"asn": 65001, "value": 999} in post[0]["communities"]
    assert {"asn": 65001, "value": 999} not in v4["communities"]
    assert select(rows, router=gr, prefix=V4_PREFIX, loc_rib=True, announced=True)
    v6 = select(rows, router=gr, peer=PG_PEER6, prefix=V6_PREFIX, post=False, loc_rib=False)[0]
    assert v6["nextHop"] == to16(PG_PEER6) and v6["mpReachAfi"] == 2
    assert {"asn": 65010, "value": 2} in v6["communities"]
    frr_v4 = select(rows, router=fr, peer=PF_PEER, prefix=V4_PREFIX)
    assert {r["isPostPolicy"] for r in frr_v4} == {False, True}
    n_before = len(rows)

    # 2. A changed attribute is forwarded; nothing else is repeated.
    lab.peer.add_route(V4_PREFIX, PG_PEER, communities=["65010:1"], large_communities=["65010:1:2"],
                       ext_communities=["65010:100"], med=20, origin="igp")
    rows = rows_of(bs, topic, until=lambda rs: select(rs, router=gr, peer=PG_PEER, prefix=V4_PREFIX, post=False,
                                                      loc_rib=False, announced=True)[-1]["multiExitDisc"] == 20,
                   timeout=30)
    assert select(rows, router=gr, peer=PG_PEER, prefix=V4_PREFIX, post=False, loc_rib=False)[-1]["multiExitDisc"] == 20

    # 3. A withdraw reaches Kafka as a withdraw (not synthetic).
    lab.peer.del_route(V6_PREFIX)
    rows = rows_of(bs, topic, until=lambda rs: select(rs, router=gr, peer=PG_PEER6, prefix=V6_PREFIX,
                                                      announced=False, synthetic=False), timeout=30)
    assert select(rows, router=gr, peer=PG_PEER6, prefix=V6_PREFIX, post=False, announced=False, synthetic=False)
    assert select(rows, router=fr, peer=PF_PEER6, prefix=V6_PREFIX, announced=False, synthetic=False)

    # 4. A peer going down: synthetic withdraws of what that peer had. (GoBGP
    # withdraws its post-policy routes itself before the Peer Down, so those may
    # arrive as plain withdraws: together they must cover both views.)
    before = len(rows_of(bs, topic, timeout=2))
    lab.gobgp.shutdown_neighbor(PG_PEER)
    rows = rows_of(bs, topic, until=lambda rs: select(rs[before:], router=gr, peer=PG_PEER, prefix=V4_PREFIX,
                                                      synthetic=True), timeout=30)
    gone = select(rows[before:], router=gr, peer=PG_PEER, prefix=V4_PREFIX, announced=False)
    assert {r["isPostPolicy"] for r in gone if not r["isLocRib"]} == {False, True}
    synth = select(rows[before:], router=gr, peer=PG_PEER, synthetic=True)
    assert synth and all(not r["announced"] for r in synth)
    assert {prefix_text(r) for r in synth} == {V4_PREFIX}
    lab.gobgp.enable_neighbor(PG_PEER)
    lab.gobgp.wait_established(PG_PEER, timeout=60)

    # 5. Collector restart from its state file: FRR reconnects and re-sends its
    # table. While the collector is down the peer withdraws a route FRR had.
    lab.peer.add_route("10.20.0.0/24", PF_PEER)
    rows = rows_of(bs, topic, until=lambda rs: select(rs, router=fr, prefix="10.20.0.0/24", announced=True),
                   timeout=30)
    time.sleep(3)  # let a periodic dump happen too; the final one at stop is what counts
    collector.stop()
    before_restart = len(rows_of(bs, topic, timeout=3))
    lab.peer.del_route("10.20.0.0/24")
    time.sleep(2)
    collector2 = CollectorThread(collector.cfg).start()
    try:
        def restarted(rs):
            new = rs[before_restart:]
            return bool(select(new, router=fr, prefix="10.20.0.0/24", announced=False))

        rows = rows_of(bs, topic, until=restarted, timeout=60)
        new = rows[before_restart:]
        # No duplicates: FRR's unchanged route is not forwarded again.
        assert not select(new, router=fr, peer=PF_PEER, prefix=V4_PREFIX, announced=True), \
            [(prefix_text(r), r["announced"]) for r in new]
        # No lost withdraw: the route that vanished while we were down is withdrawn.
        gone = select(new, router=fr, prefix="10.20.0.0/24", announced=False)
        assert gone and all(r["synthetic"] for r in gone)

        # 6. A router's BMP session dropping: everything it reported is withdrawn.
        lab.frr.stop()
        rows = rows_of(bs, topic, until=lambda rs: select(rs[before_restart:], router=fr, peer=PF_PEER,
                                                          prefix=V4_PREFIX, synthetic=True), timeout=30)
        lost = select(rows[before_restart:], router=fr, synthetic=True)
        assert {prefix_text(r) for r in lost} >= {V4_PREFIX}
        assert all(not r["announced"] for r in lost)
        synthetic_metric = collector2.call(lambda: dict(collector2.app.processor.m_synthetic.values))
        assert synthetic_metric.get(("session_lost",), 0) >= 1
    finally:
        collector2.stop()
    assert n_before > 0


def _stateless_checks(lab: Lab, kafka, topic: str) -> None:
    # GoBGP also streams pre-policy to the stateless collector (over IPv4); the
    # peer-down above reached it as a Peer Down, with no synthetic rows.
    rows = rows_of(kafka.bootstrap, topic, until=lambda rs: len(rs) >= 3, timeout=30)
    assert rows, "stateless collector produced nothing"
    assert not [r for r in rows if r["synthetic"]]
    announces = select(rows, prefix=V4_PREFIX, announced=True)
    # Stateless: the re-announcement after the session came back is forwarded again.
    assert len(announces) >= 2
