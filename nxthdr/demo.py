"""`nxthdr demo`: the BMP collector on real router recordings, summarised.

Starts risotto on a temporary port with its file sink in a temporary directory
(no Kafka needed), replays the BMP sessions recorded from GoBGP and FRR in the
test lab (shipped in nxthdr/data/bmp) over TCP like routers would, and prints
what the collector saw: routers, peers and prefixes per peer, the busiest
prefixes, origin ASes and the rows produced (announces, withdraws, synthetic
withdraws when the peers and sessions went away).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ipaddress
import socket
import sys
import tempfile
from pathlib import Path

from nxthdr.core import config, logs
from nxthdr.core.addr import label
from nxthdr.core.capnp_codec import load_schema
from nxthdr.core.progress import Progress
from nxthdr.core.sinks import CollectingSink
from nxthdr.risotto.app import Risotto
from nxthdr.risotto.replay import iter_messages

DATA = Path(__file__).resolve().parent / "data" / "bmp"


def _prefix(row) -> str:
    a = ipaddress.IPv6Address(row["prefixAddr"])
    return f"{a.ipv4_mapped or a}/{row['prefixLen']}"


def _table(title: str, header: list[str], rows: list[list]) -> str:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    out = [title, "  " + "  ".join(h.ljust(w) for h, w in zip(header, widths)),
           "  " + "  ".join("-" * w for w in widths)]
    out += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells[1:]]
    return "\n".join(out)


async def run(captures: list[Path], quiet: bool = False) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="nxthdr-demo-"))
    cfg = config.defaults(config.load_schema("risotto"))
    cfg["bmp"]["address"] = "127.0.0.1:0"
    cfg["metrics"]["address"] = "127.0.0.1:0"
    cfg["kafka"]["disable"] = True
    cfg["curation"]["state_path"] = str(tmp / "state.bin")
    cfg["file_output"] = str(tmp / "updates.bin")
    rows_sink = CollectingSink()
    app = Risotto(cfg, sinks=[rows_sink])
    events = CollectingSink()
    app.processor.events_sink = events
    await app.supervisor.start()
    port = app.server.bound_port
    p = app.processor
    sockets = []
    origin_of: dict[str, str] = {}
    try:
        # Each recording is one router: replayed from its own loopback address
        # (routers are told apart by address, as in production).
        for n, path in enumerate(captures):
            messages = list(iter_messages(path.read_bytes()))
            progress = Progress(len(messages), f"replaying {path.name}", "msgs",
                                stream=open("/dev/null", "w") if quiet else None)
            before = sum(p.m_messages.values.values())
            source = f"127.0.0.{n + 1}"
            origin_of[source] = path.name
            sock = await asyncio.to_thread(socket.create_connection, ("127.0.0.1", port), 10, (source, 0))
            sockets.append(sock)
            for i in range(0, len(messages), 64):
                chunk = messages[i:i + 64]
                await asyncio.to_thread(sock.sendall, b"".join(chunk))
                progress.update(len(chunk))
            for _ in range(200):
                if sum(p.m_messages.values.values()) - before >= len(messages):
                    break
                await asyncio.sleep(0.05)
            progress.close()
        for s in sockets:
            s.close()
        for _ in range(100):
            if not p.sessions:
                break
            await asyncio.sleep(0.05)
    finally:
        await app.supervisor.stop()
    update = load_schema("update.capnp").Update
    rows = [u.to_dict() for m in rows_sink.messages for u in update.read_multiple_bytes(m)]
    evs = [e.to_dict() for m in events.messages
           for e in load_schema("bmp_event.capnp").BmpEvent.read_multiple_bytes(m)]
    return summarise(rows, evs, origin_of, tmp)


def summarise(rows: list[dict], evs: list[dict], origin_of: dict[str, str], tmp: Path) -> str:
    out = []
    names = {}
    for e in evs:
        if e["eventType"] == "initiation":
            names[label(e["routerAddr"])] = e.get("sysName") or e.get("sysDescr", "")[:40]
    per_router = collections.Counter(label(r["routerAddr"]) for r in rows)
    out.append(_table("Routers", ["router", "sysName", "recording", "rows"],
                      [[k, names.get(k, ""), origin_of.get(k, ""), v] for k, v in sorted(per_router.items())]))
    peer_rows = collections.defaultdict(lambda: [0, 0])
    for r in rows:
        key = (label(r["routerAddr"]), label(r["peerAddr"]) if r["peerType"] != 3 else "loc-rib")
        peer_rows[key][0 if r["announced"] else 1] += 1
    prefixes = collections.defaultdict(set)
    for r in rows:
        if r["announced"]:
            prefixes[(label(r["routerAddr"]), label(r["peerAddr"]) if r["peerType"] != 3 else "loc-rib")].add(
                _prefix(r))
    out.append(_table("Peers and prefixes per peer", ["router", "peer", "distinct prefixes", "announces",
                                                      "withdraws"],
                      [[k[0], k[1], len(prefixes[k]), v[0], v[1]] for k, v in sorted(peer_rows.items())]))
    busiest = collections.Counter(_prefix(r) for r in rows).most_common(5)
    out.append(_table("Busiest prefixes", ["prefix", "rows"], [[k, v] for k, v in busiest]))
    origins = collections.Counter(r["asPath"][-1] for r in rows if r["announced"] and r["asPath"])
    out.append(_table("Origin ASes (announces)", ["origin AS", "rows"], [[f"AS{k}", v]
                                                                           for k, v in origins.most_common(5)]))
    kinds = collections.Counter("synthetic withdraw" if r["synthetic"] else
                                ("announce" if r["announced"] else "withdraw") for r in rows)
    views = collections.Counter("loc-rib" if r["isLocRib"] else ("post-policy" if r["isPostPolicy"] else
                                                                 "pre-policy") for r in rows)
    out.append(_table("Rows produced", ["kind", "rows"], [[k, v] for k, v in sorted(kinds.items())]
                      + [[f"view {k}", v] for k, v in sorted(views.items())]))
    out.append(f"Framed Update messages written to {tmp / 'updates.bin'} "
               f"(read them with: capnp decode schemas/update.capnp Update < {tmp / 'updates.bin'})")
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="nxthdr demo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("captures", nargs="*", help="BMP recordings to replay (default: the shipped ones)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    logs.setup(-1)
    captures = [Path(c) for c in args.captures] or sorted(DATA.glob("*.bmp"))
    if not captures:
        print("nxthdr demo: no BMP recordings found", file=sys.stderr)
        return 1
    print(asyncio.run(run(captures, args.quiet)))
    return 0
