"""BMP collector throughput: decode + curation + encode on one core.

Replays a recorded BMP stream (default: bench/data/bmp-1m.bmp, made from real
GoBGP routers by bench/make_bmp_stream.py) through the same decoder and
processor the collector runs, into a sink that only counts bytes, and prints:
  - prefixes/s (rows in, i.e. NLRI processed) and rows/s out, median of --runs
  - peak RSS of the process
  - bytes of curation state per stored prefix (dicts, keys and attribute ids,
    measured with sys.getsizeof over the state)
`--profile` prints where the time goes (cProfile, top functions).

    python3 bench/bmp_pipeline.py [--stream FILE] [--runs 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nxthdr.bmp.decoder import BmpDecoder  # noqa: E402
from nxthdr.bmp.events import NEED_DATA  # noqa: E402
from nxthdr.core.addr import to16  # noqa: E402
from nxthdr.core.metrics import Metrics  # noqa: E402
from nxthdr.risotto.processor import Processor  # noqa: E402

DEFAULT_STREAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "bmp-1m.bmp")


class CountingSink:
    name = "count"

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0

    def emit(self, message: bytes, key: bytes = b"") -> None:
        self.messages += 1
        self.bytes += len(message)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


def run_once(data: bytes, chunk: int = 256 * 1024):
    sink = CountingSink()
    p = Processor(sink, Metrics("risotto"))
    s = p.open_session(to16("192.0.2.254"), 40000)
    dec = BmpDecoder(max_buffer=64 << 20)
    handle = p.handle
    gc.disable()
    t0 = time.perf_counter()
    now = time.time_ns()
    for i in range(0, len(data), chunk):
        dec.receive_data(data[i:i + chunk])
        while (e := dec.next_event()) is not NEED_DATA:
            handle(s, e, now)
    elapsed = time.perf_counter() - t0
    gc.enable()
    rx = sum(p.m_rx.values.values())
    return elapsed, rx, sink, p


def state_bytes(p: Processor) -> tuple[int, int]:
    """(bytes, stored prefixes) of the curation state; shared attribute ids counted once."""
    total, stored, seen_attr = 0, 0, set()
    for r in p.rib.routers.values():
        total += sys.getsizeof(r) + sys.getsizeof(r.peers)
        for peer in r.peers.values():
            total += sys.getsizeof(peer) + sys.getsizeof(peer.tables)
            for table in list(peer.tables.values()) + list((peer.stale or {}).values()):
                total += sys.getsizeof(table)
                for k, v in table.items():
                    total += sys.getsizeof(k)
                    if id(v) not in seen_attr:
                        seen_attr.add(id(v))
                        total += sys.getsizeof(v)
                stored += len(table)
    return total, stored


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stream", default=DEFAULT_STREAM)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(args.stream):
        print(f"{args.stream} missing: generate it with `python3 bench/make_bmp_stream.py` (needs root, GoBGP)",
              file=sys.stderr)
        return 2
    with open(args.stream, "rb") as f:
        data = f.read()
    print(f"stream: {args.stream} ({len(data) / 1e6:.1f} MB)")
    rates, out_rates = [], []
    p = None
    for i in range(args.runs):
        elapsed, rx, sink, p = run_once(data)
        rates.append(rx / elapsed)
        out_rates.append(sink.messages / elapsed)
        print(f"run {i + 1}: {rx} prefixes in {elapsed:.2f}s = {rx / elapsed:,.0f} prefixes/s; "
              f"{sink.messages} rows out ({sink.bytes / 1e6:.0f} MB)")
        if i < args.runs - 1:
            del p, sink
            gc.collect()
    sbytes, stored = state_bytes(p)
    print(f"median: {statistics.median(rates):,.0f} prefixes/s in, {statistics.median(out_rates):,.0f} rows/s out "
          f"(target >= 150,000 prefixes/s)")
    print(f"state: {stored} stored prefixes, {sbytes / 1e6:.1f} MB, {sbytes / max(stored, 1):.0f} bytes/prefix "
          f"(target <= 150)")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (stream held in memory: "
          f"{len(data) / 1e6:.0f} MB)")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        run_once(data)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
