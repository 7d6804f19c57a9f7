"""End-to-end sFlow benchmark: offered load on loopback → pesto → Kafka (or a file), and sfacctd on the same load.

For each offered rate (flow samples/s) a second process sends the datagrams
recorded from pmacctd sfprobe (tests/fixtures/sflow, 2 to 8 samples each, as
pmacct packs them) at that pace for --duration seconds to a fresh `pesto`
process (the real command), which produces to a real Kafka broker started here
(tests/services/kafka.py) or to a file. Reported per rate:

  sent       flow samples the sender handed to the kernel
  records    records that reached Kafka (counted by reading the topic back) or the file
  loss       1 - records / sent
  decoded    records pesto made (pesto_sflow_records_total); decoded < sent: the kernel dropped datagrams
  kdrops     datagrams the kernel dropped at pesto's sockets (pesto_kernel_receive_drops_total)
  sinkdrop   records pesto dropped itself (pesto_dropped_messages_total: Kafka buffer full, timeouts)
  cpu us/s   CPU time of pesto (main process and workers) per flow sample

With --sfacctd, pmacct's sfacctd (print plugin, aggregating on the 5-tuple) gets
the same load; what it accounted is the sum of its PACKETS column (no
renormalisation: one sampled packet = one), compared with what it accounts at a
trickle (it ignores some of the recorded samples), and its CPU per sample is
compared with pesto's.

    python3 bench/pesto_end_to_end.py [--rates 10000,25000,50000,100000] [--workers 1,2]
                                      [--duration 5] [--sink kafka|file] [--sfacctd]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.sflow.pcap import read_framed  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "sflow" / "pmacct-sfprobe.bin"


def datagrams() -> list[bytes]:
    return read_framed(FIXTURE.read_bytes())


def samples_in(d: bytes) -> int:
    from nxthdr.sflow import decode_datagram

    return len(decode_datagram(d).flow_samples)


# -- the sender (runs as its own process) ------------------------------------------------------------

def send(port: int, rate: float, duration: float, nsocks: int = 8) -> dict:
    """Send at `rate` flow samples/s for `duration` s, from `nsocks` source ports (several exporters)."""
    dgs = datagrams()
    per = [samples_in(d) for d in dgs]
    dg_rate = rate * len(dgs) / sum(per)
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(nsocks)]
    dest = ("127.0.0.1", port)
    sent = samples = 0
    t0 = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - t0
        if elapsed >= duration:
            break
        due = int(dg_rate * elapsed) - sent
        for _ in range(due):
            i = sent % len(dgs)
            socks[sent % nsocks].sendto(dgs[i], dest)
            samples += per[i]
            sent += 1
        time.sleep(0.0005)
    return {"datagrams": sent, "samples": samples, "elapsed": time.perf_counter() - t0}


def run_sender(port: int, rate: float, duration: float) -> dict:
    out = subprocess.run([sys.executable, __file__, "--send", str(port), str(rate), str(duration)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout)


# -- helpers -----------------------------------------------------------------------------------------

def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return r.status == 200
    except Exception:
        return False


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its descendants that are still running."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for t in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (t / "children").read_text().split()]
        except OSError:
            continue
    return total


def udp_drops(port: int) -> int:
    """Kernel drops of the UDP sockets bound to `port` (for sfacctd, which does not export them)."""
    total = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                if int(cols[1].rsplit(":", 1)[1], 16) == port:
                    total += int(cols[12])
    return total


def count_records(data: bytes) -> int:
    from nxthdr.core.capnp_codec import load_schema

    struct = load_schema("sflow.capnp").SFlowFlowRecord
    return sum(1 for _ in struct.read_multiple_bytes(data)) if data else 0


def count_topic(bootstrap: str, topic: str, expect: int, timeout: float = 60.0) -> int:
    import asyncio

    from aiokafka import AIOKafkaConsumer

    async def run() -> int:
        c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, fetch_max_bytes=64 << 20, max_partition_fetch_bytes=16 << 20)
        await c.start()
        n, deadline, idle = 0, time.monotonic() + timeout, 0
        try:
            while time.monotonic() < deadline and n < expect and idle < 10:
                batch = await c.getmany(timeout_ms=300)
                got = sum(count_records(r.value) for recs in batch.values() for r in recs)
                n += got
                idle = 0 if got else idle + 1
        finally:
            await c.stop()
        return n

    return asyncio.run(run())


def wait_quiet(get, settle: float = 1.0, timeout: float = 60.0) -> float:
    """Poll `get()` until it stops changing for `settle` seconds."""
    last, since, deadline = get(), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = get()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= settle:
            break
    return last


# -- pesto -------------------------------------------------------------------------------------------

def run_pesto(rate: float, workers: int, duration: float, sink: str, broker, workdir: Path) -> dict:
    port, mport = free_port(socket.SOCK_DGRAM), free_port()
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    out = workdir / f"pesto-{uuid.uuid4().hex[:8]}.bin"
    cmd = [sys.executable, "-m", "nxthdr", "pesto", "--sflow-address", f"127.0.0.1:{port}",
           "--metrics-address", f"127.0.0.1:{mport}", "--sflow-workers", str(workers), "-q"]
    if sink == "kafka":
        cmd += ["--kafka-brokers", broker.bootstrap, "--kafka-topic", topic]
    else:
        cmd += ["--kafka-disable", "--file-output", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not healthy(mport):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("pesto did not become healthy")
            time.sleep(0.2)
        cpu0 = cpu_seconds(proc.pid)
        sent = run_sender(port, rate, duration)
        wait_quiet(lambda: scrape(mport).get("pesto_sflow_records_total", 0))
        m = scrape(mport)
        cpu = cpu_seconds(proc.pid) - cpu0
        if sink == "kafka":
            wait_quiet(lambda: scrape(mport).get('pesto_kafka_messages_total{status="success"}', 0), settle=1.5)
            m = scrape(mport)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    if sink == "kafka":
        records = count_topic(broker.bootstrap, topic, int(m.get("pesto_sflow_records_total", 0)))
    else:
        files = [out] if workers == 1 else [Path(f"{out}.{i}") for i in range(workers)]
        records = sum(count_records(f.read_bytes()) for f in files if f.exists())
    return {"sent": sent["samples"], "datagrams": sent["datagrams"], "achieved": sent["samples"] / sent["elapsed"],
            "records": records, "decoded": m.get("pesto_sflow_records_total", 0),
            "kdrops": m.get("pesto_kernel_receive_drops_total", 0),
            "dropped": sum(v for k, v in m.items() if k.startswith("pesto_dropped_messages_total")),
            "cpu_us": 1e6 * cpu / max(sent["samples"], 1)}


# -- sfacctd -----------------------------------------------------------------------------------------

def run_sfacctd(rate: float, duration: float, workdir: Path) -> dict:
    port = free_port(socket.SOCK_DGRAM)
    out = workdir / f"sfacctd-{port}.csv"
    conf = workdir / f"sfacctd-{port}.conf"
    conf.write_text(f"""daemonize: false
sfacctd_ip: 127.0.0.1
sfacctd_port: {port}
sfacctd_pipe_size: 8388608
plugins: print
aggregate: src_host, dst_host, proto, src_port, dst_port
print_output: csv
print_output_file: {out}
print_output_file_append: true
print_refresh_time: 1
""")
    proc = subprocess.Popen(["sfacctd", "-f", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        cpu0 = cpu_seconds(proc.pid)
        sent = run_sender(port, rate, duration) if rate else None
        time.sleep(2.5)  # two print refreshes
        cpu = cpu_seconds(proc.pid) - cpu0
        kdrops = udp_drops(port)
    finally:
        proc.send_signal(signal.SIGINT)  # the print plugin purges its cache on exit
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    got = 0
    if out.exists():
        with open(out) as f:
            got = sum(int(r["PACKETS"]) for r in csv.DictReader(f) if r.get("PACKETS", "").isdigit())
    if sent is None:
        return {"got": got}
    return {"sent": sent["samples"], "got": got, "kdrops": kdrops, "cpu_us": 1e6 * cpu / max(sent["samples"], 1)}


def sfacctd_share(workdir: Path) -> float:
    """Fraction of the recorded samples sfacctd accounts for when nothing is lost (it skips some)."""
    port = free_port(socket.SOCK_DGRAM)
    dgs = datagrams()
    total = 100 * sum(samples_in(d) for d in dgs)
    out = workdir / "calib.csv"
    conf = workdir / "calib.conf"
    conf.write_text(f"daemonize: false\nsfacctd_ip: 127.0.0.1\nsfacctd_port: {port}\nplugins: print\n"
                    f"aggregate: src_host, dst_host, proto, src_port, dst_port\nprint_output: csv\n"
                    f"print_output_file: {out}\nprint_output_file_append: true\nprint_refresh_time: 1\n")
    proc = subprocess.Popen(["sfacctd", "-f", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(100):
                for d in dgs:
                    s.sendto(d, ("127.0.0.1", port))
                time.sleep(0.002)
        time.sleep(2.5)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
    with open(out) as f:
        got = sum(int(r["PACKETS"]) for r in csv.DictReader(f) if r.get("PACKETS", "").isdigit())
    return got / total


# -- main --------------------------------------------------------------------------------------------

def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--send":
        print(json.dumps(send(int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]))))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="10000,25000,50000,100000", help="offered flow samples/s, comma-separated")
    ap.add_argument("--workers", default="1,2", help="pesto --sflow-workers values to run, comma-separated")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds of load per rate")
    ap.add_argument("--sink", choices=("kafka", "file"), default="kafka")
    ap.add_argument("--sfacctd", action="store_true", help="also run pmacct's sfacctd on the same load")
    args = ap.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="pesto-bench-"))
    broker = None
    try:
        if args.sink == "kafka":
            from tests.services.kafka import KafkaBroker, jars_available

            if not jars_available():
                sys.exit("Kafka jars not found (run .ci/install or set NXTHDR_KAFKA_LIBS), or use --sink file")
            (workdir / "kafka").mkdir()
            broker = KafkaBroker(str(workdir / "kafka"))
            broker.start()
        print(f"{os.cpu_count()} CPUs; sink {args.sink}; {args.duration:.0f} s per rate; "
              f"datagrams: pmacct sfprobe recording, {sum(map(samples_in, datagrams())) / len(datagrams()):.1f} "
              f"samples each on average")
        print(f"{'collector':<16}{'offered/s':>10}{'achieved/s':>11}{'sent':>9}{'records':>9}{'loss':>8}"
              f"{'decoded':>9}{'kdrops':>8}{'sinkdrop':>9}{'cpu us/sample':>14}")
        pesto_cpu: dict[float, float] = {}
        for w in [int(x) for x in args.workers.split(",")]:
            for rate in rates:
                r = run_pesto(rate, w, args.duration, args.sink, broker, workdir)
                loss = 1 - r["records"] / r["sent"] if r["sent"] else 0.0
                pesto_cpu.setdefault(rate, r["cpu_us"])
                print(f"{f'pesto w={w}':<16}{rate:>10,.0f}{r['achieved']:>11,.0f}{r['sent']:>9}{r['records']:>9}"
                      f"{loss:>8.2%}{r['decoded']:>9.0f}{r['kdrops']:>8.0f}{r['dropped']:>9.0f}{r['cpu_us']:>14.1f}",
                      flush=True)
        if args.sfacctd:
            if shutil.which("sfacctd") is None:
                print("sfacctd not installed: skipped")
                return
            share = sfacctd_share(workdir)
            print(f"sfacctd accounts for {share:.1%} of the recorded samples at a trickle (the rest it skips)")
            for rate in rates:
                r = run_sfacctd(rate, args.duration, workdir)
                expected = r["sent"] * share
                loss = max(0.0, 1 - r["got"] / expected) if expected else 0.0  # share is an estimate
                ratio = pesto_cpu.get(rate, 0) / r["cpu_us"] if r["cpu_us"] else float("nan")
                print(f"{'sfacctd':<16}{rate:>10,.0f}{'':>11}{r['sent']:>9}{r['got']:>9}{loss:>8.2%}"
                      f"{'':>9}{r['kdrops']:>8}{'':>9}{r['cpu_us']:>14.1f}   pesto/sfacctd CPU per sample: {ratio:.1f}x",
                      flush=True)
    finally:
        if broker is not None:
            broker.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
