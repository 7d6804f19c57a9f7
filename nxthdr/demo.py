"""`nxthdr demo`: the appliance on real router and sFlow agent recordings, summarised from its store.

Starts `nxthdr appliance` in this process on temporary loopback ports with a
temporary data directory (embedded store: no Kafka, no ClickHouse server),
replays over TCP the BMP sessions recorded from GoBGP and FRR in the test lab
(nxthdr/data/bmp, one loopback address per router, like routers) and over UDP
the sFlow datagrams pmacct's sfprobe exported for a traffic mix between
network namespaces (nxthdr/data/sflow), then asks the appliance's query
endpoint for summaries: routers, peers and prefixes per peer, the busiest
prefixes, the top talkers by estimated bytes and the protocol mix.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import struct
import sys
import tempfile
from pathlib import Path

from nxthdr.core import config, logs
from nxthdr.core.addr import label
from nxthdr.core.capnp_codec import load_schema
from nxthdr.core.progress import Progress
from nxthdr.core.sinks import CollectingSink
from nxthdr.risotto.replay import iter_messages
from nxthdr.storage.query import render_table, run_http

DATA = Path(__file__).resolve().parent / "data"

# An address as people write it: IPv4-mapped addresses in dotted form.
_A = "replaceRegexpOne(toString({0}), '^::ffff:', '')"
_PREFIX = f"concat({_A.format('prefix_addr')}, '/', toString(prefix_len))"

SUMMARIES: list[tuple[str, str]] = [
    ("Routers", f"""
        SELECT {_A.format('router_addr')} AS router, uniqExact(peer_addr) AS peers,
               uniqExactIf({_PREFIX}, announced) AS prefixes, count() AS rows
        FROM bmp.updates GROUP BY router ORDER BY router"""),
    ("Peers", f"""
        SELECT {_A.format('router_addr')} AS router,
               if(is_loc_rib, 'loc-rib', {_A.format('peer_addr')}) AS peer, any(peer_asn) AS asn,
               uniqExactIf({_PREFIX}, announced) AS prefixes, countIf(announced) AS announces,
               countIf(NOT announced AND NOT synthetic) AS withdraws,
               countIf(synthetic) AS synthetic_withdraws
        FROM bmp.updates GROUP BY router, peer ORDER BY router, peer"""),
    ("Prefixes per peer", f"""
        SELECT {_A.format('router_addr')} AS router,
               if(is_loc_rib, 'loc-rib', {_A.format('peer_addr')}) AS peer,
               arrayStringConcat(arraySort(groupUniqArrayIf({_PREFIX}, announced)), ' ') AS prefixes
        FROM bmp.updates GROUP BY router, peer ORDER BY router, peer"""),
    ("Busiest prefixes", f"""
        SELECT {_PREFIX} AS prefix, count() AS rows, countIf(announced) AS announces,
               countIf(NOT announced) AS withdraws, uniqExact(router_addr) AS routers
        FROM bmp.updates GROUP BY prefix ORDER BY rows DESC, prefix LIMIT 5"""),
    ("Top talkers (estimated bytes)", f"""
        SELECT {_A.format('src_addr')} AS source, sum(bytes) AS est_bytes, sum(packets) AS est_packets,
               uniqExact(dst_addr) AS destinations
        FROM flows.records GROUP BY source ORDER BY est_bytes DESC, source LIMIT 5"""),
    ("Protocol mix", """
        SELECT if(etype = 0x86dd, 'IPv6', 'IPv4') AS ip,
               multiIf(protocol = 6, 'TCP', protocol = 17, 'UDP', protocol = 1, 'ICMP', protocol = 58, 'ICMPv6',
                       toString(protocol)) AS proto,
               sum(packets) AS est_packets, sum(bytes) AS est_bytes,
               round(100 * est_bytes / (SELECT sum(bytes) FROM flows.records), 1) AS pct_bytes
        FROM flows.records GROUP BY ip, proto ORDER BY est_bytes DESC, ip, proto"""),
]


def sflow_datagrams(path: Path) -> list[bytes]:
    """Datagrams of a capture file: each prefixed by its length (4 bytes, big endian)."""
    blob, out, pos = path.read_bytes(), [], 0
    while pos + 4 <= len(blob):
        (n,) = struct.unpack_from("!I", blob, pos)
        out.append(blob[pos + 4:pos + 4 + n])
        pos += 4 + n
    return out


def _progress(total: int, what: str, quiet: bool) -> Progress:
    return Progress(total, what, "msgs", stream=open(os.devnull, "w") if quiet else None)


async def _wait(cond, timeout: float = 20.0) -> bool:
    for _ in range(int(timeout / 0.02)):
        if cond():
            return True
        await asyncio.sleep(0.02)
    return False


async def replay_bmp(app, captures: list[Path], quiet: bool) -> dict[str, str]:
    port = app.risotto.server.bound_port
    p = app.risotto.processor
    origin_of: dict[str, str] = {}
    sockets = []
    for n, path in enumerate(captures):
        messages = list(iter_messages(path.read_bytes()))
        progress = _progress(len(messages), f"BMP   {path.name:<20}", quiet)
        before = sum(p.m_messages.values.values())
        # Each recording is one router, from its own loopback address (routers are told apart by address).
        source = f"127.0.0.{n + 1}"
        origin_of[source] = path.name
        sock = await asyncio.to_thread(socket.create_connection, ("127.0.0.1", port), 10, (source, 0))
        sockets.append(sock)
        for i in range(0, len(messages), 64):
            chunk = messages[i:i + 64]
            await asyncio.to_thread(sock.sendall, b"".join(chunk))
            progress.update(len(chunk))
        await _wait(lambda: sum(p.m_messages.values.values()) - before >= len(messages))
        progress.close()
    for s in sockets:
        s.close()  # the routers go away: synthetic withdraws for what their peers still had
    await _wait(lambda: not p.sessions)
    return origin_of


async def replay_sflow(app, captures: list[Path], quiet: bool) -> int:
    port = app.pesto.listener.bound_port
    p = app.pesto.processor
    sent = 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for path in captures:
            datagrams = sflow_datagrams(path)
            progress = _progress(len(datagrams), f"sFlow {path.name:<20}", quiet)
            for i, d in enumerate(datagrams):
                sock.sendto(d, ("127.0.0.1", port))
                progress.update(1)
                if i % 32 == 31:
                    await asyncio.sleep(0.001)  # let the collector read: one socket buffer is the only queue
            sent += len(datagrams)
            progress.close()
    finally:
        sock.close()
    await _wait(lambda: sum(p.m_datagrams.values.values()) >= sent)
    return sent


def appliance_config(data_dir: Path) -> dict:
    cfg = config.defaults(config.load_schema("appliance"))
    cfg["storage"]["data_dir"] = str(data_dir)
    for section in ("bmp", "sflow", "metrics", "query"):
        cfg[section]["address"] = "127.0.0.1:0"
    cfg["storage"]["flush_interval"] = 200
    config.validate(config.load_schema("appliance"), cfg)
    return cfg


async def run(bmp: list[Path], sflow: list[Path], data_dir: Path, quiet: bool = False) -> dict:
    """Replay, then the summaries as {title: JSONCompact result}, plus router names and recordings."""
    from nxthdr.appliance.app import Appliance

    app = Appliance(appliance_config(data_dir))
    events = CollectingSink()
    app.risotto.processor.events_sink = events
    await app.supervisor.start()
    try:
        origin_of = await replay_bmp(app, bmp, quiet) if bmp else {}
        await replay_sflow(app, sflow, quiet) if sflow else None
        for sink in app.sinks.values():
            await sink.flush()
        url = app.query_url
        results = {}
        for title, sql in SUMMARIES:
            body = await asyncio.to_thread(run_http, url, sql, "JSONCompact")
            results[title] = json.loads(body)
    finally:
        await app.supervisor.stop()
    names = {}
    for m in events.messages:
        for e in load_schema("bmp_event.capnp").BmpEvent.read_multiple_bytes(m):
            if e.eventType == "initiation":
                names[label(e.routerAddr)] = e.sysName or e.sysDescr[:30]
    return {"summaries": results, "recordings": origin_of, "names": names}


def render(out: dict, data_dir: Path) -> str:
    s = out["summaries"]
    routers = s["Routers"]
    # Routers: add the recording and the name each router gave in its Initiation message.
    routers = {"meta": routers["meta"] + [{"name": "sysName", "type": "String"},
                                          {"name": "recording", "type": "String"}],
               "data": [r + [out["names"].get(r[0], ""), out["recordings"].get(r[0], "")] for r in routers["data"]]}
    parts = [f"{'Routers'}\n{render_table(routers)}"]
    parts += [f"{title}\n{render_table(s[title])}" for title, _ in SUMMARIES[1:]]
    parts.append(f"The data stays in {data_dir}; query it with\n"
                 f"  nxthdr query -d {data_dir} \"SELECT count() FROM flows.records\"\n"
                 f"or run `nxthdr appliance --storage-data-dir {data_dir}` and point routers and sFlow agents at it.")
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="nxthdr demo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bmp", nargs="*", metavar="FILE", help="BMP recordings to replay (default: the shipped ones)")
    ap.add_argument("--sflow", nargs="*", metavar="FILE",
                    help="sFlow captures to replay, length-prefixed datagrams (default: the shipped ones)")
    ap.add_argument("-d", "--data-dir", help="data directory of the store (default: a new temporary directory)")
    ap.add_argument("--json", action="store_true", help="print the summaries as JSON instead of tables")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    logs.setup(-2)  # errors only: the output is the summaries
    bmp = [Path(c) for c in args.bmp] if args.bmp is not None else sorted((DATA / "bmp").glob("*.bmp"))
    sflow = [Path(c) for c in args.sflow] if args.sflow is not None else sorted((DATA / "sflow").glob("*.sflow"))
    if not bmp and not sflow:
        print("nxthdr demo: no recordings to replay", file=sys.stderr)
        return 1
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="nxthdr-demo-"))
    out = asyncio.run(run(bmp, sflow, data_dir, args.quiet))
    print(json.dumps(out, indent=1) if args.json else render(out, data_dir))
    return 0
