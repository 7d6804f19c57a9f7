"""A TCP server that accepts BMP sessions and keeps the raw bytes of each one.

It understands only the 6-byte BMP common header (RFC 7854 §4.1) and, for
assertions, peeks at two bytes of the per-peer header; decoding is someone
else's job. Used to assert that routers really stream and to record fixtures.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from .wait import wait_until

# BMP message types (RFC 7854 §4.1, RFC 8671 adds nothing new here).
ROUTE_MONITORING = 0
STATS_REPORT = 1
PEER_DOWN = 2
PEER_UP = 3
INITIATION = 4
TERMINATION = 5
ROUTE_MIRRORING = 6

TYPE_NAMES = {
    ROUTE_MONITORING: "route_monitoring",
    STATS_REPORT: "stats_report",
    PEER_DOWN: "peer_down",
    PEER_UP: "peer_up",
    INITIATION: "initiation",
    TERMINATION: "termination",
    ROUTE_MIRRORING: "route_mirroring",
}

# Message types that carry the 42-byte per-peer header right after the common header.
_PER_PEER = {ROUTE_MONITORING, STATS_REPORT, PEER_DOWN, PEER_UP, ROUTE_MIRRORING}
PEER_FLAG_V = 0x80  # peer address is IPv6
PEER_FLAG_L = 0x40  # post-policy Adj-RIB-In
PEER_FLAG_A = 0x20  # legacy 2-byte AS path
PEER_FLAG_O = 0x10  # Adj-RIB-Out (RFC 8671)
PEER_TYPE_LOC_RIB = 3  # RFC 9069


@dataclass(frozen=True)
class BmpHeader:
    """One message as located by its common header.

    The `peer_*` fields come from the per-peer header and are None for message
    types without one; they let tests tell pre/post-policy, Loc-RIB and FRR's
    all-zero peer apart without a decoder.
    """

    offset: int
    version: int
    length: int
    type: int
    peer_type: int | None = None
    peer_flags: int | None = None
    peer_address: str | None = None
    peer_asn: int | None = None

    @property
    def loc_rib(self) -> bool:
        return self.peer_type == PEER_TYPE_LOC_RIB

    @property
    def post_policy(self) -> bool:
        return self.peer_flags is not None and bool(self.peer_flags & PEER_FLAG_L)


def split_messages(data: bytes) -> list[BmpHeader]:
    """Locate the complete messages in `data`; a truncated tail is ignored, garbage raises ValueError."""
    out: list[BmpHeader] = []
    offset = 0
    while offset + 6 <= len(data):
        version, length, mtype = struct.unpack_from("!BIB", data, offset)
        if version != 3 or length < 6:
            raise ValueError(f"not BMP v3 at offset {offset}: version {version}, length {length}")
        if offset + length > len(data):
            break
        header = BmpHeader(offset, version, length, mtype)
        if mtype in _PER_PEER and length >= 6 + 42:
            # Per-peer header: type, flags, distinguisher(8), address(16), AS(4), BGP ID(4), time(8).
            ptype, flags = data[offset + 6], data[offset + 7]
            raw = data[offset + 16 : offset + 32]
            addr = ipaddress.IPv6Address(raw) if flags & PEER_FLAG_V else ipaddress.IPv4Address(raw[12:])
            (asn,) = struct.unpack_from("!I", data, offset + 32)
            header = BmpHeader(offset, version, length, mtype, ptype, flags, str(addr), asn)
        out.append(header)
        offset += length
    return out


@dataclass
class BmpSession:
    """One accepted TCP connection: who connected and everything it sent."""

    peer: tuple[str, int]
    data: bytearray = field(default_factory=bytearray)
    closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> bytes:
        with self._lock:
            return bytes(self.data)

    def messages(self) -> list[BmpHeader]:
        return split_messages(self.snapshot())

    def count(self, mtype: int, post_policy: bool | None = None) -> int:
        return sum(
            1
            for m in self.messages()
            if m.type == mtype and (post_policy is None or m.post_policy == post_policy)
        )


class BmpRecorder:
    """Listen on (host, port); port 0 picks a free one, read back from `.port`.

    Usable as a context manager; `stop()` closes the listener and every session.
    """

    def __init__(self, host: str, port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(16)
        # A blocked accept() is not woken by close() on Linux; poll so stop() is prompt.
        self._listener.settimeout(0.2)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self.sessions: list[BmpSession] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept_thread = threading.Thread(target=self._accept_loop, name=f"bmp-accept-{self.port}", daemon=True)
        self._accept_thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, addr = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return  # listener closed by stop()
            conn.settimeout(None)
            session = BmpSession(peer=(addr[0], addr[1]))
            with self._lock:
                self.sessions.append(session)
                self._conns.append(conn)
            t = threading.Thread(target=self._read_loop, args=(conn, session), daemon=True)
            self._threads.append(t)
            t.start()

    @staticmethod
    def _read_loop(conn: socket.socket, session: BmpSession) -> None:
        try:
            while True:
                chunk = conn.recv(1 << 16)
                if not chunk:
                    break
                with session._lock:
                    session.data += chunk
        except OSError:
            pass
        finally:
            session.closed = True

    def session_from(self, address: str) -> BmpSession | None:
        """The latest session whose source address is `address` (routers reconnect after a reset)."""
        with self._lock:
            found = [s for s in self.sessions if s.peer[0] == address]
        return found[-1] if found else None

    def wait_session(self, address: str, timeout: float = 30.0) -> BmpSession:
        return wait_until(lambda: self.session_from(address), timeout, f"a BMP session from {address} on port {self.port}")

    def wait_count(
        self, session: BmpSession, mtype: int, at_least: int = 1, timeout: float = 30.0, post_policy: bool | None = None
    ) -> int:
        what = f"{at_least} {TYPE_NAMES[mtype]} message(s) (post_policy={post_policy}) from {session.peer[0]}"
        return wait_until(lambda: (n := session.count(mtype, post_policy)) >= at_least and n, timeout, what)

    def wait_quiet(self, session: BmpSession, quiet: float = 1.0, timeout: float = 60.0) -> int:
        """Wait until `session` received nothing new for `quiet` seconds; returns its size."""
        last = [len(session.snapshot()), time.monotonic()]

        def settled() -> bool:
            size = len(session.snapshot())
            now = time.monotonic()
            if size != last[0]:
                last[0], last[1] = size, now
                return False
            return now - last[1] >= quiet

        wait_until(settled, timeout, f"the BMP stream from {session.peer[0]} to settle", interval=0.05)
        return last[0]

    def stop(self) -> None:
        self._stopping.set()
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        for t in self._threads:
            t.join(timeout=2)
        self._accept_thread.join(timeout=2)

    def __enter__(self) -> "BmpRecorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
