"""README's first command: `nxthdr demo` runs the appliance on the shipped recordings and summarises its store.

Expected figures are computed here from the recordings' manifests (what the
routers were told; what an AF_PACKET counter saw cross the sampled link), not
from the collectors' or the store's code.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "nxthdr" / "data"


def demo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nxthdr", "demo", "-q", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=180, env={**os.environ, "PYTHONPATH": str(REPO)})


def as_dicts(result: dict) -> list[dict]:
    names = [c["name"] for c in result["meta"]]
    return [dict(zip(names, row)) for row in result["data"]]


def test_demo_summaries_match_the_manifests(tmp_path):
    proc = demo("--json", "--data-dir", str(tmp_path / "d"))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    s = {k: as_dicts(v) for k, v in out["summaries"].items()}

    wire = json.loads((DATA / "sflow" / "manifest.json").read_text())["lab-mix.sflow"]["wire"]
    by_src: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    mix: dict[tuple, list[int]] = collections.defaultdict(lambda: [0, 0])
    names = {6: "TCP", 17: "UDP", 1: "ICMP", 58: "ICMPv6"}
    for f in wire:
        by_src[f["src"]][0] += f["bytes"]
        by_src[f["src"]][1] += f["packets"]
        key = ("IPv6" if ":" in f["src"] else "IPv4", names[f["protocol"]])
        mix[key][0] += f["packets"]
        mix[key][1] += f["bytes"]
    top = sorted(by_src.items(), key=lambda kv: (-kv[1][0], kv[0]))[:5]
    assert [(r["source"], r["est_bytes"], r["est_packets"]) for r in s["Top talkers (estimated bytes)"]] == [
        (k, v[0], v[1]) for k, v in top]
    assert {(r["ip"], r["proto"]): [r["est_packets"], r["est_bytes"]] for r in s["Protocol mix"]} == mix
    assert abs(sum(r["pct_bytes"] for r in s["Protocol mix"]) - 100) < 0.5

    manifest = json.loads((DATA / "bmp" / "manifest.json").read_text())
    assert sorted(out["recordings"].values()) == sorted(manifest)
    router_of = {name: src for src, name in out["recordings"].items()}
    assert {r["router"] for r in s["Routers"]} == set(router_of.values())
    prefixes = {(r["router"], r["peer"]): set(r["prefixes"].split()) for r in s["Prefixes per peer"]}
    peers = {(r["router"], r["peer"]): r for r in s["Peers"]}
    for name, entry in manifest.items():
        router = router_of[name]
        rejected = set(entry["router"].get("import_policy", {}).get("reject_prefixes", []))
        for peer in entry["monitored_peers"]:
            assert peers[(router, peer["address"])]["asn"] == peer["asn"]
            # Every recording ends with its peers going down: synthetic withdraws for what they had.
            assert peers[(router, peer["address"])]["synthetic_withdraws"] > 0
        for e in entry["events"]:
            if e["action"] == "announce" and e["prefix"] not in rejected:
                assert e["prefix"] in prefixes[(router, e["peer"])]
        for local in entry["local_routes"]:  # FRR's own networks, reported with an all-zero peer
            assert local["prefix"] in prefixes[(router, "0.0.0.0")]
    busiest = s["Busiest prefixes"]
    assert len(busiest) == 5 and [r["rows"] for r in busiest] == sorted((r["rows"] for r in busiest), reverse=True)


def test_demo_prints_tables():
    proc = demo()
    assert proc.returncode == 0, proc.stderr
    for title in ("Routers", "Peers", "Prefixes per peer", "Busiest prefixes", "Top talkers (estimated bytes)",
                  "Protocol mix"):
        assert f"\n{title}\n" in f"\n{proc.stdout}"
    assert "GoBGP" in proc.stdout and "gobgp-all.bmp" in proc.stdout and "nxthdr query -d" in proc.stdout
