"""A pipeline's Kafka topic into the embedded store: what a ClickHouse Kafka table does on a server.

On a server, each database's `from_kafka` table reads its topic (risotto-updates,
pesto-sflow, saimiris-replies) in its consumer group and the view fills the
storage table. chdb cannot create Kafka tables (nor read CapnProto), so on the
appliance one consumer per pipeline does the reading: each record is split into
its Cap'n Proto messages (stream framing, several per record) and handed to the
pipeline's store sink, whose RowBinary rows go into the `Null` input table and
through the same view.

At least once, like the Kafka engine: offsets are committed only after the
messages of a poll were inserted. If an insert fails, nothing is committed: the
consumer goes back to the poll's first offsets and reads them again after a
pause, until the store takes them. A crash at any point loses nothing; at
worst the last poll is stored twice. A record that is not a Cap'n Proto stream
is counted and skipped (a message inside a stream that is not a row is counted
by the sink); the consumer goes on. A full sink buffer makes the consumer wait
for the store, never drop: Kafka would not hand those messages again.
"""

from __future__ import annotations

import asyncio
import logging

from nxthdr.core import logs
from nxthdr.core.kafka import KafkaSettings
from nxthdr.core.metrics import Metrics
from nxthdr.storage.rowbinary import ConversionError, split_stream
from nxthdr.storage.sink import StoreSink

log = logging.getLogger("nxthdr.appliance")


class TopicConsumer:
    def __init__(self, pipeline: str, settings: KafkaSettings, group: str, sink: StoreSink, metrics: Metrics, *,
                 max_records: int = 1000, poll_ms: int = 500, stop_timeout: float = 20.0) -> None:
        self.name = f"consumer-{pipeline}"
        self.pipeline = pipeline
        self.settings = settings
        self.group = group
        self.sink = sink
        self.max_records = max_records
        self.poll_ms = poll_ms
        self.stop_timeout = stop_timeout
        self._task: asyncio.Task | None = None
        self._stopping: asyncio.Event | None = None
        self._consumer = None
        self._connected = False
        self._error = ""
        self._next: dict = {}  # partition → next offset to read, as committed
        self._log = logs.RateLimited(log)
        lab = (pipeline,)
        self.m_records = metrics.fast_counter("consumer_records_total", "Kafka records read, by outcome",
                                              ("database", "status"))
        self.m_messages = metrics.fast_counter("consumer_messages_total", "Cap'n Proto messages handed to the store",
                                               ("database",))
        self.m_commits = metrics.fast_counter("consumer_commits_total", "Offset commits, by outcome",
                                              ("database", "status"))
        self.m_retries = metrics.fast_counter("consumer_retries_total", "Polls read again because the store "
                                              "refused their insert", ("database",))
        metrics.callback_gauge("consumer_lag", "Records between this consumer's last commit and the end of "
                               "its partitions (as of the last fetch)", ("database",),
                               lambda: [(lab, self.lag())])
        for status in ("success", "malformed"):
            self.m_records.values[(pipeline, status)] += 0
        for status in ("success", "failure"):
            self.m_commits.values[(pipeline, status)] += 0
        self.m_messages.values[lab] += 0
        self.m_retries.values[lab] += 0
        metrics.add_health(f"kafka-consumer:{settings.topic}", self._health)

    def _health(self) -> tuple[bool, str]:
        if self._connected:
            return True, f"consuming {self.settings.topic} into {self.pipeline}"
        return False, f"not connected to {self.settings.brokers}: {self._error or 'connecting'}"

    def lag(self) -> int:
        c = self._consumer
        if c is None:
            return 0
        total = 0
        for tp, nxt in list(self._next.items()):
            try:
                hw = c.highwater(tp)
            except Exception:  # no longer assigned
                continue
            if hw is not None:
                total += max(0, hw - nxt)
        return total

    async def start(self) -> None:
        if self._task is None:
            self._stopping = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def _connect(self):
        from aiokafka import AIOKafkaConsumer

        backoff = 0.2
        while True:
            consumer = AIOKafkaConsumer(self.settings.topic, group_id=self.group, auto_offset_reset="earliest",
                                        enable_auto_commit=False, **self.settings.client_kwargs())
            try:
                await consumer.start()
                return consumer
            except Exception as e:
                self._error = str(e) or type(e).__name__
                try:
                    await consumer.stop()
                except Exception:
                    pass
                logs.event(log, logging.WARNING, "cannot connect to Kafka, retrying", brokers=self.settings.brokers,
                           topic=self.settings.topic, error=self._error, retry_in_s=round(backoff, 1))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _run(self) -> None:
        self._consumer = await self._connect()
        self._connected = True
        logs.event(log, logging.INFO, "consuming", database=self.pipeline, topic=self.settings.topic,
                   group=self.group)
        retry_in = 0.5
        while not self._stopping.is_set():
            try:
                batches = await self._consumer.getmany(timeout_ms=self.poll_ms, max_records=self.max_records)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # broker gone: aiokafka reconnects by itself; keep polling
                self._connected = False
                self._error = str(e) or type(e).__name__
                self._log.event(("poll", self.pipeline), logging.WARNING, "polling Kafka failed",
                                topic=self.settings.topic, error=self._error)
                await self._pause(1.0)
                continue
            self._connected = True
            if not batches:
                continue
            try:
                stored = await self._store(batches)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug, not bad input: never a silent death; retried like a failed insert
                log.exception("storing a poll of %s failed", self.settings.topic)
                stored = False
            if stored:
                retry_in = 0.5
                await self._commit(batches)
            else:
                # Nothing committed: read the same records again once the store takes inserts.
                self.m_retries.values[(self.pipeline,)] += 1
                for tp, records in batches.items():
                    self._consumer.seek(tp, records[0].offset)
                self._log.event(("retry", self.pipeline), logging.WARNING, "the store refused an insert; "
                                "reading the poll again", topic=self.settings.topic, retry_in_s=retry_in)
                await self._pause(retry_in)
                retry_in = min(retry_in * 2, 30.0)

    async def _store(self, batches: dict) -> bool:
        """Hand every message of the poll to the sink and insert them; False if an insert failed."""
        sink = self.sink
        emit = sink.emit
        full = sink.m_dropped.values
        full_key = (self.pipeline, "buffer_full")
        failed, dropped = sink.failed_batches, full[full_key]
        ok, malformed, messages = 0, 0, 0
        for records in batches.values():
            for r in records:
                try:
                    parts = split_stream(r.value or b"")
                except ConversionError as e:
                    malformed += 1
                    self._log.event(("malformed", self.pipeline), logging.WARNING,
                                    "record is not a Cap'n Proto stream", topic=self.settings.topic,
                                    partition=r.partition, offset=r.offset, error=str(e))
                    continue
                ok += 1
                messages += len(parts)
                if sink.queue_depth + len(parts) > sink.max_buffer:
                    # Wait for the store rather than let the sink drop what Kafka would not hand again.
                    for m in parts:
                        if sink.queue_depth >= sink.max_buffer:
                            await sink.flush()
                        emit(m)
                    continue
                for m in parts:
                    emit(m)
        self.m_records.values[(self.pipeline, "success")] += ok
        self.m_records.values[(self.pipeline, "malformed")] += malformed
        self.m_messages.values[(self.pipeline,)] += messages
        await sink.flush()
        return sink.failed_batches == failed and full[full_key] == dropped

    async def _commit(self, batches: dict) -> None:
        offsets = {tp: records[-1].offset + 1 for tp, records in batches.items()}
        try:
            await self._consumer.commit(offsets)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # e.g. a rebalance took the partition: its new reader reads these again
            self.m_commits.values[(self.pipeline, "failure")] += 1
            self._log.event(("commit", self.pipeline), logging.WARNING, "committing offsets failed",
                            topic=self.settings.topic, error=str(e) or type(e).__name__)
            return
        self.m_commits.values[(self.pipeline, "success")] += 1
        self._next.update(offsets)

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def stop(self) -> None:
        """Finish the poll under way (insert, commit), leave the group; cancel if that takes too long."""
        if self._task is not None:
            self._stopping.set()
            if self._connected:
                try:
                    await asyncio.wait_for(asyncio.shield(self._task), self.stop_timeout)
                except asyncio.TimeoutError:
                    logs.event(log, logging.WARNING, "consumer did not finish its poll in time; its records "
                               "will be read again", database=self.pipeline, timeout_s=self.stop_timeout)
                except Exception:
                    log.exception("consumer %s failed", self.name)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._consumer is not None:
            try:
                await asyncio.wait_for(self._consumer.stop(), 10)
            except Exception:
                pass
            self._consumer = None
        self._connected = False
