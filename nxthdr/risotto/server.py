"""The asyncio shell around the BMP decoder and the processor.

One task per BMP session reads the socket, feeds the session's decoder and hands
events to the processor. Errors stay inside their session: a malformed message
is counted and skipped, broken framing or an over-full buffer closes that session
only, and an unexpected exception is logged and closes that session only.
"""

from __future__ import annotations

import asyncio
import ctypes
import ipaddress
import logging
import socket
import time

from nxthdr.bmp.decoder import BmpDecoder
from nxthdr.bmp.events import NEED_DATA, BmpError, BufferLimitError, FramingError, TruncatedMessageError
from nxthdr.core import addr, logs
from nxthdr.core.config import parse_address
from nxthdr.core.metrics import Metrics
from nxthdr.risotto import state_file
from nxthdr.risotto.processor import Processor

log = logging.getLogger("nxthdr.risotto")

READ_SIZE = 256 * 1024


def _malloc_tuning() -> None:
    """Return the memory of large buffers to the system when they are freed.

    glibc raises its mmap threshold each time a large block is freed, after which
    1 MiB message buffers come from the heap and stay there once sessions close.
    A fixed threshold keeps them mmapped (freed pages go back at once).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD; fixing it disables the dynamic raise
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


def _trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def load_allow(path: str | None, items: list[str]) -> list | None:
    """Networks allowed to connect (pmacct's bmp_daemon_allow_file: one address or prefix
    per line, `#` or `!` comments, blank lines ignored) plus the `allow` list; None: everyone."""
    nets = []
    sources: list[tuple[str, str]] = [("bmp.allow", x) for x in items]
    if path:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                text = line.split("#", 1)[0].split("!", 1)[0].strip()
                if text:
                    sources.append((f"{path}:{n}", text))
    for where, text in sources:
        try:
            nets.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{where}: {text!r} is not an address or prefix") from None
    return nets if (path or items) else None


class _Conn:
    __slots__ = ("decoder", "writer", "held", "partial_since", "timer", "kill_reason", "label")

    def __init__(self, decoder: BmpDecoder, writer: asyncio.StreamWriter, label: str) -> None:
        self.decoder = decoder
        self.writer = writer
        self.label = label
        self.held = 0  # bytes of an unfinished message held by the decoder
        self.partial_since: float | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.kill_reason: str | None = None


class BmpServer:
    """BMP listener with bounds on what sessions may hold.

    - `max_sessions` sessions at most; more connections are refused (counted, logged);
    - `allow`: only these networks may connect (others refused, counted, logged);
    - `message_timeout`: once the first byte of a message is in, the whole message
      must arrive within it, else the session is closed; between messages a session
      may stay silent for as long as it likes;
    - `max_buffered`: budget of unfinished-message bytes across all sessions; when a
      session takes the total over it, the session holding the most is closed.
    """

    name = "bmp-listener"

    def __init__(self, processor: Processor, address: str, *, max_message_size: int = 1 << 20,
                 max_session_buffer: int = 16 << 20, max_sessions: int = 100, message_timeout: float = 60.0,
                 max_buffered: int = 64 << 20, allow_file: str | None = None, allow: list[str] | None = None,
                 metrics: Metrics | None = None) -> None:
        self.processor = processor
        self.host, self.port = parse_address(address)
        self.max_message_size = max_message_size
        self.max_session_buffer = max_session_buffer
        self.max_sessions = max_sessions
        self.message_timeout = message_timeout
        self.max_buffered = max(max_buffered, max_message_size)
        self.allow_file = allow_file
        self.allow_items = list(allow or [])
        self.allow: list | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._conns: set[_Conn] = set()
        self.buffered = 0
        self._stopping = False
        self.bound_port: int | None = None
        self._log = logs.RateLimited(log)
        m = metrics or Metrics("risotto")
        self.m_rejected = m.fast_counter("bmp_sessions_rejected_total",
                                         "BMP connections refused, by reason (max_sessions, not_allowed)", ("reason",))
        self.m_dropped = m.fast_counter("bmp_sessions_dropped_total",
                                        "BMP sessions closed by a bound, by reason (message_timeout, buffer_budget)",
                                        ("reason",))
        m.callback_gauge("bmp_buffered_bytes", "Bytes of unfinished BMP messages held across sessions", (),
                         lambda: [((), float(self.buffered))])

    async def start(self) -> None:
        if self._server is not None:
            return
        self.allow = load_allow(self.allow_file, self.allow_items)
        _malloc_tuning()
        host = self.host
        kwargs = {}
        if host in ("::", "[::]", ""):
            # Dual stack: one IPv6 socket that also accepts IPv4 (as ::ffff:a.b.c.d).
            sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(("::", self.port))
            kwargs["sock"] = sock
        else:
            kwargs.update(host=host, port=self.port, reuse_address=True)
        self._server = await asyncio.start_server(self._on_connection, limit=READ_SIZE, **kwargs)
        self.bound_port = self._server.sockets[0].getsockname()[1]
        logs.event(log, logging.INFO, "BMP listener started", address=f"{self.host}:{self.bound_port}",
                   max_sessions=self.max_sessions, allowed=len(self.allow) if self.allow is not None else "any")

    async def stop(self) -> None:
        if self._server is None:
            return
        self._stopping = True
        self._server.close()
        for w in list(self._writers):
            w.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=10)
        await self._server.wait_closed()
        self._server = None

    def _allowed(self, host: str) -> bool:
        if self.allow is None:
            return True
        ip = ipaddress.ip_address(host.split("%", 1)[0])
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.allow)

    def _reject(self, writer: asyncio.StreamWriter, reason: str, peer) -> None:
        self.m_rejected.inc((reason,))
        self._log.event(("reject", reason), logging.WARNING, "BMP connection refused", reason=reason,
                        source=f"{peer[0]}:{peer[1]}" if peer else "?", sessions=len(self._tasks))
        writer.transport.abort()

    def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if not peer or not self._allowed(peer[0]):
            self._reject(writer, "not_allowed", peer)
            return
        if len(self._tasks) >= self.max_sessions:
            self._reject(writer, "max_sessions", peer)
            return
        task = asyncio.create_task(self._session(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _kill(self, c: _Conn, reason: str) -> None:
        if c.kill_reason is None:
            c.kill_reason = reason
            self.m_dropped.inc((reason,))
            c.writer.transport.abort()

    def _account(self, c: _Conn, now: float, completed: bool) -> None:
        """After a chunk is decoded: track what the session holds of an unfinished message."""
        held = c.decoder.buffered
        self.buffered += held - c.held
        progressed = completed or c.partial_since is None
        c.held = held
        if not held:
            c.partial_since = None
            if c.timer is not None:
                c.timer.cancel()
                c.timer = None
        elif progressed:
            # A new unfinished message (the previous one completed, or the first one).
            c.partial_since = now
            if c.timer is not None:
                c.timer.cancel()
            c.timer = asyncio.get_running_loop().call_later(self.message_timeout, self._timed_out, c)
        if self.buffered > self.max_buffered:
            worst = max(self._conns, key=lambda x: (x.held, -(x.partial_since or 0)))
            self._log.event(("budget",), logging.WARNING, "BMP buffer budget exceeded: closing the largest session",
                            router=worst.label, held=worst.held, total=self.buffered, budget=self.max_buffered)
            self._kill(worst, "buffer_budget")

    def _timed_out(self, c: _Conn) -> None:
        c.timer = None
        if c.held:
            self._log.event(("timeout",), logging.WARNING, "BMP message not completed in time: closing the session",
                            router=c.label, held=c.held, timeout=self.message_timeout)
            self._kill(c, "message_timeout")

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        self._writers.add(writer)
        router16 = addr.from_sockaddr(peer[0])
        p = self.processor
        s = p.open_session(router16, peer[1])
        logs.event(log, logging.INFO, "BMP session opened", router=s.label, port=s.port)
        decoder = BmpDecoder(max_message_size=self.max_message_size, max_buffer=self.max_session_buffer)
        c = _Conn(decoder, writer, s.label)
        self._conns.add(c)
        handle = p.handle
        reason = "closed by router"
        try:
            while True:
                data = await reader.read(READ_SIZE)
                if c.kill_reason is not None:
                    break
                now = time.time_ns()
                try:
                    decoder.receive_data(data)  # b"" at the end of the stream
                    completed = False
                    while True:
                        event = decoder.next_event()
                        if event is NEED_DATA:
                            break
                        completed = True
                        handle(s, event, now)
                except TruncatedMessageError as e:
                    p.decode_error(s, "truncated", str(e), buffered=e.buffered, expected=e.expected)
                    reason = "ended inside a message"
                    break
                except BufferLimitError as e:
                    p.decode_error(s, "buffer_limit", str(e))
                    reason = "session buffer limit"
                    break
                except FramingError as e:
                    p.decode_error(s, "framing", str(e))
                    reason = "broken framing"
                    break
                except BmpError as e:
                    p.decode_error(s, "protocol", str(e))
                    reason = "protocol error"
                    break
                if not data:
                    break
                self._account(c, time.monotonic(), completed)
        except (ConnectionError, OSError) as e:
            reason = f"connection error: {e}"
        except asyncio.CancelledError:
            reason = "collector stopping"
            raise
        except Exception as e:  # never let one session take the collector down
            log.exception("unexpected error in BMP session %s", s.label)
            p.decode_error(s, "internal", repr(e))
            reason = "internal error"
        finally:
            if c.kill_reason is not None:
                reason = c.kill_reason.replace("_", " ")
            if c.timer is not None:
                c.timer.cancel()
            self.buffered -= c.held
            big = c.held >= 1 << 20
            c.held = 0
            c.decoder = None  # type: ignore[assignment]
            self._conns.discard(c)
            lost = not self._stopping
            p.close_session(s, lost=lost)
            self._writers.discard(writer)
            writer.close()
            logs.event(log, logging.INFO, "BMP session closed", router=s.label, port=s.port, reason=reason,
                       state_kept=not lost)
            if big:
                _trim()


class StateKeeper:
    """Loads the curation state at start, dumps it every interval and at stop."""

    name = "curation-state"

    def __init__(self, processor: Processor, path: str, interval: float, metrics: Metrics) -> None:
        self.processor = processor
        self.path = path
        self.interval = interval
        self._task: asyncio.Task | None = None
        self.undelivered = 0  # rows left out of the last dump: emitted, not delivered yet
        self.m_dumps = metrics.counter("state_dump_total", "Curation state dumps written")
        self.m_failures = metrics.counter("state_dump_failures_total", "Curation state dumps that failed")
        self.m_duration = metrics.histogram("state_dump_duration_seconds", "Time to write the curation state",
                                            (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

    async def start(self) -> None:
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()
        rib = await loop.run_in_executor(None, state_file.load, self.path, self.processor.clock())
        self.processor.rib = rib
        self._task = asyncio.create_task(self._loop(), name="state-dump")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.dump()

    async def dump(self) -> None:
        rib = self.processor.rib
        if rib is None:
            return
        start = time.monotonic()
        # On the loop: a consistent copy, as of the rows every sink has delivered.
        snap, self.undelivered = self.processor.state_snapshot()
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._write, snap)
        except Exception as e:
            self.m_failures.inc()
            logs.event(log, logging.ERROR, "curation state dump failed", path=self.path, error=str(e))
            return
        self.m_dumps.inc()
        self.m_duration.observe(time.monotonic() - start)

    def _write(self, snap) -> None:
        state_file.write_atomic(self.path, state_file.serialise(snap))

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        await self.dump()
        if self.undelivered:
            logs.event(log, logging.WARNING, "rows not delivered are left out of the saved state; they are "
                       "forwarded again when the routers re-send their tables", path=self.path,
                       rows=self.undelivered)
        logs.event(log, logging.INFO, "curation state saved", path=self.path, undelivered_rows=self.undelivered)


class Sweeper:
    """Runs the processor's stale sweep periodically."""

    name = "stale-sweeper"

    def __init__(self, processor: Processor, period: float) -> None:
        self.processor = processor
        self.period = period
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        if self._task is None and self.processor.rib is not None:
            self._task = asyncio.create_task(self._loop(), name="stale-sweeper")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                self.processor.sweep()
            except Exception:
                log.exception("stale sweep failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
