"""The decoder on BMP sessions recorded from real GoBGP and FRR routers.

Each recording's manifest says what the routers' peer was told to announce and
withdraw; the decoded Route Monitoring, Peer Up and Peer Down events must match
it attribute by attribute, and the curated rows must end with every remaining
prefix withdrawn when the peers go down.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from nxthdr.bgp.types import decode_nlri_item
from nxthdr.bmp import events as ev
from nxthdr.bmp.decoder import BmpDecoder
from nxthdr.core.addr import to16
from nxthdr.core.metrics import Metrics
from nxthdr.core.sinks import CollectingSink
from nxthdr.core.capnp_codec import load_schema
from nxthdr.risotto.processor import Processor

DATA = Path(__file__).resolve().parents[2] / "nxthdr" / "data" / "bmp"
MANIFEST = json.loads((DATA / "manifest.json").read_text())


def decode_all(name: str) -> list:
    dec = BmpDecoder()
    dec.receive_data((DATA / name).read_bytes())
    out = []
    while (e := dec.next_event()) is not ev.NEED_DATA:
        out.append(e)
    return out


def prefix_of(item: bytes, afi: int, add_path: bool) -> tuple[str, int]:
    addr16, plen, path_id = decode_nlri_item(item, afi, add_path)
    a = ipaddress.IPv6Address(addr16)
    return f"{a.ipv4_mapped or a}/{plen}", path_id


def route_monitorings(events, peer: str, post: bool):
    for e in events:
        if isinstance(e, ev.RouteMonitoring) and e.peer.address == to16(peer) and not e.peer.is_loc_rib \
                and e.peer.is_post_policy == post:
            yield e


def announced(e: ev.RouteMonitoring) -> list[tuple[str, int]]:
    u = e.update
    out = [prefix_of(i, 1, u.announced.add_path) for i in u.announced.items]
    if u.mp_reach is not None:
        out += [prefix_of(i, u.mp_reach.afi, u.mp_reach.nlri.add_path) for i in u.mp_reach.nlri.items]
    return out


def withdrawn(e: ev.RouteMonitoring) -> list[tuple[str, int]]:
    u = e.update
    out = [prefix_of(i, 1, u.withdrawn.add_path) for i in u.withdrawn.items]
    if u.mp_unreach is not None:
        out += [prefix_of(i, u.mp_unreach.afi, u.mp_unreach.withdrawn.add_path) for i in u.mp_unreach.withdrawn.items]
    return out


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_recording_decodes_cleanly_and_matches_what_routers_were_told(name):
    m = MANIFEST[name]
    events = decode_all(name)
    assert not [e for e in events if isinstance(e, ev.MalformedMessage)]
    assert isinstance(events[0], ev.Initiation)
    ups = {e.peer.address for e in events if isinstance(e, ev.PeerUp)}
    assert ups == {to16(p["address"]) for p in m["monitored_peers"]}
    for p in m["monitored_peers"]:
        up = next(e for e in events if isinstance(e, ev.PeerUp) and e.peer.address == to16(p["address"]))
        assert up.peer.asn == p["asn"] and up.received_open.effective_asn == p["asn"]
        assert up.sent_open.effective_asn == m["router"]["asn"]
    # FRR 8.4 builds its BMP Route Monitoring as if advertising to an eBGP peer:
    # its own AS is prepended to the AS path (tshark shows the same bytes).
    # FRR 8.4 also drops ADD-PATH path ids in BMP, and reports a prefix its
    # import policy rejects as a withdraw, pre-policy too (manifest notes).
    frr = m["router"]["software"].startswith("FRR")
    prepended = [m["router"]["asn"]] if frr else []
    rejected = set(m["router"].get("import_policy", {}).get("reject_prefixes", [])) if frr else set()
    pending = {}  # (peer, prefix, path id) -> expected pre-policy attributes, in event order
    for step in m["events"]:
        peer = step["peer"]
        if step["action"] == "announce":
            want = step["pre_policy"]
            key = (step["prefix"], 0 if frr else want.get("path_id", 0))
            if step["prefix"] in rejected:
                assert any(step["prefix"] in [p for p, _ in withdrawn(e)]
                           for e in route_monitorings(events, peer, post=False))
                continue
            matches = [e for e in route_monitorings(events, peer, post=False) if key in announced(e)]
            assert matches, f"{name}: no pre-policy announce of {key} from {peer}"
            # Some recorded message carries exactly the attributes of this step.
            def same(e):
                a = e.update.attributes
                nh = a.next_hop if ":" not in peer else e.update.mp_reach.next_hop
                return (list(a.as_path) == prepended + want["as_path"] and a.origin == want["origin"].upper()
                        and [list(c) for c in a.communities] == want["communities"]
                        and [list(c) for c in a.large_communities] == want["large_communities"]
                        and (want["med"] is None or a.med == want["med"])
                        and nh == to16(want["next_hop"])
                        and len(a.extended_communities) == len(want["ext_communities"]))
            assert any(same(e) for e in matches), f"{name}: attributes of {key} from {peer} differ from {want}"
            pending[(peer, key)] = want
        elif step["action"] == "withdraw" and frr and "path_id" in step:
            # Without path ids FRR can only re-announce the path that remains.
            last = [e for e in route_monitorings(events, peer, post=False)
                    if step["prefix"] in [p for p, _ in announced(e) + withdrawn(e)]][-1]
            assert step["prefix"] in [p for p, _ in announced(last)]
        elif step["action"] == "withdraw":
            prefix = step["prefix"]
            assert any(prefix in [p for p, _ in withdrawn(e)]
                       for e in events if isinstance(e, ev.RouteMonitoring) and e.peer.address == to16(peer)), \
                f"{name}: no withdraw of {prefix} from {peer}"
        elif step["action"] == "peer_down":
            assert any(isinstance(e, ev.PeerDown) and e.peer.address == to16(peer) for e in events)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_curated_rows_of_a_recording_end_with_nothing_left(name):
    sink = CollectingSink()
    p = Processor(sink, Metrics("risotto"))
    s = p.open_session(to16(MANIFEST[name]["bmp_source_address"]), 50000)
    for e in decode_all(name):
        p.handle(s, e)
    rows = [u.to_dict() for msg in sink.messages for u in load_schema("update.capnp").Update.read_multiple_bytes(msg)]
    assert rows
    # Every monitored peer went down: none of its prefixes may remain, each withdrawn once.
    for r in p.rib.routers.values():
        for key, peer in r.peers.items():
            if peer.address in {to16(x["address"]) for x in MANIFEST[name]["monitored_peers"]}:
                assert peer.stored() == 0
    state = {}
    for r in rows:
        k = (r["peerAddr"], r["prefixAddr"], r["prefixLen"], r["pathId"], r["isPostPolicy"], r["isLocRib"])
        if r["announced"]:
            state[k] = True
        else:
            assert state.pop(k, None), f"withdraw of a prefix not announced: {k}"
    monitored = {to16(x["address"]) for x in MANIFEST[name]["monitored_peers"]}
    assert not [k for k in state if k[0] in monitored]
