"""The curation state on disk: round trip, restart semantics, quarantine."""

from __future__ import annotations

import os

from nxthdr.risotto import state_file
from tests.risotto.helpers import PEER_B, Harness, announce, eor, peer_up, prefixes_of, withdraw


def populated() -> Harness:
    h = Harness()
    h.connect()
    h.feed(peer_up(), peer_up(PEER_B, 65002, add_path=True),
           announce(["203.0.113.0/24", "198.51.100.0/24"]), announce(["203.0.113.0/24"], post_policy=True),
           announce([("2001:db8::", 32, 3), ("2001:db8:1::", 48, 4)], address=PEER_B, asn=65002, add_path=True))
    return h


def test_round_trip_keeps_every_prefix_and_attribute_identity(tmp_path):
    h = populated()
    path = str(tmp_path / "state.bin")
    state_file.write_atomic(path, state_file.serialise(state_file.snapshot(h.p.rib)))
    rib = state_file.load(path, now=5.0)
    assert rib.stored() == h.p.rib.stored() == 5
    for addr, router in h.p.rib.routers.items():
        loaded = rib.routers[addr]
        assert loaded.restored_since == 5.0
        for key, peer in router.peers.items():
            lp = loaded.peers[key]
            assert lp.tables == peer.tables and lp.asn == peer.asn and lp.needs_resync


def test_restart_resumes_without_duplicates_and_withdraws_what_vanished(tmp_path):
    h = populated()
    path = str(tmp_path / "state.bin")
    h.close(lost=False)  # graceful stop: state kept, nothing withdrawn
    state_file.write_atomic(path, state_file.serialise(state_file.snapshot(h.p.rib)))

    h2 = Harness(rib=state_file.load(path, now=1000.0))
    h2.connect()
    # The router comes back and re-sends its table; one prefix was withdrawn while we were down.
    rows = h2.feed(peer_up(), announce(["203.0.113.0/24"]), announce(["203.0.113.0/24"], post_policy=True))
    assert rows == []  # no duplicates
    rows = h2.feed(eor(1), eor(1, post_policy=True))
    assert prefixes_of(rows) == [("198.51.100.0/24", 0, False, True)]  # no lost withdraw
    # Peer B never comes back: withdrawn after the stale timeout.
    h2.clock.now += 301
    h2.p.sweep()
    assert prefixes_of(h2.new_rows()) == [("2001:db8:1::/48", 4, False, True), ("2001:db8::/32", 3, False, True)]
    assert h2.p.rib.stored() == 2


def test_router_that_never_reconnects_is_withdrawn_after_the_timeout(tmp_path):
    h = populated()
    path = str(tmp_path / "state.bin")
    state_file.write_atomic(path, state_file.serialise(state_file.snapshot(h.p.rib)))
    h2 = Harness(rib=state_file.load(path, now=1000.0))
    h2.clock.now = 1200.0
    assert h2.p.sweep() == 0
    h2.clock.now = 1301.0
    assert h2.p.sweep() == 5
    assert all(r["synthetic"] and not r["announced"] for r in h2.new_rows())
    assert h2.p.rib.routers == {}


def test_changed_route_after_restart_is_forwarded(tmp_path):
    h = populated()
    path = str(tmp_path / "state.bin")
    state_file.write_atomic(path, state_file.serialise(state_file.snapshot(h.p.rib)))
    h2 = Harness(rib=state_file.load(path, now=1000.0))
    h2.connect()
    rows = h2.feed(peer_up(), announce(["203.0.113.0/24"], path=(65001, 65099)))
    assert [r["asPath"] for r in rows] == [[65001, 65099]]
    rows = h2.feed(withdraw(["198.51.100.0/24"]))
    assert prefixes_of(rows) == [("198.51.100.0/24", 0, False, False)]


def test_unreadable_state_is_quarantined(tmp_path):
    path = tmp_path / "state.bin"
    h = populated()
    data = state_file.serialise(state_file.snapshot(h.p.rib))
    for bad in (b"garbage", data[:-10], data[:20] + bytes([data[20] ^ 0xFF]) + data[21:]):
        path.write_bytes(bad)
        rib = state_file.load(str(path), now=1.0)
        assert rib.routers == {}
        assert not path.exists()
        aside = [p for p in os.listdir(tmp_path) if p.startswith("state.bin.corrupted-")]
        assert aside
        for p in aside:
            os.remove(tmp_path / p)


def test_missing_state_starts_empty(tmp_path):
    assert state_file.load(str(tmp_path / "absent.bin"), now=1.0).routers == {}


def test_gauges_are_rebuilt_from_a_loaded_state(tmp_path):
    h = populated()
    path = str(tmp_path / "state.bin")
    state_file.write_atomic(path, state_file.serialise(state_file.snapshot(h.p.rib)))
    h2 = Harness(rib=state_file.load(path, now=1.0))
    text = h2.metrics.exposition().decode()
    assert 'risotto_state_updates{peer="192.0.2.1",router="198.51.100.1"} 3.0' in text
    assert 'risotto_state_updates{peer="2001:db8::2",router="198.51.100.1"} 2.0' in text
