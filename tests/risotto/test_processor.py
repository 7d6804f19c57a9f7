"""Curation and row contents, driven by BMP messages through the real decoder."""

from __future__ import annotations

import ipaddress

from nxthdr.bmp import builder as b
from nxthdr.core.addr import to16
from tests.risotto.helpers import (PEER_A, PEER_B, ROUTER, Harness, announce, eor, peer_down, peer_header, peer_up,
                                   prefixes_of, withdraw)


def test_rows_carry_every_attribute():
    h = Harness()
    h.connect()
    h.feed(b.bmp_initiation("r1", "test router"), peer_up())
    rows = h.feed(announce(["203.0.113.0/24"], communities=[(65000, 1), (0xFFFF, 0xFF01)], large=[(65000, 1, 2)],
                           med=50, timestamp_ns=1_700_000_000_123_456_000, post_policy=True))
    assert len(rows) == 1
    r = rows[0]
    assert r["routerAddr"] == ROUTER and r["routerPort"] == 40000
    assert r["peerAddr"] == to16(PEER_A) and r["peerAsn"] == 65001
    assert r["prefixAddr"] == to16("203.0.113.0") and r["prefixLen"] == 24
    assert r["announced"] and not r["synthetic"] and r["isPostPolicy"] and not r["isAdjRibOut"]
    assert r["origin"] == "IGP" and r["asPath"] == [65001, 65010]
    assert r["nextHop"] == to16("192.0.2.1")
    assert r["communities"] == [{"asn": 65000, "value": 1}, {"asn": 0xFFFF, "value": 0xFF01}]
    assert r["largeCommunities"] == [{"globalAdmin": 65000, "localDataPart1": 1, "localDataPart2": 2}]
    assert r["multiExitDisc"] == 50
    assert r["timeBmpHeaderNs"] == 1_700_000_000_123_456_000
    assert r["timeReceivedNs"] > 1_600_000_000 * 10**9


def test_ipv6_rows_use_the_mp_reach_next_hop():
    h = Harness()
    h.connect()
    rows = h.feed(peer_up(), announce(["2001:db8:100::/48"]))
    assert rows[0]["nextHop"] == to16("2001:db8::1")
    assert rows[0]["nextHopLinkLocal"] == to16("fe80::1")
    assert rows[0]["mpReachAfi"] == 2 and rows[0]["mpReachSafi"] == 1


def test_identical_reannouncement_is_deduplicated_but_changes_are_forwarded():
    h = Harness()
    h.connect()
    h.feed(peer_up())
    assert len(h.feed(announce(["203.0.113.0/24", "198.51.100.0/24"]))) == 2
    assert h.feed(announce(["203.0.113.0/24"])) == []
    changed = h.feed(announce(["203.0.113.0/24"], path=(65001, 65020)))
    assert [r["asPath"] for r in changed] == [[65001, 65020]]
    assert len(h.feed(announce(["203.0.113.0/24"], path=(65001, 65020), med=7))) == 1


def test_withdraws_of_absent_prefixes_are_dropped():
    h = Harness()
    h.connect()
    h.feed(peer_up(), announce(["203.0.113.0/24"]))
    rows = h.feed(withdraw(["203.0.113.0/24", "192.0.2.0/24"]))
    assert prefixes_of(rows) == [("203.0.113.0/24", 0, False, False)]
    assert h.feed(withdraw(["203.0.113.0/24"])) == []


def test_peer_down_withdraws_everything_synthetically():
    h = Harness()
    h.connect()
    h.feed(peer_up(), announce(["203.0.113.0/24", "2001:db8:1::/48"]))
    h.feed(announce(["203.0.113.0/24"], post_policy=True))
    rows = h.feed(peer_down())
    assert prefixes_of(rows) == [("2001:db8:1::/48", 0, False, True), ("203.0.113.0/24", 0, False, True),
                                 ("203.0.113.0/24", 0, False, True)]
    assert sorted(r["isPostPolicy"] for r in rows) == [False, False, True]
    assert all(r["peerAddr"] == to16(PEER_A) and r["peerAsn"] == 65001 for r in rows)
    # The peer is forgotten: a new announcement is new.
    assert len(h.feed(peer_up(), announce(["203.0.113.0/24"]))) == 1


def test_lost_bmp_session_withdraws_all_peers_of_the_router():
    h = Harness()
    h.connect()
    h.feed(peer_up(), peer_up(PEER_B, 65002), announce(["203.0.113.0/24"]),
           announce(["2001:db8:2::/48"], address=PEER_B, asn=65002))
    rows = h.close(lost=True)
    assert prefixes_of(rows) == [("2001:db8:2::/48", 0, False, True), ("203.0.113.0/24", 0, False, True)]
    assert h.p.rib.routers == {}


def test_shutdown_keeps_state_without_withdraws():
    h = Harness()
    h.connect()
    h.feed(peer_up(), announce(["203.0.113.0/24"]))
    assert h.close(lost=False) == []
    assert h.p.rib.stored() == 1


def test_after_peer_up_end_of_rib_sweeps_what_was_not_reannounced():
    h = Harness()
    h.connect()
    h.feed(peer_up(), announce(["203.0.113.0/24", "198.51.100.0/24"]), announce(["2001:db8:1::/48"]))
    # The router re-sends Peer Up (e.g. a session reset it did not report as down).
    h.feed(peer_up())
    assert h.feed(announce(["203.0.113.0/24"])) == []  # same route again: no row
    rows = h.feed(eor(1))
    assert prefixes_of(rows) == [("198.51.100.0/24", 0, False, True)]
    assert prefixes_of(h.feed(eor(2))) == [("2001:db8:1::/48", 0, False, True)]
    assert h.p.rib.stored() == 1 and h.feed(eor(1)) == []


def test_stale_timeout_sweeps_without_end_of_rib():
    h = Harness(stale_timeout=300)
    h.connect()
    h.feed(peer_up(), announce(["203.0.113.0/24", "198.51.100.0/24"]), peer_up(), announce(["203.0.113.0/24"]))
    h.clock.now += 299
    assert h.p.sweep() == 0
    h.clock.now += 2
    assert h.p.sweep() == 1
    assert prefixes_of(h.new_rows()) == [("198.51.100.0/24", 0, False, True)]


def test_stateless_mode_forwards_everything_and_invents_nothing():
    h = Harness(curation=False)
    h.connect()
    h.feed(peer_up())
    assert len(h.feed(announce(["203.0.113.0/24"]))) == 1
    assert len(h.feed(announce(["203.0.113.0/24"]))) == 1
    assert len(h.feed(withdraw(["192.0.2.0/24"]))) == 1
    assert h.feed(peer_down()) == []
    assert h.close() == []


def test_add_path_prefixes_are_distinct_routes():
    h = Harness()
    h.connect()
    h.feed(peer_up(add_path=True))
    rows = h.feed(announce([("203.0.113.0", 24, 1), ("203.0.113.0", 24, 2)], add_path=True),
                  announce([("2001:db8::", 32, 7)], add_path=True))
    assert prefixes_of(rows) == [("2001:db8::/32", 7, True, False), ("203.0.113.0/24", 1, True, False),
                                 ("203.0.113.0/24", 2, True, False)]
    rows = h.feed(withdraw([("203.0.113.0", 24, 2)], add_path=True))
    assert prefixes_of(rows) == [("203.0.113.0/24", 2, False, False)]
    assert prefixes_of(h.feed(peer_down())) == [("2001:db8::/32", 7, False, True), ("203.0.113.0/24", 1, False, True)]


def test_peers_are_separated_by_distinguisher():
    h = Harness()
    h.connect()
    rd1, rd2 = (0 << 48) | (65000 << 32) | 1, (0 << 48) | (65000 << 32) | 2
    h.feed(peer_up(peer_type=1, distinguisher=rd1), peer_up(peer_type=1, distinguisher=rd2))
    rows = h.feed(announce(["203.0.113.0/24"], peer_type=1, distinguisher=rd1),
                  announce(["203.0.113.0/24"], peer_type=1, distinguisher=rd2))
    assert sorted(r["peerDistinguisher"] for r in rows) == [rd1, rd2]
    assert all(r["peerType"] == 1 for r in rows)
    rows = h.feed(peer_down(peer_type=1, distinguisher=rd1))
    assert [r["peerDistinguisher"] for r in rows] == [rd1]
    labels = {k for k in h.p.m_rx.values}
    assert ("198.51.100.1", "192.0.2.1@65000:1") in labels and ("198.51.100.1", "192.0.2.1@65000:2") in labels


def test_loc_rib_rows():
    h = Harness()
    h.connect()
    ph = b.per_peer_header("::", 65000, "198.51.100.1", peer_type=3)
    sent = b.bgp_open(65000, "198.51.100.1", multiprotocol=((1, 1),))
    h.feed(b.bmp_peer_up(ph, sent, sent, local_address="::"))
    rows = h.feed(b.bmp_route_monitoring(ph, b.bgp_update(attributes=[b.origin("IGP"), b.as_path([65010]),
                                                                      b.next_hop("192.0.2.1")],
                                                          nlri=["203.0.113.0/24"])))
    assert len(rows) == 1 and rows[0]["isLocRib"] and rows[0]["peerType"] == 3 and not rows[0]["isPostPolicy"]


def test_route_monitoring_without_peer_up_all_zero_peer():
    # FRR sends its locally originated routes with an all-zero peer and no Peer Up.
    h = Harness()
    h.connect()
    rows = h.feed(announce(["203.0.113.0/24"], address="0.0.0.0", asn=0))
    assert len(rows) == 1 and rows[0]["peerAddr"] == to16("0.0.0.0")


def test_kafka_keys():
    for mode, expect in (("none", b""), ("router", ROUTER)):
        h = Harness(key_mode=mode)
        h.connect()
        h.feed(peer_up(), announce(["203.0.113.0/24"]))
        assert h.sink.keys == [expect]
    h = Harness(key_mode="peer")
    h.connect()
    h.feed(peer_up(), announce(["203.0.113.0/24"]), peer_up(PEER_B, 65002),
           announce(["2001:db8::/32"], address=PEER_B, asn=65002))
    assert len(set(h.sink.keys)) == 2 and all(k.startswith(ROUTER) for k in h.sink.keys)


def test_counters_and_gauges():
    h = Harness()
    h.connect()
    h.feed(peer_up(), announce(["203.0.113.0/24", "198.51.100.0/24"]), announce(["203.0.113.0/24"]))
    labels = ("198.51.100.1", "192.0.2.1")
    assert h.p.m_rx.get(labels) == 3 and h.p.m_tx.get(labels) == 2
    assert h.p.m_messages.get(("198.51.100.1", "route_monitoring")) == 2
    text = h.metrics.exposition().decode()
    assert 'risotto_peer_established{peer="192.0.2.1",router="198.51.100.1"} 1.0' in text
    assert 'risotto_state_updates{peer="192.0.2.1",router="198.51.100.1"} 2.0' in text
    assert 'risotto_rx_updates_total{peer="192.0.2.1",router="198.51.100.1"} 3.0' in text
    h.feed(peer_down())
    text = h.metrics.exposition().decode()
    assert 'risotto_peer_established{peer="192.0.2.1",router="198.51.100.1"} 0.0' in text


def test_malformed_message_is_counted_and_the_session_continues():
    h = Harness()
    h.connect()
    # Withdrawn-routes length (255) runs past the end of the UPDATE.
    bad = b.bmp_message(0, peer_header() + b"\xff" * 16 + b"\x00\x20\x02" + b"\x00\xff" + b"\x00" * 11)
    rows = h.feed(peer_up(), bad, announce(["203.0.113.0/24"]))
    assert len(rows) == 1
    assert h.p.m_decode_errors.get(("198.51.100.1", "malformed_message")) == 1


def test_ipv4_addresses_use_one_form_in_labels_and_state():
    # Defect 1 of the reference: mixed raw/mapped IPv4 keys. One form everywhere here.
    h = Harness()
    s = h.connect(to16("198.51.100.1"))
    h.feed(peer_up(), announce(["203.0.113.0/24"]))
    assert list(h.p.rib.routers) == [to16("198.51.100.1")]
    assert s.label == "198.51.100.1"
    assert list(h.p.rib.routers[to16("198.51.100.1")].peers)[0][2] == to16(PEER_A)
    assert str(ipaddress.IPv6Address(to16(PEER_A)).ipv4_mapped) == PEER_A
