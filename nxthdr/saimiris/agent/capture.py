"""Reply capture: an AF_PACKET socket per interface, with kernel receive timestamps.

A packet socket sees what arrives on the interface before the IP layer, so
replies to prefix addresses that are routed to this host but configured on no
interface are captured too (the kernel then drops them; we already have them).
`SOCK_DGRAM` packet sockets hand us the IP packet without its link layer. A
classic BPF filter in the kernel keeps only incoming ICMP echo replies,
destination unreachable and time exceeded (IPv4, and IPv6 without extension
headers), plus what the parser must judge itself: IPv4 ICMP with a header
length below 20, IPv6 packets with extension headers the parser walks
(hop-by-hop, routing, fragment, destination options); everything else never
wakes us. `CAPTURED` states that definition once; the tests hold both the
kernel filter and the parser to it. Packets the socket buffer had no room for
are counted by the kernel (PACKET_STATISTICS) and exported. `SO_TIMESTAMPNS` gives the time the kernel
received each packet, so the RTT does not include our own scheduling delays.

One thread per interface reads, parses (`nxthdr.saimiris.reply`), keeps the
replies to our own source addresses, encodes them and hands them to the
asyncio loop in batches.
"""

from __future__ import annotations

import ctypes
import logging
import socket
import struct
import threading
import time
from typing import Callable

from nxthdr.core import logs
from nxthdr.core.metrics import Metrics
from nxthdr.saimiris.agent.instances import InstanceTable
from nxthdr.saimiris.reply import ReplyError, encode_reply, integrity_failure, parse_reply

log = logging.getLogger("nxthdr.saimiris.agent.capture")

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23
PACKET_STATISTICS = 6
_TPACKET_STATS = struct.Struct("@II")  # tp_packets, tp_drops (reset by each read)
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
_TIMESPEC = struct.Struct("@qq")

# Classic BPF (linux/filter.h).
_LD_W_ABS, _LD_B_ABS, _LD_B_IND, _LDX_B_MSH = 0x20, 0x30, 0x50, 0xB1
_JEQ_K, _JGE_K, _RET_K, _ALU_AND_K = 0x15, 0x35, 0x06, 0x54
_SKF_AD_OFF = 0xFFFFF000
_SKF_AD_PROTOCOL, _SKF_AD_PKTTYPE = 0, 4
_PACKET_OUTGOING = 4


def _assemble(program: list[tuple]) -> list[tuple[int, int, int, int]]:
    """(label,) marks a position; (code, k) or (code, k, jt_label, jf_label) are instructions."""
    labels, pos = {}, 0
    for ins in program:
        if len(ins) == 1:
            labels[ins[0]] = pos
        else:
            pos += 1
    out, pc = [], 0
    for ins in program:
        if len(ins) == 1:
            continue
        code, k, *jumps = ins
        jt = jf = 0
        if jumps:
            jt = 0 if jumps[0] is None else labels[jumps[0]] - pc - 1
            jf = 0 if jumps[1] is None else labels[jumps[1]] - pc - 1
        out.append((code, jt, jf, k & 0xFFFFFFFF))
        pc += 1
    return out


REPLY_FILTER = _assemble([
    (_LD_W_ABS, _SKF_AD_OFF + _SKF_AD_PKTTYPE),
    (_JEQ_K, _PACKET_OUTGOING, "drop", None),
    (_LD_W_ABS, _SKF_AD_OFF + _SKF_AD_PROTOCOL),
    (_JEQ_K, 0x0800, None, "v6"),
    (_LD_B_ABS, 9),                       # IPv4 protocol
    (_JEQ_K, 1, None, "drop"),
    (_LD_B_ABS, 0),                       # version and header length
    (_ALU_AND_K, 0x0F),
    (_JGE_K, 5, None, "accept"),          # header length below 20: the parser counts it as malformed
    (_LDX_B_MSH, 0),                      # X = IPv4 header length
    (_LD_B_IND, 0),                       # ICMP type
    (_JEQ_K, 0, "accept", None),          # echo reply
    (_JEQ_K, 3, "accept", None),          # destination unreachable
    (_JEQ_K, 11, "accept", "drop"),       # time exceeded
    ("v6",),
    (_JEQ_K, 0x86DD, None, "drop"),
    (_LD_B_ABS, 6),                       # IPv6 next header
    (_JEQ_K, 58, None, "ext"),
    (_LD_B_ABS, 40),                      # ICMPv6 type
    (_JEQ_K, 1, "accept", None),          # destination unreachable
    (_JEQ_K, 3, "accept", None),          # time exceeded
    (_JEQ_K, 129, "accept", "drop"),      # echo reply
    ("ext",),
    (_JEQ_K, 0, "accept", None),          # hop-by-hop, routing, destination options: the parser skips them
    (_JEQ_K, 43, "accept", None),
    (_JEQ_K, 44, "accept", None),         # fragment: the parser keeps first fragments, counts the others
    (_JEQ_K, 60, "accept", "drop"),
    ("accept",),
    (_RET_K, 0x40000),
    ("drop",),
    (_RET_K, 0),
])


def attach_filter(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
    raw = b"".join(struct.pack("HBBI", *ins) for ins in program)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = struct.pack("HL", len(program), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def open_capture(interface: str, rcvbuf: int = 8 << 20) -> socket.socket:
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    except PermissionError:
        raise PermissionError("packet capture needs CAP_NET_RAW (run as root or grant the capability)") from None
    try:
        attach_filter(sock, REPLY_FILTER)
        try:
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        except OSError:  # before Linux 4.20 the filter alone drops our own packets
            pass
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((interface, ETH_P_ALL))
        sock.settimeout(0.2)  # the thread looks at its stop flag this often when idle
    except OSError as e:
        sock.close()
        raise OSError(f"cannot capture on {interface!r}: {e.strerror or e}") from None
    return sock


class CaptureCounters:
    def __init__(self, metrics: Metrics) -> None:
        # One capture thread per interface, each the only writer of its label set (no lock on the hot path).
        self.received = metrics.fast_counter("receiver_received_total", "ICMP packets captured", ("interface",))
        self.invalid = metrics.fast_counter("receiver_received_invalid_total",
                                            "Captured packets that are not replies to our probes (other ICMP, "
                                            "another source address, failed integrity check)", ("interface",))
        self.error = metrics.fast_counter("receiver_received_error_total", "Captured packets that are malformed",
                                          ("interface",))
        self.replies = metrics.fast_counter("receiver_replies_total", "Replies produced, by interface and instance",
                                            ("interface", "instance"))
        self.rejected = metrics.fast_counter(
            "receiver_rejected_total", "Replies to our addresses that do not prove they answer one of our probes, "
            "by reason (also counted as invalid)", ("interface", "reason"))
        self.length_mismatch = metrics.fast_counter(
            "receiver_length_mismatch_total", "Captured packets shorter than their IP header claims "
            "(replySize records what arrived)", ("interface",))
        self.kernel_drops = metrics.fast_counter(
            "receiver_kernel_drops_total", "Packets the kernel dropped because the capture socket's buffer was "
            "full (PACKET_STATISTICS)", ("interface",))


# Unmatched replies tolerated per reply source and second before that source's packets are dropped unparsed
# for the rest of the second: a forger cannot make us parse (and log) at line rate.
UNMATCHED_PER_SOURCE = 100
_SOURCE_TABLE_MAX = 4096


class Capture:
    """Capture on one interface; `deliver(list of encoded Reply messages)` is called in the thread."""

    def __init__(self, interface: str, table: InstanceTable, agent_id: str, counters: CaptureCounters,
                 deliver: Callable[[list[bytes]], None], *, flush_interval: float = 0.05,
                 flush_count: int = 512, windows: dict | None = None,
                 unmatched_per_source: int = UNMATCHED_PER_SOURCE) -> None:
        """windows: instance name -> SendWindow (when it sent); without one an instance's timestamps are
        not checked (tests of the parser path only)."""
        self.interface = interface
        self.name = f"capture-{interface}"
        self.table = table
        self.agent_id = agent_id
        self.counters = counters
        self.deliver = deliver
        self.flush_interval = flush_interval
        self.flush_count = flush_count
        self.sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._errors = logs.RateLimited(log)
        self.last_error = ""
        self._label = (interface,)
        self.windows = windows or {}
        self.unmatched_per_source = unmatched_per_source
        self._unmatched: dict[bytes, list[int]] = {}  # reply source -> [second, unmatched count]

    def open(self) -> None:
        if self.sock is None:
            self.sock = open_capture(self.interface)

    async def start(self) -> None:
        self.open()
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    async def stop(self) -> None:
        if self._thread is not None:
            import asyncio

            self._stopping = True
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 5)
            self._thread = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def handle(self, packet: bytes, ts_ns: int) -> bytes | None:
        """One captured packet to an encoded Reply (or None), counting what happened."""
        counters = self.counters
        iface = self._label
        counters.received.inc(iface)
        source = bytes(packet[12:16] if packet[:1] and packet[0] >> 4 == 4 else packet[8:24])
        second = ts_ns // 1_000_000_000
        seen = self._unmatched.get(source)
        if seen is not None and seen[0] == second and seen[1] >= self.unmatched_per_source:
            counters.invalid.inc(iface)
            counters.rejected.inc((self.interface, "source_rate"))
            return None
        now_01ms = ts_ns // 100_000
        try:
            reply = parse_reply(packet, now_01ms=now_01ms, time_received_ns=ts_ns, agent_id=self.agent_id)
        except ReplyError as e:
            counters.error.inc(iface)
            self._errors.event("parse", logging.DEBUG, "malformed reply", interface=self.interface, error=str(e))
            return None
        if reply is None:
            counters.invalid.inc(iface)
            return None
        if reply.reply_size < reply.claimed_size:
            counters.length_mismatch.inc(iface)
        inst = self.table.owner(reply.probe_src_addr)
        if inst is None:
            counters.invalid.inc(iface)
            return None
        if inst.integrity_check:
            reason = integrity_failure(reply, inst.instance_id)
            window = self.windows.get(inst.name)
            if reason is None and window is not None and not window.sent_at(now_01ms, reply.rtt):
                reason = "timestamp"
            if reason is not None:
                counters.invalid.inc(iface)
                counters.rejected.inc((self.interface, reason))
                self._count_unmatched(source, second)
                return None
        counters.replies.inc((self.interface, inst.name))
        return encode_reply(reply)

    def _count_unmatched(self, source: bytes, second: int) -> None:
        table = self._unmatched
        seen = table.get(source)
        if seen is None or seen[0] != second:
            if len(table) >= _SOURCE_TABLE_MAX:  # a spoofed-source flood: forget, stay bounded
                table.clear()
            table[source] = [second, 1]
        else:
            seen[1] += 1

    def _read_drops(self) -> None:
        drops = self.kernel_drops()
        if drops:
            self.counters.kernel_drops.inc(self._label, drops)

    def kernel_drops(self) -> int:
        """Drops since the last call (PACKET_STATISTICS resets the kernel's counters on each read)."""
        sock = self.sock
        if sock is None:
            return 0
        try:
            raw = sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _TPACKET_STATS.size)
        except OSError:
            return 0
        return _TPACKET_STATS.unpack(raw[:_TPACKET_STATS.size])[1]

    def _run(self) -> None:
        sock = self.sock
        pending: list[bytes] = []
        last_flush = last_stats = time.monotonic()
        cmsg_space = socket.CMSG_SPACE(_TIMESPEC.size)
        recvmsg, handle = sock.recvmsg, self.handle
        while not self._stopping:
            try:
                data, anc, _flags, _addr = recvmsg(65535, cmsg_space)
            except (socket.timeout, BlockingIOError, InterruptedError):
                data = None
            except OSError as e:
                self.last_error = str(e)
                self._errors.event("recv", logging.ERROR, "capture failed", interface=self.interface, error=str(e))
                time.sleep(0.1)
                data = None
            if data is not None:
                ts_ns = 0
                for level, kind, value in anc:
                    if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(value) >= _TIMESPEC.size:
                        sec, nsec = _TIMESPEC.unpack_from(value)
                        ts_ns = sec * 1_000_000_000 + nsec
                if not ts_ns:
                    ts_ns = time.time_ns()
                try:
                    encoded = handle(data, ts_ns)
                except Exception as e:  # the parser raises ReplyError only; anything else is a bug, counted
                    self.counters.error.inc(self._label)
                    self._errors.event("bug", logging.ERROR, "reply handling failed", error=repr(e))
                    encoded = None
                if encoded is not None:
                    pending.append(encoded)
            now = time.monotonic()
            if pending and (len(pending) >= self.flush_count or now - last_flush >= self.flush_interval):
                self.deliver(pending)
                pending = []
                last_flush = now
            elif not pending:
                last_flush = now
            if now - last_stats >= 1.0:
                last_stats = now
                self._read_drops()
        self._read_drops()
        if pending:
            self.deliver(pending)
