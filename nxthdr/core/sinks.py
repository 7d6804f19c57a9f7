"""Where collectors put their framed Cap'n Proto messages.

Every sink has the same shape: `emit(message, key)` is synchronous and cheap
(called per prefix / per sample), `start()` and `stop()` (stop flushes), and
`delivered()`: how many of the messages emitted so far, counted from the first,
are settled (acknowledged by the broker, or written and fsynced). It only
grows, and a message counts only once every message before it is settled, so
the curation state can be saved as of exactly what reached the sinks. The
Kafka sink lives in nxthdr.core.kafka; the file sink appends the very bytes a
Kafka record would carry, so a file can be replayed or inspected with any Cap'n
Proto reader (`capnp decode schemas/update.capnp Update < file`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Protocol

from nxthdr.core import logs

log = logging.getLogger("nxthdr.sinks")


class Sink(Protocol):
    name: str

    def emit(self, message: bytes, key: bytes = b"") -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def delivered(self) -> int: ...


class FileSink:
    """Appends framed messages to a file; written and fsynced every `flush_interval` seconds and on stop.

    A message counts as delivered once it is written and fsynced (`delivered()`).
    """

    def __init__(self, path: str | os.PathLike, flush_interval: float = 1.0, buffer_bytes: int = 1 << 20) -> None:
        self.name = "file"
        self.path = os.fspath(path)
        self.flush_interval = flush_interval
        self.buffer_bytes = buffer_bytes
        self._parts: list[bytes] = []
        self._size = 0
        self._file = None
        self._task: asyncio.Task | None = None
        self.written_messages = 0  # emitted so far
        self._flushed = 0  # handed to the kernel
        self._synced = 0  # on disk (fsync returned)

    def emit(self, message: bytes, key: bytes = b"") -> None:
        self._parts.append(message)
        self._size += len(message)
        self.written_messages += 1
        if self._size >= self.buffer_bytes:
            self.flush()

    def flush(self) -> None:
        if self._parts and self._file is not None:
            self._file.write(b"".join(self._parts))
            self._file.flush()
            self._parts.clear()
            self._size = 0
            self._flushed = self.written_messages

    def delivered(self) -> int:
        return self._synced

    async def sync(self) -> None:
        """Write what is buffered and fsync it (in a worker thread); then it counts as delivered."""
        if self._file is None:
            return
        self.flush()
        n = self._flushed
        if n > self._synced:
            await asyncio.get_running_loop().run_in_executor(None, os.fsync, self._file.fileno())
            self._synced = max(self._synced, n)

    async def start(self) -> None:
        if self._file is None:
            parent = os.path.dirname(self.path)
            if parent:
                os.makedirs(parent, exist_ok=True)
            self._file = open(self.path, "ab")
            logs.event(log, logging.INFO, "writing messages to file", path=self.path)
        if self._task is None:
            self._task = asyncio.create_task(self._flusher(), name="file-sink-flusher")

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.sync()
            except OSError as e:  # disk full, I/O error: nothing more counts as delivered; retried
                logs.event(log, logging.ERROR, "cannot write the output file", path=self.path, error=str(e))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._file is not None:
            self.flush()
            os.fsync(self._file.fileno())
            self._synced = self._flushed
            self._file.close()
            self._file = None


class FanOut:
    """Sends each message to several sinks (e.g. Kafka and a file)."""

    def __init__(self, sinks: list[Sink]) -> None:
        self.name = "+".join(s.name for s in sinks) or "none"
        self.sinks = sinks
        self._emits = [s.emit for s in sinks]

    def emit(self, message: bytes, key: bytes = b"") -> None:
        for e in self._emits:
            e(message, key)

    async def start(self) -> None:
        for s in self.sinks:
            await s.start()

    async def stop(self) -> None:
        for s in self.sinks:
            await s.stop()

    def delivered(self) -> int | None:
        """Messages settled in every sink; None when there is no sink (nothing to wait for)."""
        return min((s.delivered() for s in self.sinks), default=None)


class CollectingSink:
    """Keeps messages in memory (benchmarks, tests, the replay of a capture)."""

    def __init__(self) -> None:
        self.name = "memory"
        self.messages: list[bytes] = []
        self.keys: list[bytes] = []

    def emit(self, message: bytes, key: bytes = b"") -> None:
        self.messages.append(message)
        self.keys.append(key)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def delivered(self) -> int:
        return len(self.messages)
