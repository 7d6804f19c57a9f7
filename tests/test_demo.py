"""README's first command: `nxthdr demo` replays the shipped recordings and summarises them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_demo_summaries_match_the_recordings():
    proc = subprocess.run([sys.executable, "-m", "nxthdr", "demo", "-q"], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    manifest = json.loads((REPO / "nxthdr" / "data" / "bmp" / "manifest.json").read_text())
    # Prefixes the routers' import policies reject are never stored, so they may not appear.
    REJECTED = {p for e in manifest.values() for p in e["router"].get("import_policy", {}).get("reject_prefixes", [])}
    for name, entry in manifest.items():
        assert name in out
        for peer in entry["monitored_peers"]:
            assert peer["address"] in out
        for step in entry["events"]:
            if step.get("prefix"):
                assert step["prefix"] in out or step["prefix"] in REJECTED
    for section in ("Routers", "Peers and prefixes per peer", "Busiest prefixes", "Origin ASes", "Rows produced"):
        assert section in out
    assert "synthetic withdraw" in out  # the recordings end with their peers going down
