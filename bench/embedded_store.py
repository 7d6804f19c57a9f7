"""Benchmark: the embedded store (chdb) under the collectors, and the demo's summaries on 10M flow rows.

1. Sustained ingest: collector messages (risotto Updates from the shipped BMP
   recordings, pesto records from the shipped sFlow capture, replicated)
   converted to RowBinary and inserted in batches of 50,000 into the Null
   input tables, through the views into MergeTree: rows/s for conversion,
   insert, and both.
2. Insert formats, engine side: the same 500,000 flow rows inserted as
   RowBinary, TabSeparated, JSONEachRow and ArrowStream (payloads made by chdb
   itself, so only parsing is compared), plus the Python cost of building
   JSONEachRow lines for those rows.
   (the host mix: h = 5000 * u^3 for a uniform u: a few heavy talkers, a long tail)
3. Query latency of the demo's summaries on a store holding N flow rows
   (default 10,000,000, generated inside chdb from numbers() with a skewed
   host mix, TCP/UDP/ICMP, IPv4 and IPv6) and 1,000,000 BMP rows.

Medians of several runs (2-core shared machines are noisy).

    python3 bench/embedded_store.py [--runs 5] [--flow-rows 10000000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nxthdr.demo import SUMMARIES  # noqa: E402
from nxthdr.storage.store import Store  # noqa: E402
from tests.storage.helpers import bmp_messages, flow_messages  # noqa: E402

BATCH = 50_000


def median_rate(n: int, times: list[float]) -> str:
    return f"{n / statistics.median(times):>12,.0f} rows/s"


def ingest(store: Store, pipeline: str, messages: list[bytes], runs: int) -> None:
    w = store.writers[pipeline]
    conv, ins = [], []
    for _ in range(runs):
        c = i = 0.0
        for k in range(0, len(messages), BATCH):
            t0 = time.perf_counter()
            rows = w.rows(messages[k:k + BATCH])
            t1 = time.perf_counter()
            store.insert_rowbinary(pipeline, rows)
            t2 = time.perf_counter()
            c += t1 - t0
            i += t2 - t1
        conv.append(c)
        ins.append(i)
    n = len(messages)
    print(f"  {pipeline:<6} convert {median_rate(n, conv)}   insert {median_rate(n, ins)}   "
          f"both {median_rate(n, [a + b for a, b in zip(conv, ins)])}")


def formats(store: Store, runs: int, n: int = 500_000) -> None:
    cols = ", ".join(f"{c} {t}" for c, t in store.columns("flows.input"))
    store.query(f"CREATE TABLE IF NOT EXISTS default.fmt ({cols}) ENGINE = Null")
    store.query(f"CREATE TABLE IF NOT EXISTS default.src ({cols}) ENGINE = Memory")
    msgs = list(flow_messages())
    store.query("TRUNCATE TABLE default.src")
    rows = store.writers["flows"].rows((msgs * (n // len(msgs) + 1))[:n])
    with store._lock:
        ins = store._session.send_insert("INSERT INTO default.src", "RowBinary")
        ins.append(rows)
        ins.finish()
    for fmt in ("RowBinary", "TabSeparated", "JSONEachRow", "ArrowStream"):
        payload = store.query(f"SELECT * FROM default.src FORMAT {fmt}")
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            with store._lock:
                ins = store._session.send_insert("INSERT INTO default.fmt", fmt)
                ins.append(payload)
                ins.finish()
            times.append(time.perf_counter() - t0)
        print(f"  {fmt:<13} {len(payload) / n:6.0f} bytes/row  insert {median_rate(n, times)}")
    names = [c for c, _ in store.columns("flows.input")]
    tuples = [tuple(r) for r in json.loads(store.query("SELECT * EXCEPT (agentAddr, srcIp, dstIp, exporterAddr, "
                                                       "nextHop) FROM default.src LIMIT 100000",
                                                       "JSONCompact"))["data"]]
    t0 = time.perf_counter()
    _ = "\n".join(json.dumps(dict(zip(names, t))) for t in tuples)
    dt = time.perf_counter() - t0
    print(f"  building JSONEachRow lines in Python (without the 5 address columns): "
          f"{len(tuples) / dt:,.0f} rows/s")


FLOWS_SQL = """
INSERT INTO flows.input (timeReceivedNs, agentAddr, agentPort, samplingRate, length, protocol, srcIp, dstIp,
                         srcPort, dstPort, exporterAddr, etype, datagramSequenceNumber, sampleSequenceNumber)
SELECT
    toUInt64(toUnixTimestamp64Nano(now64(9))) - (number % 86400) * 1000000000 - number % 1000000000,
    unhex('00000000000000000000FFFFC0000201'),
    6343,
    1000,
    multiIf(r % 10 < 5, 1500, r % 10 < 8, 52 + r % 500, 40 + r % 1400),
    if(ip6, multiIf(p < 70, 6, p < 92, 17, 58), multiIf(p < 70, 6, p < 95, 17, 1)) AS proto,
    if(ip6, unhex(concat('20010DB8', leftPad(hex(toUInt32(pow(h, 1))), 24, '0'))),
            unhex(concat('00000000000000000000FFFF0A', leftPad(hex(toUInt32(h) % 16777216), 6, '0')))),
    if(ip6, unhex(concat('20010DB8FFFF', leftPad(hex(r % 1000), 20, '0'))),
            unhex(concat('00000000000000000000FFFFC633', leftPad(hex(r % 65536), 4, '0')))),
    if(proto IN (1, 58), 0, 1024 + r % 60000),
    if(proto IN (1, 58), 0, [443, 80, 53, 123, 22][1 + r % 5]),
    unhex('00000000000000000000FFFF7F000001'),
    if(ip6, 0x86dd, 0x0800),
    toUInt32(number / 10),
    toUInt32(number)
FROM (SELECT number, cityHash64(number) AS r, bitShiftRight(r, 8) % 100 AS p, bitShiftRight(r, 16) % 10 < 3 AS ip6,
             floor(5000 * pow(bitShiftRight(r, 24) % 1000000 / 1000000, 3)) AS h
      FROM numbers({n}))
"""

BMP_SQL = """
INSERT INTO bmp.input (timeReceivedNs, routerAddr, routerPort, peerAddr, peerAsn, prefixAddr, prefixLen, announced,
                       synthetic, origin, asPath, nextHop)
SELECT toUInt64(toUnixTimestamp64Nano(now64(9))) - number * 1000,
       concat('::ffff:192.0.2.', toString(1 + number % 4)), 40000,
       concat('::ffff:10.0.0.', toString(2 + number % 8)), 65010 + number % 8,
       concat('::ffff:', IPv4NumToString(toUInt32((r % 200000) * 256))), 24,
       r % 10 < 8, r % 50 = 0, 'IGP', [65010, 64500 + toUInt32(r % 300)], '::ffff:10.0.0.2'
FROM (SELECT number, cityHash64(number) AS r FROM numbers({n}))
"""


def summaries(path: Path, flow_rows: int, runs: int) -> None:
    store = Store(path)
    store.open()
    try:
        t0 = time.perf_counter()
        step = 2_000_000
        for start in range(0, flow_rows, step):
            store.query(FLOWS_SQL.format(n=min(step, flow_rows - start)))
        store.query(BMP_SQL.format(n=1_000_000))
        store.query("OPTIMIZE TABLE flows.records FINAL")
        print(f"  generated {flow_rows:,} flow rows and 1,000,000 BMP rows through the views in "
              f"{time.perf_counter() - t0:.1f} s")
        print("  " + store.query("SELECT formatReadableSize(sum(bytes_on_disk)) FROM system.parts "
                                 "WHERE active AND database = 'flows'").decode().strip() + " on disk for flows")
        for title, sql in SUMMARIES:
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                store.query(sql, "JSONCompact")
                times.append(time.perf_counter() - t0)
            print(f"  {title:<32} median {statistics.median(times) * 1000:8.1f} ms")
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--messages", type=int, default=500_000, help="messages per pipeline for the ingest figures")
    ap.add_argument("--flow-rows", type=int, default=10_000_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        store = Store(tmp / "ingest")
        store.open()
        try:
            print("Sustained ingest, collector messages -> RowBinary -> input table -> view -> MergeTree "
                  f"(batches of {BATCH:,}):")
            for pipeline, src in (("bmp", bmp_messages()), ("flows", flow_messages())):
                msgs = (list(src) * (args.messages // len(src) + 1))[:args.messages]
                ingest(store, pipeline, msgs, args.runs)
            print("Insert formats (engine side, 500,000 flow rows into a Null table):")
            formats(store, args.runs)
        finally:
            store.close()
        print("Demo summaries:")
        summaries(tmp / "query", args.flow_rows, args.runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
