"""Record a BMP stream of at least 1M prefix rows from real GoBGP routers, for the benchmark.

    python3 bench/make_bmp_stream.py [OUT] [--v4 N] [--v6 N] [--seed S]

Needs root, network namespaces and GoBGP. A synthetic TABLE_DUMP_V2 file
(~260k distinct prefixes with varied attributes) is injected with
`gobgp mrt inject global` into two source routers; both peer with a monitored
GoBGP (one IPv4 and one IPv6 session each) that streams BMP with policy "all"
to a recorder. Each prefix then yields 5 Route Monitoring messages: pre- and
post-policy from each source peer, plus one or two Loc-RIB (the best path may
change when the second source's copy arrives). GoBGP puts exactly one prefix in
each Route Monitoring UPDATE, so messages = prefix rows.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make the repository root importable for `bench` and `tests.support`.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.mrt import Attrs, MrtWriter
from tests.support.bmp_recorder import ROUTE_MONITORING, TYPE_NAMES, BmpRecorder, split_messages
from tests.support.netns import Topology
from tests.support.routers import BmpServer, GoBgp, Neighbor, Policy
from tests.support.wait import wait_until

MONITORED_AS = 65001
SOURCE_AS = (65101, 65102)
TAIL_PADDING = 8192  # records re-sent at the end of the MRT file, see write_mrt
DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "bmp-1m.bmp"


def _v4_prefixes(rng: random.Random, n: int) -> list[str]:
    """Distinct IPv4 prefixes, roughly like a full table: mostly /24, some /16–/23."""
    seen: set[tuple[int, int]] = set()
    while len(seen) < n:
        r = rng.random()
        length = 24 if r < 0.6 else rng.randint(22, 23) if r < 0.85 else rng.randint(16, 21)
        first = rng.randint(1, 223)
        if first in (10, 127):  # private / loopback: not in a real table
            continue
        addr = (first << 24) | rng.getrandbits(24)
        seen.add(((addr >> (32 - length)) << (32 - length), length))
    return [f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}/{length}" for a, length in seen]


def _v6_prefixes(rng: random.Random, n: int) -> list[str]:
    """Distinct IPv6 prefixes in 2000::/3: /48 mostly, some /32–/44."""
    seen: set[tuple[int, int]] = set()
    while len(seen) < n:
        length = 48 if rng.random() < 0.7 else rng.choice((32, 36, 40, 44))
        top = (0x2 << 125) | (rng.getrandbits(45) << 80)  # 2000::/3 plus 45 random bits
        seen.add(((top >> (128 - length)) << (128 - length), length))
    out = []
    for a, length in seen:
        groups = [(a >> (112 - 16 * i)) & 0xFFFF for i in range(8)]
        out.append(":".join(f"{g:x}" for g in groups) + f"/{length}")
    return out


def write_mrt(path: Path, v4: int, v6: int, seed: int) -> int:
    """Write the synthetic table; returns the number of prefixes."""
    rng = random.Random(seed)
    # Public ASNs only: 64496-131071 holds documentation, private and reserved ASNs,
    # including this lab's own (a path with the monitored router's AS would be dropped
    # by loop detection and silently shrink the stream).
    origins = [rng.choice((rng.randint(1000, 64495), rng.randint(131072, 399_999))) for _ in range(30_000)]
    transits = [174, 701, 1299, 2914, 3257, 3356, 6453, 6762, 6939, 7018, 9002, 12956, 13030, 20940, 24482]
    next_hops_v4 = [f"192.0.2.{i}" for i in range(1, 9)]
    next_hops_v6 = [f"2001:db8::{i:x}" for i in range(1, 9)]

    def attrs(v6_route: bool) -> Attrs:
        length = rng.randint(2, 8)
        path = [rng.choice(transits) for _ in range(min(length - 1, 3))]
        path += [rng.choice(origins) for _ in range(length - 1 - len(path))] + [rng.choice(origins)]
        if rng.random() < 0.1:
            path.append(path[-1])  # origin prepend
        comms = tuple(sorted({(path[0] if path[0] < 65536 else 65000, rng.randint(1, 999)) for _ in range(rng.randint(0, 4))}))
        large = ((path[-1], rng.randint(1, 9), rng.randint(1, 99)),) if rng.random() < 0.1 else ()
        return Attrs(
            as_path=tuple(path),
            next_hop=rng.choice(next_hops_v6 if v6_route else next_hops_v4),
            origin=0 if rng.random() < 0.9 else rng.choice((1, 2)),
            med=rng.randint(0, 500) if rng.random() < 0.3 else None,
            communities=comms,
            large=large,
        )

    with open(path, "wb") as f:
        w = MrtWriter(f, timestamp=int(time.time()))
        w.peer_index("198.51.100.1", [("198.51.100.1", "198.51.100.1", 64496)])
        head: list[tuple[str, Attrs]] = []
        for prefix, v6_route in [(p, False) for p in _v4_prefixes(rng, v4)] + [(p, True) for p in _v6_prefixes(rng, v6)]:
            a = attrs(v6_route)
            w.rib(prefix, [(0, a)])
            if len(head) < TAIL_PADDING:
                head.append((prefix, a))
        # `gobgp mrt inject` (3.10) exits without closing its gRPC stream, so the last
        # few hundred paths in flight are lost. Re-adding identical paths is a no-op
        # in GoBGP (no new UPDATE, no BMP message), so the file ends with copies of
        # its first records: losing those costs nothing.
        for prefix, a in head:
            w.rib(prefix, [(0, a)])
    return v4 + v6


def _global_count(router: GoBgp, family: str) -> int:
    out = router.cli("global", "rib", "summary", "-a", family).stdout.decode()
    # "Destination: N, Path: M"
    return int(out.split("Destination:")[1].split(",")[0])


def record(out: Path, v4: int, v6: int, seed: int) -> None:
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nx-bench-") as tmp:
        mrt = Path(tmp) / "table.mrt"
        n_prefixes = write_mrt(mrt, v4, v6, seed)
        t_mrt = time.monotonic() - t0
        print(f"MRT: {n_prefixes} prefixes, {mrt.stat().st_size / 1e6:.1f} MB in {t_mrt:.1f}s", file=sys.stderr)

        with Topology(prefix="nxbench") as topo:
            mon_ns = topo.add("mon")
            up = topo.uplink(mon_ns)
            rec = BmpRecorder(up.root_v4)
            routers: list[GoBgp] = []
            try:
                src_nets = []
                for i, _asn in enumerate(SOURCE_AS, start=1):
                    ns = topo.add(f"src{i}")
                    topo.link(mon_ns, [f"10.1.{i}.1/24", f"fd01:{i}::1/64"], ns, [f"10.1.{i}.2/24", f"fd01:{i}::2/64"])
                    src_nets.append((ns, f"10.1.{i}.1", f"fd01:{i}::1", f"10.1.{i}.2", f"fd01:{i}::2"))
                monitored = GoBgp(
                    mon_ns, MONITORED_AS, "10.1.1.1",
                    [a for _, m4, m6, _, _ in src_nets for a in (m4, m6)],
                    neighbors=[Neighbor(addr, asn) for (_, _, _, s4, s6), asn in zip(src_nets, SOURCE_AS) for addr in (s4, s6)],
                    bmp_servers=[BmpServer(up.root_v4, rec.port, "all")],
                    import_policy=Policy("bench-in", add_communities=("65001:1",)),
                )  # fmt: skip
                routers.append(monitored)
                sources = []
                for (ns, m4, m6, s4, s6), asn in zip(src_nets, SOURCE_AS):
                    src = GoBgp(ns, asn, s4, [s4, s6], neighbors=[Neighbor(m4, MONITORED_AS), Neighbor(m6, MONITORED_AS)])
                    routers.append(src)
                    sources.append(src)
                for (_, _, _, s4, s6) in src_nets:
                    monitored.wait_established(s4)
                    monitored.wait_established(s6)
                session = rec.wait_session(up.ns_v4)
                rec.wait_quiet(session, quiet=1.0)
                start_bytes = session.size()

                t1 = time.monotonic()
                injects = [
                    subprocess.Popen(src.ns.cmd("gobgp", "-p", str(src.api_port), "mrt", "inject", "global", str(mrt)),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
                    for src in sources
                ]
                for p in injects:
                    output = p.communicate(timeout=600)[0].decode(errors="replace")
                    # The CLI exits 0 even when it could not parse the file: check the RIB instead.
                    if p.returncode != 0 or "failed" in output:
                        raise RuntimeError(f"mrt inject failed: {output}")
                for src in sources:
                    # The CLI returns once it has sent the paths; the daemon may still be adding them.
                    wait_until(lambda: _global_count(src, "ipv4") + _global_count(src, "ipv6") >= n_prefixes, 60,
                               f"{n_prefixes} prefixes in source AS{src.asn}",
                               details=lambda: f"v4 {_global_count(src, 'ipv4')}, v6 {_global_count(src, 'ipv6')}")  # fmt: skip
                t_inject = time.monotonic() - t1
                size = rec.wait_quiet(session, quiet=3.0, timeout=900)
                t_stream = time.monotonic() - t1
                data = session.snapshot()
            finally:
                for r in routers:
                    r.close()
                rec.stop()

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    messages = split_messages(data)
    counts = Counter(TYPE_NAMES[m.type] for m in messages)
    rm = [m for m in messages if m.type == ROUTE_MONITORING]
    loc = sum(1 for m in rm if m.loc_rib)
    print(f"recorded {out}: {len(data) / 1e6:.1f} MB, {len(messages)} messages {dict(counts)}", file=sys.stderr)
    print(f"prefix rows (one prefix per Route Monitoring): {len(rm)} = {len(rm) - loc} Adj-RIB-In "
          f"(expected {4 * n_prefixes}: 2 peers x pre/post) + {loc} Loc-RIB (1-2 per prefix: the best path "
          f"may change when the second source's copy arrives)", file=sys.stderr)  # fmt: skip
    print(f"time: MRT {t_mrt:.1f}s, inject {t_inject:.1f}s, stream done {t_stream:.1f}s after inject start "
          f"({(size - start_bytes) / 1e6 / t_stream:.1f} MB/s), total {time.monotonic() - t0:.1f}s", file=sys.stderr)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--v4", type=int, default=220_000, help="distinct IPv4 prefixes")
    ap.add_argument("--v6", type=int, default=40_000, help="distinct IPv6 prefixes")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    record(args.out, args.v4, args.v6, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
