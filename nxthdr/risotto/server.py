"""The asyncio shell around the BMP decoder and the processor.

One task per BMP session reads the socket, feeds the session's decoder and hands
events to the processor. Errors stay inside their session: a malformed message
is counted and skipped, broken framing or an over-full buffer closes that session
only, and an unexpected exception is logged and closes that session only.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

from nxthdr.bmp.decoder import BmpDecoder
from nxthdr.bmp.events import NEED_DATA, BmpError, BufferLimitError, FramingError
from nxthdr.core import addr, logs
from nxthdr.core.config import parse_address
from nxthdr.core.metrics import Metrics
from nxthdr.risotto import state_file
from nxthdr.risotto.processor import Processor

log = logging.getLogger("nxthdr.risotto")

READ_SIZE = 256 * 1024


class BmpServer:
    name = "bmp-listener"

    def __init__(self, processor: Processor, address: str, *, max_message_size: int = 1 << 20,
                 max_session_buffer: int = 16 << 20) -> None:
        self.processor = processor
        self.host, self.port = parse_address(address)
        self.max_message_size = max_message_size
        self.max_session_buffer = max_session_buffer
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._stopping = False
        self.bound_port: int | None = None

    async def start(self) -> None:
        if self._server is not None:
            return
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
        logs.event(log, logging.INFO, "BMP listener started", address=f"{self.host}:{self.bound_port}")

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

    def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._session(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        self._writers.add(writer)
        router16 = addr.from_sockaddr(peer[0])
        p = self.processor
        s = p.open_session(router16, peer[1])
        logs.event(log, logging.INFO, "BMP session opened", router=s.label, port=s.port)
        decoder = BmpDecoder(max_message_size=self.max_message_size, max_buffer=self.max_session_buffer)
        handle = p.handle
        reason = "closed by router"
        try:
            while True:
                data = await reader.read(READ_SIZE)
                if not data:
                    break
                now = time.time_ns()
                try:
                    decoder.receive_data(data)
                    while True:
                        event = decoder.next_event()
                        if event is NEED_DATA:
                            break
                        handle(s, event, now)
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
            lost = not self._stopping
            p.close_session(s, lost=lost)
            self._writers.discard(writer)
            writer.close()
            logs.event(log, logging.INFO, "BMP session closed", router=s.label, port=s.port, reason=reason,
                       state_kept=not lost)


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
