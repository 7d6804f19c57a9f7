"""Probing replies from Kafka into the embedded store.

The agents produce `Reply` messages (schemas/reply.capnp) to `saimiris-replies`,
many per Kafka record in stream framing, like the collectors. On a server a
ClickHouse Kafka table reads them; on the appliance this consumer splits each
record into messages and hands them to the store's sink. A record that is not
a Cap'n Proto stream is counted and skipped, the consumer goes on. Offsets are
auto-committed by the consumer group: a crash (not a SIGTERM, which flushes)
can lose the replies of the last commit interval that were still in the sink.
"""

from __future__ import annotations

import asyncio
import logging

from nxthdr.core import logs
from nxthdr.core.kafka import KafkaSettings
from nxthdr.core.metrics import Metrics
from nxthdr.core.sinks import Sink
from nxthdr.storage.rowbinary import ConversionError, split_stream

log = logging.getLogger("nxthdr.appliance")


class ReplyConsumer:
    def __init__(self, settings: KafkaSettings, group: str, sink: Sink, metrics: Metrics) -> None:
        self.name = "replies-consumer"
        self.settings = settings
        self.group = group
        self.sink = sink
        self._task: asyncio.Task | None = None
        self._consumer = None
        self._connected = False
        self._error = ""
        self._log = logs.RateLimited(log)
        self.m_records = metrics.fast_counter("replies_records_total", "Kafka records read from the replies topic, "
                                              "by outcome", ("status",))
        self.m_messages = metrics.fast_counter("replies_messages_total", "Reply messages handed to the store")
        metrics.add_health(f"kafka-consumer:{settings.topic}", self._health)

    def _health(self) -> tuple[bool, str]:
        if self._connected:
            return True, f"consuming {self.settings.topic}"
        return False, f"not connected to {self.settings.brokers}: {self._error or 'connecting'}"

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def _connect(self):
        from aiokafka import AIOKafkaConsumer

        backoff = 0.2
        while True:
            consumer = AIOKafkaConsumer(self.settings.topic, group_id=self.group, auto_offset_reset="earliest",
                                        enable_auto_commit=True, **self.settings.client_kwargs())
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
                           error=self._error, retry_in_s=round(backoff, 1))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _run(self) -> None:
        self._consumer = await self._connect()
        self._connected = True
        logs.event(log, logging.INFO, "consuming replies", topic=self.settings.topic, group=self.group)
        emit = self.sink.emit
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=500, max_records=1000)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # broker gone: aiokafka reconnects by itself; keep polling
                self._connected = False
                self._error = str(e) or type(e).__name__
                self._log.event("poll", logging.WARNING, "polling the replies topic failed", error=self._error)
                await asyncio.sleep(1)
                continue
            self._connected = True
            for records in batches.values():
                for r in records:
                    try:
                        messages = split_stream(r.value or b"")
                    except ConversionError as e:
                        self.m_records.values[("malformed",)] += 1
                        self._log.event("malformed", logging.WARNING, "replies record is not a Cap'n Proto stream",
                                        partition=r.partition, offset=r.offset, error=str(e))
                        continue
                    self.m_records.values[("success",)] += 1
                    self.m_messages.values[()] += len(messages)
                    for m in messages:
                        emit(m)

    async def stop(self) -> None:
        if self._task is not None:
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
