"""The decoding unit (sink + processor + reader) and the pool that runs several of them as processes.

Why processes: decoding and encoding are pure Python (about 14 us of CPU per
flow sample with reception and the Kafka producer included, so roughly 70,000
samples/s per core), and the GIL keeps every thread of a process on one core.
N asyncio endpoints (or threads) in one process would spread datagrams over N
kernel queues but not the CPU work. With `--sflow-workers 1` (the default) the
main process decodes; with `--sflow-workers N` each worker
is a process with its own SO_REUSEPORT socket (opened by the main process, so
they share one port and the main process can read their kernel drop counters),
its own sinks and Kafka producer; the kernel spreads exporters over the sockets
by their source address and port, so one exporter's datagrams stay in order.

Metrics stay on one endpoint: every worker sends a snapshot of its registry to
the main process twice a second (and a last one when it stops) over a pipe; the
main process serves the sum. A worker that dies is restarted on the same
socket (datagrams wait in the kernel meanwhile), and the counters it had
reported are kept so totals never go backwards. A worker is told to stop by
the end of its stdin (then it drains its socket and flushes its sinks), so a
stop can never kill one that is still starting.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from nxthdr.core import logs
from nxthdr.core.component import Supervisor
from nxthdr.core.kafka import KafkaSettings, KafkaSink
from nxthdr.core.metrics import Metrics
from nxthdr.core.sinks import FanOut, FileSink, Sink
from nxthdr.pesto.listener import SFlowSockets, UdpReader
from nxthdr.pesto.processor import Processor

log = logging.getLogger("nxthdr.pesto")

SNAPSHOT_INTERVAL = 0.5


class Unit:
    """Sinks, processor and reader of one socket set: what a worker runs, or the main process when workers = 1."""

    def __init__(self, cfg: dict, socks: list[socket.socket], metrics: Metrics, extra_sinks: list[Sink] | None = None,
                 file_suffix: str = "") -> None:
        k = cfg["kafka"]
        outputs: list[Sink] = list(extra_sinks or [])
        if not k["disable"]:
            outputs.append(KafkaSink(KafkaSettings.from_config(k), metrics))
        if cfg.get("file_output"):
            outputs.append(FileSink(cfg["file_output"] + file_suffix))
        self.sink = FanOut(outputs)
        self.processor = Processor(self.sink, metrics, key_mode=k["key"], max_exporters=cfg["sflow"]["max_exporters"])
        self.reader = UdpReader(socks, self.processor.handle)
        # Start order: the sinks before the reader, so stop drains the reader into open sinks.
        self.components = [self.sink, self.reader]


# -- worker process side ---------------------------------------------------------------------------

def snapshot(metrics: Metrics) -> list[tuple]:
    """(name, type, documentation, labelnames, [(label values, value)]) of every counter and gauge."""
    out = []
    for fam in metrics.registry.collect():
        if fam.type not in ("counter", "gauge"):
            continue
        samples, names = [], None
        for s in fam.samples:
            if s.name.endswith("_created"):
                continue
            names = tuple(s.labels)
            samples.append((tuple(s.labels.values()), s.value))
        out.append((fam.name, fam.type, fam.documentation, names or (), samples))
    return out


def worker_main(argv: list[str] | None = None) -> None:
    """Entry point of a worker process (`python -m nxthdr.pesto.worker`), started by `WorkerPool`.

    The socket and the report pipe arrive as inherited file descriptors, the
    configuration as JSON on stdin.
    """
    import argparse

    ap = argparse.ArgumentParser(prog="pesto-worker")
    ap.add_argument("--index", type=int, required=True)
    ap.add_argument("--socket-fd", type=int, required=True)
    ap.add_argument("--report-fd", type=int, required=True)
    ap.add_argument("--log-level", type=int, default=logging.INFO)
    args = ap.parse_args(argv)
    # One line of configuration; then stdin stays open, and its end means "stop".
    cfg = json.loads(sys.stdin.buffer.readline())
    # Ctrl-C reaches the whole process group: the main process decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logs.setup(0, cfg["log"]["format"])
    logging.getLogger().setLevel(args.log_level)
    sock = socket.socket(fileno=args.socket_fd)
    sock.setblocking(False)
    conn = Connection(args.report_fd, readable=False)
    asyncio.run(_worker(args.index, cfg, sock, conn))


async def _worker(index: int, cfg: dict, sock: socket.socket, conn) -> None:
    metrics = Metrics("pesto")
    unit = Unit(cfg, [sock], metrics, file_suffix=f".{index}")
    sup = Supervisor(unit.components)
    stop = asyncio.Event()

    def send(kind: str) -> None:
        try:
            conn.send((kind, snapshot(metrics), metrics.health()))
        except (OSError, ValueError):  # the main process is gone: nothing to report to
            stop.set()

    def on_stdin() -> None:
        # The stop request is the end of stdin, not a signal: it cannot arrive before the
        # handler exists (a SIGTERM during interpreter start-up would kill the worker with
        # datagrams unread), and a main process that dies closes it too.
        if not os.read(0, 4096):
            loop.remove_reader(0)
            stop.set()

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)  # systemd signals the whole control group
    loop.add_reader(0, on_stdin)
    await sup.start()
    send("ready")
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), SNAPSHOT_INTERVAL)
            except asyncio.TimeoutError:
                send("metrics")
    finally:
        await sup.stop()
        send("stopped")
        conn.close()


# -- main process side -----------------------------------------------------------------------------

class _Worker:
    __slots__ = ("index", "sock", "proc", "conn", "latest", "health", "stopped", "started", "ready")

    def __init__(self, index: int, sock: socket.socket | None) -> None:
        self.index, self.sock = index, sock
        self.proc = self.conn = None
        self.latest: list[tuple] = []
        self.health: tuple[bool, dict] = (False, {})
        self.stopped = False
        self.started = 0.0
        self.ready = False


class WorkerPool:
    """N worker processes, one per socket; their metrics summed into `metrics`. A component."""

    name = "sflow-workers"

    def __init__(self, cfg: dict, listener: SFlowSockets, metrics: Metrics, restart_delay: float = 1.0,
                 start_timeout: float = 60.0) -> None:
        self.cfg = cfg
        self.start_timeout = start_timeout
        self.listener = listener
        self.workers = [_Worker(i, None) for i in range(listener.count)]
        self.restart_delay = restart_delay
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._tasks: set[asyncio.Task] = set()
        # Counters of worker processes that ended, so totals survive restarts.
        self._retired: dict[tuple, float] = {}
        self._retired_meta: dict[str, tuple[str, tuple]] = {}
        self.m_restarts = metrics.counter("worker_restarts_total", "Worker processes restarted after dying")
        metrics.registry.register(_Aggregate(self))
        for w in self.workers:
            metrics.add_health(f"worker-{w.index}", lambda w=w: self._health(w))

    async def start(self) -> None:
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        for w, sock in zip(self.workers, self.listener.socks, strict=True):
            w.sock = sock
            self._spawn(w)
        # Started means serving: until then the datagrams wait in the kernel, and a stop could
        # catch a worker before it can drain and flush.
        deadline = time.monotonic() + self.start_timeout
        while not all(w.ready for w in self.workers):
            dead = [w.index for w in self.workers if w.proc.poll() is not None and not w.ready]
            if dead or time.monotonic() > deadline:
                await self.stop()
                raise RuntimeError(f"sFlow workers {dead or 'not ready in time'} failed to start")
            await asyncio.sleep(0.05)

    def _spawn(self, w: _Worker) -> None:
        # A fresh interpreter (not fork: this process runs an event loop and threads, and not
        # multiprocessing's spawn, which re-imports the caller's __main__) given the socket by fd.
        r, wr = os.pipe()
        try:
            # Room for many snapshots: a worker must never block on a report while datagrams wait.
            fcntl.fcntl(wr, fcntl.F_SETPIPE_SZ, 1 << 20)
        except (OSError, AttributeError):
            pass
        fd = w.sock.fileno()
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # where `nxthdr` is importable from
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        try:
            w.proc = subprocess.Popen(
                [sys.executable, "-m", "nxthdr.pesto.worker", "--index", str(w.index), "--socket-fd", str(fd),
                 "--report-fd", str(wr), "--log-level", str(logging.getLogger().getEffectiveLevel())],
                stdin=subprocess.PIPE, pass_fds=(fd, wr), env=env)
        finally:
            os.close(wr)  # our copy: the pipe reads EOF when the worker ends
        w.proc.stdin.write(json.dumps(self.cfg).encode() + b"\n")
        w.proc.stdin.flush()  # stdin stays open: closing it asks the worker to stop
        w.conn, w.stopped, w.started, w.ready = Connection(r, writable=False), False, time.monotonic(), False
        self._loop.add_reader(r, self._on_message, w)
        logs.event(log, logging.INFO, "worker started", worker=w.index, pid=w.proc.pid)

    def _on_message(self, w: _Worker) -> None:
        try:
            while w.conn.poll():
                kind, snap, health = w.conn.recv()
                w.latest, w.health, w.ready = snap, health, True
                if kind == "stopped":
                    w.stopped = True
        except (EOFError, OSError):
            self._ended(w)

    def _ended(self, w: _Worker) -> None:
        self._loop.remove_reader(w.conn.fileno())
        w.conn.close()
        for name, typ, doc, names, samples in w.latest:
            if typ == "counter":
                self._retired_meta[name] = (doc, names)
                for values, v in samples:
                    key = (name, values)
                    self._retired[key] = self._retired.get(key, 0.0) + v
        w.latest, w.health = [], (False, {})
        if self._stopping:
            return
        try:
            w.proc.stdin.close()
        except OSError:
            pass
        try:
            code = w.proc.wait(1)
        except subprocess.TimeoutExpired:
            w.proc.kill()
            code = w.proc.wait()
        logs.event(log, logging.ERROR, "worker died, restarting", worker=w.index, exitcode=code)
        self.m_restarts.inc()
        t = self._loop.create_task(self._restart(w))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _restart(self, w: _Worker) -> None:
        await asyncio.sleep(self.restart_delay)
        if not self._stopping:
            self._spawn(w)

    def _health(self, w: _Worker) -> tuple[bool, str]:
        if w.proc is None or w.proc.poll() is not None:
            return False, "not running"
        ok, checks = w.health
        if not w.ready:
            return False, f"pid {w.proc.pid}, starting"
        bad = {k: c["detail"] for k, c in checks.items() if not c["ok"]}
        return ok, f"pid {w.proc.pid}" + (f", {bad}" if bad else ", ok")

    async def stop(self) -> None:
        if self._loop is None:
            return
        self._stopping = True
        for t in list(self._tasks):
            t.cancel()
        for w in self.workers:
            if w.proc is not None and not w.proc.stdin.closed:
                try:
                    w.proc.stdin.close()  # the stop request: the worker drains its socket and flushes its sinks
                except OSError:
                    pass
        deadline = time.monotonic() + 30
        for w in self.workers:
            if w.proc is None:
                continue
            while w.proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if w.proc.poll() is None:
                logs.event(log, logging.ERROR, "worker did not stop in time, killing", worker=w.index)
                w.proc.kill()
                w.proc.wait()
            if not w.conn.closed:
                self._on_message(w)  # the last snapshot, then EOF
                if not w.conn.closed:
                    self._ended(w)
        self._loop = None

    def families(self) -> Iterable:
        totals: dict[str, tuple[str, str, tuple, dict]] = {}
        for (name, values), v in self._retired.items():
            doc, names = self._retired_meta[name]
            acc = totals.setdefault(name, ("counter", doc, names, {}))[3]
            acc[values] = acc.get(values, 0.0) + v
        for w in self.workers:
            for name, typ, doc, names, samples in w.latest:
                prev = totals.get(name)
                acc = prev[3] if prev else {}
                # A worker with no samples yet cannot tell the label names: keep known ones.
                totals[name] = (typ, doc, names or (prev[2] if prev else ()), acc)
                for values, v in samples:
                    acc[values] = acc.get(values, 0.0) + v
        for name, (typ, doc, names, acc) in totals.items():
            cls = CounterMetricFamily if typ == "counter" else GaugeMetricFamily
            fam = cls(name, doc, labels=list(names))
            for values, v in acc.items():
                fam.add_metric(list(values), v)
            yield fam


class _Aggregate:
    """prometheus_client collector over the pool's snapshots."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool

    def collect(self):
        return self.pool.families()


if __name__ == "__main__":
    worker_main()
