"""The embedded store as a collector sink: framed messages in, rows in batches into chdb.

`emit` (on the collector's decode path) appends the message to a bounded
buffer and nothing else. A flusher task takes the buffer when it holds
`batch_rows` messages or `flush_interval` seconds after the last insert,
converts it to RowBinary and inserts it in a worker thread, so neither the
conversion nor the engine blocks the event loop for a whole batch. When the
buffer is full (the engine is behind, e.g. a long query holds it), new
messages are dropped and counted. `stop` inserts what is buffered.

`flush` returns once everything emitted before the call is inserted, also a
batch the flusher task had already taken (flushes run one at a time), and
`failed_batches` counts inserts the engine refused: a Kafka consumer compares
it around its flush to decide whether it may commit its offsets.
"""

from __future__ import annotations

import asyncio
import logging
import time

from nxthdr.core import logs
from nxthdr.core.metrics import Metrics
from nxthdr.storage.store import Store, StoreError

log = logging.getLogger("nxthdr.storage")


class StoreSink:
    def __init__(self, store: Store, pipeline: str, metrics: Metrics, *, batch_rows: int = 50000,
                 flush_interval: float = 1.0, max_buffer: int = 1_000_000) -> None:
        self.name = f"store-{pipeline}"
        self.store = store
        self.pipeline = pipeline
        self.batch_rows = batch_rows
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self._pending: list[bytes] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._writing = 0  # messages taken by the flusher, not inserted yet
        # Delivery accounting for risotto's state file: messages are numbered in
        # emission order; `delivered()` is the number of the oldest one not yet
        # settled (inserted, or dropped and counted), so every message before it is.
        self._emitted = 0
        self._pending_seq: list[int] = []
        self._writing_first: int | None = None
        self._flushing: asyncio.Lock | None = None
        self.failed_batches = 0
        self._log = logs.RateLimited(log)
        lab = (pipeline,)
        self._lab = lab
        self.m_rows = metrics.fast_counter("storage_rows_total", "Rows inserted into the embedded store",
                                           ("database",))
        self.m_dropped = metrics.fast_counter("storage_dropped_messages_total",
                                              "Messages that did not reach the embedded store, by reason",
                                              ("database", "reason"))
        self.m_batches = metrics.fast_counter("storage_batches_total", "Insert batches, by outcome",
                                              ("database", "status"))
        self.m_seconds = metrics.fast_counter("storage_insert_seconds_total",
                                              "Time spent converting and inserting batches", ("database",))
        metrics.callback_gauge("storage_queue_depth", "Messages waiting for the embedded store", ("database",),
                               lambda: [(lab, len(self._pending) + self._writing)])
        self.m_dropped.values[(pipeline, "buffer_full")] += 0
        self.m_dropped.values[(pipeline, "conversion_error")] += 0
        self.m_dropped.values[(pipeline, "insert_error")] += 0

    def emit(self, message: bytes, key: bytes = b"") -> None:
        pending = self._pending
        seq = self._emitted
        self._emitted = seq + 1
        if len(pending) >= self.max_buffer:
            self.m_dropped.values[(self.pipeline, "buffer_full")] += 1
            return
        pending.append(message)
        self._pending_seq.append(seq)
        if len(pending) == self.batch_rows and self._wake is not None:
            self._wake.set()

    def delivered(self) -> int:
        """Messages, counted from the first, that the store has settled (a dropped one counts: it is lost)."""
        if self._writing_first is not None:
            return self._writing_first
        return self._pending_seq[0] if self._pending_seq else self._emitted

    @property
    def queue_depth(self) -> int:
        return len(self._pending) + self._writing

    async def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._flusher(), name=f"{self.name}-flusher")

    async def _flusher(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Insert everything buffered now (in batches of `batch_rows`), after any flush under way."""
        if self._flushing is None:
            self._flushing = asyncio.Lock()
        async with self._flushing:
            while self._pending:
                batch = self._pending[:self.batch_rows]
                del self._pending[:self.batch_rows]
                self._writing_first = self._pending_seq[0]
                del self._pending_seq[:len(batch)]
                self._writing = len(batch)
                try:
                    await asyncio.to_thread(self._write, batch)
                finally:
                    self._writing = 0
                    self._writing_first = None

    def _write(self, batch: list[bytes]) -> None:
        t0 = time.perf_counter()
        errors: list = []
        try:
            written = self.store.insert_messages(self.pipeline, batch, errors)
        except StoreError as e:
            self.m_dropped.values[(self.pipeline, "insert_error")] += len(batch) - len(errors)
            self.m_batches.values[(self.pipeline, "failure")] += 1
            self.failed_batches += 1
            self._log.event(("insert", self.pipeline), logging.ERROR, "insert into the embedded store failed",
                            database=self.pipeline, messages=len(batch), error=str(e)[:500])
            written = 0
        else:
            self.m_batches.values[(self.pipeline, "success")] += 1
        if errors:
            self.m_dropped.values[(self.pipeline, "conversion_error")] += len(errors)
            self._log.event(("convert", self.pipeline), logging.WARNING, "messages that are not rows were dropped",
                            database=self.pipeline, count=len(errors), error=str(errors[0]))
        self.m_rows.values[self._lab] += written
        self.m_seconds.values[self._lab] += time.perf_counter() - t0

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        # The flusher may have been cancelled while its thread still inserts: that batch
        # completes in the thread (inserts hold the store lock); what is left goes now.
        await self.flush()
