"""Raw-socket senders: one thread per instance, fed with jobs (the probes of one Kafka message).

Only CAP_NET_RAW is needed: IPv4 goes out of an `IPPROTO_RAW` socket (the
kernel takes our header as is, IP_HDRINCL), IPv6 out of an `AF_INET6`
`IPPROTO_RAW` socket, which also takes the whole packet (header included), so
the source address may be any address of our prefixes, configured on an
interface or not. The kernel routes each packet by its destination.

The thread filters each probe (TTL bounds, family without a source, protocols
we do not send), builds it with the send time in it, sends it `packets`
times and asks the rate limiter after each batch. Counters are summed per
batch and added under one lock, so the hot loop touches no shared state.
"""

from __future__ import annotations

import collections
import errno
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

from nxthdr.core import logs
from nxthdr.core.metrics import Metrics
from nxthdr.saimiris.agent.config import InstanceConfig
from nxthdr.saimiris.agent.instances import Source
from nxthdr.saimiris.agent.ratelimit import RateLimiter
from nxthdr.saimiris.agent.window import SendWindow
from nxthdr.saimiris.probe import SENDABLE_PROTOCOLS, Probe, build_probe_packet

log = logging.getLogger("nxthdr.saimiris.agent.sender")


@dataclass(eq=False)
class Job:
    """The probes of one Kafka message for one instance."""

    measurement_id: str
    probes: list[Probe]
    source: Source
    end_of_measurement: bool
    on_done: Callable[["Job"], None] = lambda job: None
    sent: int = 0  # probes handled (sent, or built in dry run): what the gateway is told
    cancelled: bool = False
    dequeued: int = 0  # probes already taken off the queue count (the consumer resumes while a long job runs)


class RawSockets:
    """The two raw sockets of the agent (opened once, shared by the instance threads: sendto is thread-safe)."""

    def __init__(self) -> None:
        self.v4: socket.socket | None = None
        self.v6: socket.socket | None = None

    def open(self) -> None:
        if self.v4 is not None:
            return
        try:
            self.v4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
            self.v6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        except PermissionError:
            self.close()
            raise PermissionError("raw sockets need CAP_NET_RAW (run as root or grant the capability)") from None
        for s in (self.v4, self.v6):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)

    def close(self) -> None:
        for s in (self.v4, self.v6):
            if s is not None:
                s.close()
        self.v4 = self.v6 = None


def _inet(addr16: bytes) -> str:
    if addr16[:12] == b"\0" * 10 + b"\xff\xff":
        return socket.inet_ntop(socket.AF_INET, addr16[12:])
    return socket.inet_ntop(socket.AF_INET6, addr16)


class InstanceSender:
    """One instance: a FIFO of jobs and the thread that sends them."""

    def __init__(self, inst: InstanceConfig, sockets: RawSockets, metrics: Metrics, counters: "SenderCounters",
                 cancelled: Callable[[str], bool], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.inst = inst
        self.name = f"sender-{inst.name}"
        self.sockets = sockets
        self.counters = counters
        self.cancelled = cancelled
        self.limiter = RateLimiter(inst.probing_rate, inst.rate_limiting_method, clock=clock)
        self._jobs: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.queued_probes = 0  # probes waiting or being sent (back-pressure)
        self._errors = logs.RateLimited(log)
        self.window = SendWindow()  # when this instance sent: the capture checks reply timestamps against it

    # -- asyncio side ---------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        with self._cond:
            self._jobs.append(job)
            self.queued_probes += len(job.probes)
            self._cond.notify()

    async def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    async def stop(self) -> None:
        """Stops after the current batch; jobs not finished are not reported done (Kafka redelivers them)."""
        if self._thread is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify()
        import asyncio

        await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 10)
        self._thread = None

    # -- thread --------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._jobs[0]
            try:
                finished = self._send_job(job)
            except Exception:  # a bug must not kill the instance: the job is counted failed and ends
                log.exception("sending a job failed", extra={})
                finished = True
            with self._cond:
                self._jobs.popleft()
                self.queued_probes -= len(job.probes) - job.dequeued
            if not finished:  # stopping mid-job
                return
            job.on_done(job)

    def _send_job(self, job: Job) -> bool:
        """Send one job; False when interrupted by stop (not done)."""
        inst = self.inst
        packets = inst.packets
        batch = inst.batch_size
        min_ttl = inst.min_ttl if inst.min_ttl is not None else 0
        max_ttl = inst.max_ttl if inst.max_ttl is not None else 255
        instance_id = inst.instance_id
        dry = inst.dry_run
        src = job.source
        v4_sock, v6_sock = self.sockets.v4, self.sockets.v6
        limiter = self.limiter
        time_ns = time.time_ns
        mark = self.window.mark
        mid = job.measurement_id
        if self.cancelled(mid):
            job.cancelled = True
            self.counters.add_filtered("cancelled", len(job.probes))
            return True
        limiter.restart()
        filtered: collections.Counter = collections.Counter()
        sent = failed = handled = in_batch = 0
        for index, probe in enumerate(job.probes):
            ttl = probe.ttl
            if ttl < min_ttl:
                filtered["min_ttl"] += 1
                continue
            if ttl > max_ttl:
                filtered["max_ttl"] += 1
                continue
            if probe.protocol not in SENDABLE_PROTOCOLS:
                filtered["protocol"] += 1
                continue
            is4 = probe.is_ipv4
            src_addr = src.v4 if is4 else src.v6
            if src_addr is None:
                filtered["family"] += 1
                continue
            handled += 1
            dst = _inet(probe.dst_addr)
            sock = v4_sock if is4 else v6_sock
            for _ in range(packets):
                now_01ms = time_ns() // 100_000
                mark(now_01ms)
                packet = build_probe_packet(probe, src_addr, instance_id, now_01ms)
                if not dry:
                    try:
                        sock.sendto(packet, (dst, 0))
                        sent += 1
                    except OSError as e:
                        failed += 1
                        self._errors.event(e.errno, logging.WARNING, "send failed", instance=inst.name,
                                           destination=dst, error=errno.errorcode.get(e.errno, str(e)))
                in_batch += 1
                if in_batch >= batch:
                    in_batch = 0
                    self.counters.add(sent, failed, filtered, dry_run=handled if dry else 0)
                    job.sent += handled
                    sent = failed = handled = 0
                    filtered.clear()
                    # Probes handled so far leave the queue count now, not at the end of the job: a long
                    # record must not keep the consumer paused (it would not see a cancellation).
                    with self._cond:
                        self.queued_probes -= index + 1 - job.dequeued
                    job.dequeued = index + 1
                    if self._stopping:
                        return False
                    if self.cancelled(mid):
                        job.cancelled = True
                        self.counters.add_filtered("cancelled", len(job.probes) - index - 1)
                        return True
                    limiter.after(batch)
        self.counters.add(sent, failed, filtered, dry_run=handled if dry else 0)
        job.sent += handled
        if in_batch:
            limiter.after(in_batch)
        return True


class SenderCounters:
    """The sender metrics (reference names), updated once per batch from the instance threads."""

    def __init__(self, metrics: Metrics) -> None:
        self._lock = threading.Lock()
        self.read = metrics.fast_counter("sender_read_total", "Probes read from Kafka messages addressed to this agent")
        self.sent = metrics.fast_counter("sender_sent_total", "Probe packets sent")
        self.failed = metrics.fast_counter("sender_failed_total", "Probe packets the kernel refused")
        self.filtered = metrics.fast_counter("sender_filtered_total",
                                             "Probes not sent, by filter (min_ttl, max_ttl, family, protocol, "
                                             "no_instance, cancelled)", ("filter",))
        self.dry_run = metrics.fast_counter("sender_dry_run_total", "Probes built but not sent (dry_run instances)")

    def add(self, sent: int, failed: int, filtered: dict, dry_run: int = 0) -> None:
        with self._lock:
            if sent:
                self.sent.inc((), sent)
            if failed:
                self.failed.inc((), failed)
            if dry_run:
                self.dry_run.inc((), dry_run)
            for name, n in filtered.items():
                self.filtered.inc((name,), n)

    def add_read(self, n: int) -> None:
        with self._lock:
            self.read.inc((), n)

    def add_filtered(self, name: str, n: int) -> None:
        with self._lock:
            self.filtered.inc((name,), n)
