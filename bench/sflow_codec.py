"""Benchmark: sFlow v5 decode + Cap'n Proto encode, flow samples per second on one core.

Input: the datagrams recorded from pmacctd sfprobe (tests/fixtures/sflow),
replicated to a working set. Each run decodes every datagram and encodes its
records, as the collector's hot path does; the figure is the median of the runs.

    python3 bench/sflow_codec.py [--runs 7] [--copies 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nxthdr.sflow import SFlowRecordEncoder, decode_datagram  # noqa: E402
from nxthdr.sflow.records import exporter_bytes  # noqa: E402
from tests.sflow.pcap import read_framed  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--copies", type=int, default=300)
    args = ap.parse_args()

    base = read_framed((ROOT / "tests" / "fixtures" / "sflow" / "pmacct-sfprobe.bin").read_bytes())
    datagrams = base * args.copies
    samples = sum(len(decode_datagram(d).flow_samples) for d in datagrams)
    enc = SFlowRecordEncoder()
    exporter = exporter_bytes("127.0.0.1")

    rates, decode_only = [], []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        n = 0
        for d in datagrams:
            n += len(enc.encode(decode_datagram(d), 1_700_000_000_000_000_000, exporter, 6343))
        rates.append(samples / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for d in datagrams:
            decode_datagram(d)
        decode_only.append(samples / (time.perf_counter() - t0))
    print(f"{len(datagrams)} datagrams, {samples} flow samples, {n} records per run")
    print(f"decode only:     {statistics.median(decode_only):,.0f} samples/s")
    print(f"decode + encode: {statistics.median(rates):,.0f} samples/s (median of {args.runs})")


if __name__ == "__main__":
    main()
