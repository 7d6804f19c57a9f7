"""UDP sockets for sFlow, the loop that drains them, and the kernel's drop count.

Sockets are opened by `open_sockets` (in the main process, before any worker
starts) so that every worker reads a socket bound to the same port, the bound
port is known even when the configuration asks for port 0, and the main process
can read each socket's drop counter from /proc/net/udp{,6} by inode. Reading the
counter at scrape time costs nothing per datagram, unlike SO_RXQ_OVFL, which
needs recvmsg() and ancillary-data parsing on every receive.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from nxthdr.core import logs
from nxthdr.core.config import parse_address

log = logging.getLogger("nxthdr.pesto")

MAX_DATAGRAM = 65535
# Datagrams read per wake-up before yielding to the loop: large enough to amortise the
# selector, small enough that the Kafka sender and the batch ticker still run under load.
DRAIN_BATCH = 256
# At most this many datagrams are read at stop: a full 8 MiB buffer of small datagrams.
STOP_DRAIN_LIMIT = 50_000


def open_sockets(address: str, count: int = 1, receive_buffer: int = 8 << 20) -> list[socket.socket]:
    """`count` non-blocking UDP sockets bound to `address` (SO_REUSEPORT when more than one).

    `[::]` (or `::`) is dual stack: IPv6_V6ONLY is cleared explicitly, whatever
    net.ipv6.bindv6only says, so IPv4 exporters reach the same socket.
    """
    host, port = parse_address(address)
    if host in ("", "::", "[::]") or ":" in host:
        family, bind_host = socket.AF_INET6, host or "::"
    else:
        family, bind_host = socket.AF_INET, host
        if not _is_ipv4(host):
            family, _, _, _, sa = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
            bind_host = sa[0]
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(family, socket.SOCK_DGRAM)
            socks.append(s)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            if count > 1:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            set_receive_buffer(s, receive_buffer)
            # The first socket picks the port (port 0: an ephemeral one); the others join it.
            s.bind((bind_host, port))
            port = s.getsockname()[1]
            s.setblocking(False)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def _is_ipv4(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET, host)
        return True
    except OSError:
        return False


def set_receive_buffer(sock: socket.socket, size: int) -> int:
    """Ask for `size` bytes of receive buffer; returns what the kernel granted.

    SO_RCVBUFFORCE passes net.core.rmem_max but needs CAP_NET_ADMIN; without it
    the request is capped, and the operator is told how to raise the cap.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUFFORCE, size)
    except (OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    # Linux reports twice the requested value (it counts its bookkeeping overhead).
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
    if granted < size:
        logs.event(log, logging.WARNING, "kernel granted a smaller receive buffer than configured",
                   requested=size, granted=granted, hint="raise net.core.rmem_max or grant CAP_NET_ADMIN")
    return granted


def socket_inode(sock: socket.socket) -> int:
    return os.fstat(sock.fileno()).st_ino


def kernel_drops(inodes: set[int]) -> dict[int, int]:
    """Per socket inode, the datagrams the kernel dropped (receive buffer full, bad checksum)."""
    out: dict[int, int] = {}
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table, encoding="ascii") as f:
                next(f, None)  # header
                for line in f:
                    cols = line.split()
                    # sl local rem st tx:rx tr:when retr uid timeout inode ref pointer drops
                    if len(cols) >= 13 and int(cols[9]) in inodes:
                        out[int(cols[9])] = int(cols[12])
        except OSError:
            continue
    return out


class UdpReader:
    """Drains its sockets into `handle(data, host, port)` from the event loop (no thread, no queue).

    A component: the constructor only stores; `start()` registers the sockets with
    the loop, `stop()` unregisters them (the sockets belong to whoever opened them).
    """

    name = "sflow-reader"

    def __init__(self, socks: list[socket.socket], handle) -> None:
        self.socks = socks
        self.handle = handle
        self._loop: asyncio.AbstractEventLoop | None = None
        self.received = 0

    async def start(self) -> None:
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        for s in self.socks:
            self._loop.add_reader(s.fileno(), self._drain, s)

    async def stop(self) -> None:
        if self._loop is None:
            return
        for s in self.socks:
            if s.fileno() >= 0:
                self._loop.remove_reader(s.fileno())
                # What is already queued in the kernel was accepted from the exporter: take it
                # (bounded: exporters that keep sending must not hold the shutdown forever).
                self._drain(s, limit=STOP_DRAIN_LIMIT)
        self._loop = None

    def _drain(self, sock: socket.socket, limit: int = DRAIN_BATCH) -> None:
        recv, handle = sock.recvfrom, self.handle
        n = 0
        try:
            while n < limit:
                data, addr = recv(MAX_DATAGRAM)
                n += 1
                handle(data, addr[0], addr[1])
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as e:  # e.g. ICMP-induced errors on some kernels: never stop reading
            logs.event(log, logging.WARNING, "sFlow socket receive error", error=str(e))
        finally:
            self.received += n


class SFlowSockets:
    """The listening sockets as a component: opened at start, closed at stop, drops exposed at scrape."""

    name = "sflow-listener"

    def __init__(self, address: str, metrics, count: int = 1, receive_buffer: int = 8 << 20) -> None:
        self.address = address
        self.count = count
        self.receive_buffer = receive_buffer
        self.socks: list[socket.socket] = []  # filled in place at start: readers hold this list
        self.bound_port: int | None = None
        self.granted = 0
        self._inodes: set[int] = set()
        self._last_drops = 0
        metrics.registry.register(_KernelDrops(self, f"{metrics.namespace}_kernel_receive_drops"))
        metrics.callback_gauge("sflow_receive_buffer_bytes", "Kernel receive buffer granted per sFlow socket", (),
                               lambda: [((), self.granted)] if self.socks else [])
        metrics.callback_gauge("sflow_sockets", "sFlow sockets open (one per worker)", (),
                               lambda: [((), len(self.socks))])

    async def start(self) -> None:
        if self.socks:
            return
        self.socks.extend(open_sockets(self.address, self.count, self.receive_buffer))
        self.granted = self.socks[0].getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
        self.bound_port = self.socks[0].getsockname()[1]
        self._inodes = {socket_inode(s) for s in self.socks}
        logs.event(log, logging.INFO, "sFlow listener started", address=self.address, port=self.bound_port,
                   sockets=len(self.socks), receive_buffer=self.granted)

    async def stop(self) -> None:
        if self.socks:
            self._last_drops = self.drops()
        for s in self.socks:
            s.close()
        self.socks.clear()

    def drops(self) -> int:
        if not self.socks:
            return self._last_drops
        return sum(kernel_drops(self._inodes).values())


class _KernelDrops:
    def __init__(self, sockets: SFlowSockets, name: str) -> None:
        self.sockets, self.name = sockets, name

    def collect(self):
        from prometheus_client.core import CounterMetricFamily

        fam = CounterMetricFamily(self.name,
                                  "sFlow datagrams the kernel dropped before pesto read them (receive buffer full), "
                                  "from /proc/net/udp",
                                  value=self.sockets.drops())
        yield fam
