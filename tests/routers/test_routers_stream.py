"""GoBGP and FRR peer over a veth (IPv4 and IPv6 sessions) and both stream BMP to recorders.

Only the BMP common header (and two per-peer header fields) is looked at here;
decoding the messages is tested elsewhere, against the recorded fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import pytest

from tests.support.bmp_recorder import (
    INITIATION,
    PEER_DOWN,
    PEER_UP,
    ROUTE_MONITORING,
    BmpRecorder,
    BmpSession,
)
from tests.support.netns import Topology, Uplink
from tests.support.routers import BmpServer, Frr, GoBgp, Neighbor, Network, Policy
from tests.support.wait import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("router_env")]

GOBGP_V4, GOBGP_V6, GOBGP_AS = "10.0.0.1", "fd00::1", 65001
FRR_V4, FRR_V6, FRR_AS = "10.0.0.2", "fd00::2", 65002


@dataclass
class Lab:
    gobgp: GoBgp
    frr: Frr
    gobgp_up: Uplink
    frr_up: Uplink
    gobgp_all: BmpRecorder  # GoBGP, pre+post policy and Loc-RIB, over IPv6
    gobgp_locrib: BmpRecorder  # GoBGP, Loc-RIB, over IPv4
    frr_rec: BmpRecorder  # FRR, pre+post policy, over IPv4

    def logs(self) -> str:
        return self.gobgp.logs() + "\n" + self.frr.logs()

    def session(self, rec: BmpRecorder, source: str) -> BmpSession:
        return rec.wait_session(source, timeout=30)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Topology() as topo:
        g_ns, f_ns = topo.add("gobgp"), topo.add("frr")
        topo.link(g_ns, [f"{GOBGP_V4}/24", f"{GOBGP_V6}/64"], f_ns, [f"{FRR_V4}/24", f"{FRR_V6}/64"])
        g_up, f_up = topo.uplink(g_ns), topo.uplink(f_ns)
        recorders = [BmpRecorder(g_up.root_v6), BmpRecorder(g_up.root_v4), BmpRecorder(f_up.root_v4)]
        gobgp = frr = None
        try:
            gobgp = GoBgp(
                g_ns, GOBGP_AS, GOBGP_V4, [GOBGP_V4, GOBGP_V6],
                neighbors=[Neighbor(FRR_V4, FRR_AS), Neighbor(FRR_V6, FRR_AS)],
                bmp_servers=[
                    BmpServer(g_up.root_v6, recorders[0].port, "all"),
                    BmpServer(g_up.root_v4, recorders[1].port, "local-rib"),
                ],
                # Post-policy must differ from pre-policy to be worth monitoring.
                import_policy=Policy("gobgp-in", add_communities=("65001:999",)),
            )  # fmt: skip
            frr_in = Policy("frr-in", add_communities=("65002:999",), set_local_pref=250)
            frr = Frr(
                f_ns, FRR_AS, FRR_V4,
                neighbors=[Neighbor(GOBGP_V4, GOBGP_AS, import_policy=frr_in), Neighbor(GOBGP_V6, GOBGP_AS, import_policy=frr_in)],
                networks=[Network("192.0.2.0/24", Policy("frr-orig", add_communities=("65002:1",))), "2001:db8:2::/48"],
                bmp_targets=[BmpServer(f_up.root_v4, recorders[2].port, ("pre-policy", "post-policy"))],
            )  # fmt: skip
            for peer in (FRR_V4, FRR_V6):
                gobgp.wait_established(peer)
            gobgp.add_route(
                "10.1.0.0/24", GOBGP_V4, communities=["65000:1"], large_communities=["65000:1:2"],
                ext_communities=["65000:100"], med=10, as_path=[64500], origin="egp",
            )  # fmt: skip
            gobgp.add_route("2001:db8:1::/48", GOBGP_V6, communities=["65000:2"], large_communities=["65000:3:4"])
            yield Lab(gobgp, frr, g_up, f_up, *recorders)
        finally:
            for router in (gobgp, frr):
                if router is not None:
                    router.close()
            for rec in recorders:
                rec.stop()


def test_sessions_established_both_families(lab: Lab) -> None:
    for peer in (FRR_V4, FRR_V6):
        lab.gobgp.wait_established(peer)
    for peer in (GOBGP_V4, GOBGP_V6):
        lab.frr.wait_established(peer)


def test_routes_cross_both_ways(lab: Lab) -> None:
    wait_until(lambda: "192.0.2.0/24" in lab.gobgp.rib(), 20, "FRR's IPv4 route at GoBGP", details=lab.logs)
    wait_until(lambda: "2001:db8:2::/48" in lab.gobgp.rib(family="ipv6"), 20, "FRR's IPv6 route at GoBGP", details=lab.logs)
    wait_until(lambda: "10.1.0.0/24" in lab.frr.rib(), 20, "GoBGP's IPv4 route at FRR", details=lab.logs)
    wait_until(lambda: "2001:db8:1::/48" in lab.frr.rib(family="ipv6"), 20, "GoBGP's IPv6 route at FRR", details=lab.logs)


def _assert_stream_basics(rec: BmpRecorder, session: BmpSession, peers: tuple[str, str]) -> None:
    data = session.snapshot()
    assert data[:1] == b"\x03" and data[5:6] == bytes([INITIATION]), f"stream starts with {data[:6].hex()}"
    rec.wait_count(session, PEER_UP, at_least=2)
    ups = {m.peer_address for m in session.messages() if m.type == PEER_UP}
    assert set(peers) <= ups, f"Peer Up for {ups}"
    for peer in peers:
        for post in (False, True):
            wait_until(
                lambda: any(
                    m.type == ROUTE_MONITORING and m.peer_address == peer and m.post_policy == post
                    for m in session.messages()
                ),
                30,
                f"route monitoring from peer {peer} (post_policy={post})",
            )


def test_gobgp_streams_pre_and_post_policy(lab: Lab) -> None:
    session = lab.session(lab.gobgp_all, lab.gobgp_up.ns_v6)
    _assert_stream_basics(lab.gobgp_all, session, (FRR_V4, FRR_V6))


def test_frr_streams_pre_and_post_policy(lab: Lab) -> None:
    session = lab.session(lab.frr_rec, lab.frr_up.ns_v4)
    _assert_stream_basics(lab.frr_rec, session, (GOBGP_V4, GOBGP_V6))


def test_frr_reports_local_routes_with_all_zero_peer(lab: Lab) -> None:
    session = lab.session(lab.frr_rec, lab.frr_up.ns_v4)
    wait_until(
        lambda: any(m.type == ROUTE_MONITORING and m.peer_address == "0.0.0.0" and m.peer_asn == 0 for m in session.messages()),
        30,
        "FRR's all-zero-peer route monitoring for its own networks",
    )


def test_gobgp_streams_loc_rib(lab: Lab) -> None:
    session = lab.session(lab.gobgp_locrib, lab.gobgp_up.ns_v4)
    wait_until(lambda: any(m.type == ROUTE_MONITORING and m.loc_rib for m in session.messages()), 30, "Loc-RIB messages")
    # Loc-RIB only: no Adj-RIB-In peer's routes on this session.
    assert all(m.loc_rib for m in session.messages() if m.type == ROUTE_MONITORING)


def test_withdraw_and_peer_down_are_streamed(lab: Lab) -> None:
    frr_session = lab.session(lab.frr_rec, lab.frr_up.ns_v4)
    gobgp_session = lab.session(lab.gobgp_all, lab.gobgp_up.ns_v6)
    lab.gobgp.add_route("10.1.9.0/24", GOBGP_V4)
    wait_until(lambda: "10.1.9.0/24" in lab.frr.rib(), 20, "the extra route at FRR", details=lab.logs)
    before = frr_session.count(ROUTE_MONITORING)
    lab.gobgp.del_route("10.1.9.0/24")
    wait_until(lambda: "10.1.9.0/24" not in lab.frr.rib(), 20, "the withdraw at FRR", details=lab.logs)
    lab.frr_rec.wait_count(frr_session, ROUTE_MONITORING, at_least=before + 1)

    lab.gobgp.shutdown_neighbor(FRR_V4)
    try:
        for rec, session in ((lab.gobgp_all, gobgp_session), (lab.frr_rec, frr_session)):
            wait_until(
                lambda: any(m.type == PEER_DOWN for m in session.messages()),
                30,
                f"Peer Down from {session.peer[0]}",
                details=lab.logs,
            )
    finally:
        lab.gobgp.enable_neighbor(FRR_V4)
    lab.gobgp.wait_established(FRR_V4)
