"""Records our collectors produce from real captures, through the views into storage.

risotto's processor replays the BMP sessions recorded from GoBGP and FRR
(nxthdr/data/bmp), pesto's processor the sFlow datagrams pmacct exported from
real traffic (tests/fixtures/sflow/pmacct-sfprobe.bin). Their Cap'n Proto
output is read back with pycapnp (an independent reader), inserted into the
Null input tables, and every storage row is compared with what the field-by-
field mapping below says it must be; a few facts are also checked against what
the routers were told and the traffic that was sent.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path

import pytest

from nxthdr.bmp import events as ev
from nxthdr.bmp.decoder import BmpDecoder
from nxthdr.clickhouse.tables import objects
from nxthdr.core.addr import to16
from nxthdr.core.capnp_codec import load_schema
from nxthdr.core.metrics import Metrics
from nxthdr.core.sinks import CollectingSink
from nxthdr.pesto.processor import Processor as SFlowProcessor
from nxthdr.risotto.processor import Processor as BmpProcessor
from tests.clickhouse.rows import capnp_row, insert
from tests.sflow.pcap import read_framed

ROOT = Path(__file__).resolve().parents[2]
BMP = ROOT / "nxthdr" / "data" / "bmp"
MANIFEST = json.loads((BMP / "manifest.json").read_text())
SFLOW = ROOT / "tests" / "fixtures" / "sflow"

# Storage column -> input field where the name is not just the snake_case of the field.
RENAMED = {
    "flows": {"sampler_address": "agentAddr", "sampler_port": "agentPort", "src_addr": "srcIp",
              "dst_addr": "dstIp", "sequence_num": "datagramSequenceNumber",
              "sample_sequence_num": "sampleSequenceNumber", "packet_length": "length",
              "exporter_address": "exporterAddr", "sampling_rate": "samplingRate"},
    "saimiris": {"reply_mpls_labels": "replyMplsLabel"},
}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def ip_text(b: bytes) -> str:
    a = ipaddress.IPv6Address(b if b else bytes(16))
    return f"::ffff:{a.ipv4_mapped}" if a.ipv4_mapped else str(a)


def readable(col: str, typ: str) -> str:
    """A SELECT expression giving the column in a form Python compares easily."""
    if typ.startswith("DateTime64"):
        return f"toUnixTimestamp64Nano({col}) AS {col}"
    if typ == "IPv6":
        return f"toString({col}) AS {col}"
    if typ == "IPv4":
        return f"toUInt32({col}) AS {col}"
    if typ == "Bool":
        return f"toUInt8({col}) AS {col}"
    if typ == "Array(Tuple(UInt8, UInt8, String))":
        return f"arrayMap(x -> (x.1, x.2, hex(x.3)), {col}) AS {col}"
    return col


def expected(db: str, storage_columns, row: dict) -> dict:
    """What the view must write for one input row: the mapping stated independently of the SQL."""
    out = {}
    renamed = RENAMED.get(db, {})
    for c in storage_columns:
        if c.name in ("date", "time_inserted_ns"):
            continue
        if db == "flows" and c.name == "bytes":
            out[c.name] = row["length"] * row["samplingRate"]
            continue
        if db == "flows" and c.name == "packets":
            out[c.name] = row["samplingRate"]
            continue
        field = renamed.get(c.name) or next(f for f in row if snake(f) == c.name)
        v = row[field]
        if c.type == "IPv6":
            v = ip_text(v)
        elif isinstance(v, bool):
            v = int(v)
        elif c.name == "extended_communities":
            v = [[a, b, val.hex().upper()] for a, b, val in v]
        elif isinstance(v, list):
            v = [list(x) if isinstance(x, tuple) else x for x in v]
        out[c.name] = v
    return out


def flow_through(engine, prefix: str, db: str, rows: list[dict]) -> tuple[list[dict], object]:
    o = objects(db, database=prefix + db, input="null")
    for st in o.statements():
        engine.run(st)
    insert(engine, f"{o.database}.from_kafka", o.input_columns, rows)
    cols = ", ".join(readable(c.name, c.type) for c in o.storage_columns)
    got = engine.rows(f"SELECT {cols} FROM {o.database}.{o.storage_table} "
                      "SETTINGS output_format_json_quote_64bit_integers = 0")
    return got, o


def same_rows(db, o, rows, got):
    want = sorted((json.dumps(expected(db, o.storage_columns, r), sort_keys=True) for r in rows))
    have = sorted(json.dumps({k: v for k, v in g.items() if k not in ("date", "time_inserted_ns")}, sort_keys=True)
                  for g in got)
    return want, have


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_bmp_recording_rows_reach_storage_unchanged(engine, prefix, name):
    sink = CollectingSink()
    p = BmpProcessor(sink, Metrics("risotto"))
    s = p.open_session(to16(MANIFEST[name]["bmp_source_address"]), 50000)
    dec = BmpDecoder()
    dec.receive_data((BMP / name).read_bytes())
    while (e := dec.next_event()) is not ev.NEED_DATA:
        p.handle(s, e)
    update = load_schema("update.capnp").Update
    rows = [capnp_row(u) for m in sink.messages for u in update.read_multiple_bytes(m)]
    assert rows
    got, o = flow_through(engine, prefix, "bmp", rows)
    want, have = same_rows("bmp", o, rows, got)
    assert have == want

    # What the GoBGP routers' peers were told arrives in storage (FRR rewrites paths: see tests/bmp).
    m = MANIFEST[name]
    if m["router"]["software"].startswith("FRR"):
        return
    for step in m["events"]:
        if step["action"] != "announce":
            continue
        want = step["pre_policy"]
        net = ipaddress.ip_network(step["prefix"])
        hits = [g for g in got if g["peer_addr"] == ip_text(to16(step["peer"])) and not g["is_post_policy"]
                and g["announced"] and g["prefix_addr"] == ip_text(to16(str(net.network_address)))
                and g["prefix_len"] == net.prefixlen and g["path_id"] == want.get("path_id", 0)]
        assert any(h["as_path"] == want["as_path"] and h["communities"] == want["communities"]
                   and h["large_communities"] == want["large_communities"] and h["origin"] == want["origin"].upper()
                   for h in hits), f"{name}: {step['prefix']} from {step['peer']} not stored as told"


def test_sflow_capture_rows_reach_storage_with_traffic_estimates(engine, prefix):
    sink = CollectingSink()
    p = SFlowProcessor(sink, Metrics("pesto"))
    for dg in read_framed((SFLOW / "pmacct-sfprobe.bin").read_bytes()):
        p.handle(dg, "192.0.2.77", 6343)
    record = load_schema("sflow.capnp").SFlowFlowRecord
    rows = [capnp_row(r) for m in sink.messages for r in record.read_multiple_bytes(m)]
    assert rows
    # The capture was taken at sampling rate 1; a copy at 0 must vanish, one at 512 be scaled.
    scaled = [{**r, "samplingRate": 512, "sampleSequenceNumber": r["sampleSequenceNumber"] + 10**6} for r in rows]
    dropped = [{**r, "samplingRate": 0} for r in rows]
    got, o = flow_through(engine, prefix, "flows", rows + scaled + dropped)
    want, have = same_rows("flows", o, rows + scaled, got)
    assert have == want
    assert len(got) == 2 * len(rows)
    by_rate = {}
    for g in got:
        by_rate.setdefault(g["sampling_rate"], []).append(g)
    assert sum(g["bytes"] for g in by_rate[512]) == 512 * sum(g["bytes"] for g in by_rate[1])
    # The traffic that was sent is there: each flow of the manifest by its addresses and protocol.
    sent = json.loads((SFLOW / "pmacct-sfprobe.json").read_text())["traffic"]
    for t in sent:
        key = (ip_text(to16(t["src"])), ip_text(to16(t["dst"])), t["protocol"])
        assert any((g["src_addr"], g["dst_addr"], g["protocol"]) == key for g in got), f"{t['name']} not stored"
        if "icmp_type" in t:
            assert any((g["src_addr"], g["dst_addr"], g["icmp_type"]) == key[:2] + (t["icmp_type"],) for g in got)
