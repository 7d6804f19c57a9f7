"""The Kafka side of every collector: framed messages batched into records,
a bounded buffer, and a producer task that survives the broker going away.

Flow: `KafkaSink.emit(message)` (synchronous, called on the decode path) appends
a framed Cap'n Proto message to the open batch of its key. A batch becomes a
Kafka record when adding a message would pass `message_max_bytes` or when
`batch_wait_time_ms` has passed since its first message. Records wait in a
bounded buffer (`buffer_size` messages in total) for the producer task. When the
broker is unreachable the buffer fills, the oldest records are dropped and
counted, and sending resumes by itself when the broker returns.

Messages are numbered in emit order; `delivered()` is the highest number N such
that every message up to N is settled: acknowledged by the broker (acks=all),
or dropped and counted (buffer full, message timeout). Records still queued or
in flight when `stop()` gives up stay unsettled for good, so a state saved
after the stop does not claim them.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Mapping

from nxthdr.core import logs
from nxthdr.core.config import read_secret
from nxthdr.core.metrics import Metrics

log = logging.getLogger("nxthdr.kafka")

SECURITY_PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


@dataclass(frozen=True)
class KafkaSettings:
    brokers: str = "localhost:9092"
    topic: str = ""
    auth_protocol: str = "PLAINTEXT"
    sasl_username: str = ""
    sasl_password: str = ""
    sasl_mechanism: str = "SCRAM-SHA-512"
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    message_max_bytes: int = 990000
    message_timeout_ms: int = 500000
    batch_wait_time_ms: int = 1000
    batch_wait_interval_ms: int = 100
    buffer_size: int = 100000

    @classmethod
    def from_config(cls, k: Mapping, topic: str | None = None) -> "KafkaSettings":
        """From a config section using the reference collectors' key names."""
        return cls(
            brokers=k["brokers"],
            topic=topic if topic is not None else k["topic"],
            auth_protocol=k["auth_protocol"],
            sasl_username=k["auth_sasl_username"],
            sasl_password=read_secret(k.get("auth_sasl_password"), k.get("auth_sasl_password_file"),
                                      "kafka.auth_sasl_password") or "",
            sasl_mechanism=k["auth_sasl_mechanism"],
            ssl_cafile=k.get("ssl_ca_file") or None,
            ssl_certfile=k.get("ssl_cert_file") or None,
            ssl_keyfile=k.get("ssl_key_file") or None,
            message_max_bytes=k["message_max_bytes"],
            message_timeout_ms=k["message_timeout_ms"],
            batch_wait_time_ms=k["batch_wait_time"],
            batch_wait_interval_ms=k["batch_wait_interval"],
            buffer_size=k["mpsc_buffer_size"],
        )

    def client_kwargs(self) -> dict:
        """Connection arguments for aiokafka clients (producers and consumers)."""
        kw: dict = {"bootstrap_servers": [b.strip() for b in self.brokers.split(",") if b.strip()],
                    "security_protocol": self.auth_protocol}
        if self.auth_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
            kw.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                      sasl_plain_password=self.sasl_password)
        if self.auth_protocol in ("SSL", "SASL_SSL"):
            ctx = ssl.create_default_context(cafile=self.ssl_cafile)
            if self.ssl_certfile:
                ctx.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
            kw["ssl_context"] = ctx
        return kw


class _Batch:
    __slots__ = ("parts", "size", "count", "opened", "first")

    def __init__(self, now: float, first: int) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.count = 0
        self.opened = now
        self.first = first  # number of its first message


class KafkaSink:
    """Batches framed messages into records and produces them to one topic."""

    def __init__(self, settings: KafkaSettings, metrics: Metrics, name: str = "kafka") -> None:
        self.name = name
        self.settings = settings
        self._batches: dict[bytes, _Batch] = {}
        # (key, value, message count, first try, number of the first message)
        self._records: collections.deque[tuple[bytes, bytes, int, float, int]] = collections.deque()
        self._emitted = 0  # messages numbered so far
        self._unsettled_from: int | None = None  # first message abandoned at stop
        self._buffered = 0  # messages in self._records
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._producer = None
        self._connected = False
        self._stopping = False
        self._last_error = ""
        self._in_flight: bytes | None = None  # value of the record the sender is waiting on
        self.kafka_messages = metrics.counter("kafka_messages_total", "Kafka records produced, by outcome", ("status",))
        self.dropped = metrics.fast_counter("dropped_messages_total",
                                            "Messages dropped before reaching a sink, by reason", ("reason",))
        metrics.callback_gauge("queue_depth", "Messages waiting for the Kafka producer", (),
                               lambda: [((), self.queue_depth)])
        metrics.add_health(f"kafka:{settings.topic}", self._health)

    # -- decode path --------------------------------------------------------------------------

    def emit(self, message: bytes, key: bytes = b"") -> None:
        self._emitted += 1
        batch = self._batches.get(key)
        if batch is None:
            batch = self._batches[key] = _Batch(time.monotonic(), self._emitted)
        elif batch.size + len(message) > self.settings.message_max_bytes and batch.count:
            self._seal(key, batch)
            batch = self._batches[key] = _Batch(time.monotonic(), self._emitted)
        batch.parts.append(message)
        batch.size += len(message)
        batch.count += 1

    def _seal(self, key: bytes, batch: _Batch) -> None:
        self._records.append((key, b"".join(batch.parts), batch.count, time.monotonic(), batch.first))
        self._buffered += batch.count
        # Bounded buffer: the oldest records go first, so a recovering broker gets recent data.
        # The record being sent stays: it may still be delivered, and must not count as dropped too.
        while self._buffered > self.settings.buffer_size and len(self._records) > 1:
            if self._records[0][1] is self._in_flight:
                if len(self._records) < 3:
                    break
                head = self._records.popleft()
                _, _, n, _, _ = self._records.popleft()
                self._records.appendleft(head)
            else:
                _, _, n, _, _ = self._records.popleft()
            self._buffered -= n
            self.dropped.inc(("kafka_buffer_full",), n)
            self.kafka_messages.labels("failure").inc()
        self._wakeup.set()

    def flush_batches(self, older_than: float | None = None) -> None:
        now = time.monotonic()
        for key, batch in list(self._batches.items()):
            if batch.count and (older_than is None or now - batch.opened >= older_than):
                del self._batches[key]
                self._seal(key, batch)

    def delivered(self) -> int:
        """Every message numbered up to this one is settled (see the module docstring)."""
        first = min((b.first for b in self._batches.values() if b.count), default=self._emitted + 1)
        for r in self._records:
            if r[4] < first:
                first = r[4]
        if self._unsettled_from is not None and self._unsettled_from < first:
            first = self._unsettled_from
        return first - 1

    @property
    def queue_depth(self) -> int:
        return self._buffered + sum(b.count for b in self._batches.values())

    def _health(self) -> tuple[bool, str]:
        if self._connected:
            return True, f"connected, {self.queue_depth} messages queued"
        return False, f"not connected to {self.settings.brokers}: {self._last_error or 'connecting'}"

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [asyncio.create_task(self._ticker(), name=f"{self.name}-ticker"),
                       asyncio.create_task(self._sender(), name=f"{self.name}-sender")]

    async def stop(self) -> None:
        """Seal open batches, deliver what the broker takes within the message timeout, stop."""
        if not self._tasks:
            return
        self.flush_batches()
        self._stopping = True
        self._wakeup.set()
        deadline = min(self.settings.message_timeout_ms / 1000, 15.0)
        sender = self._tasks[1]
        try:
            await asyncio.wait_for(asyncio.shield(sender), deadline)
        except asyncio.TimeoutError:
            pass
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._records:
            lost = self._buffered
            first = min(r[4] for r in self._records)
            if self._unsettled_from is None or first < self._unsettled_from:
                self._unsettled_from = first
            self.dropped.inc(("shutdown_undelivered",), lost)
            self.kafka_messages.labels("failure").inc(len(self._records))
            logs.event(log, logging.ERROR, "records not delivered at shutdown", topic=self.settings.topic,
                       records=len(self._records), messages=lost)
            self._records.clear()
            self._buffered = 0
        if self._producer is not None:
            try:
                await asyncio.wait_for(self._producer.stop(), 10)
            except Exception:
                pass
            self._producer = None

    async def _ticker(self) -> None:
        interval = self.settings.batch_wait_interval_ms / 1000
        wait = self.settings.batch_wait_time_ms / 1000
        while True:
            await asyncio.sleep(interval)
            self.flush_batches(older_than=wait)

    async def _connect(self) -> None:
        self._producer = await connect_producer(self.settings, acks="all", on_error=self._on_connect_error,
                                                give_up=lambda: self._stopping)
        self._connected = True

    def _on_connect_error(self, error: str) -> None:
        self._last_error = error

    async def _sender(self) -> None:
        timeout = self.settings.message_timeout_ms / 1000
        try:
            await self._connect()
        except ConnectionError:
            return
        backoff = 0.2
        while True:
            if not self._records:
                if self._stopping:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            key, value, count, first_try, _ = self._records[0]
            try:
                self._in_flight = value
                fut = await self._producer.send(self.settings.topic, value, key=key or None)
                await fut
            except Exception as e:
                self._in_flight = None
                self._connected = False
                self._last_error = str(e) or type(e).__name__
                if time.monotonic() - first_try > timeout and self._records and self._records[0][3] == first_try:
                    self._records.popleft()
                    self._buffered -= count
                    self.kafka_messages.labels("failure").inc()
                    self.dropped.inc(("kafka_timeout",), count)
                logs.event(log, logging.WARNING, "Kafka send failed, will retry", topic=self.settings.topic,
                           error=self._last_error, queued=self._buffered)
                if self._stopping:
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.2
            self._in_flight = None
            self._connected = True
            # The head is still this record: _seal never drops the record in flight.
            if self._records and self._records[0][1] is value:
                self._records.popleft()
                self._buffered -= count
            self.kafka_messages.labels("success").inc()


async def connect_producer(settings: KafkaSettings, *, acks, request_timeout_ms: int | None = None,
                           on_error=None, give_up=lambda: False):
    """A started AIOKafkaProducer; retries with back-off (logged) until the broker answers.

    Raises ConnectionError when `give_up()` turns true while the broker is unreachable.
    """
    from aiokafka import AIOKafkaProducer

    backoff = 0.2
    timeout = request_timeout_ms if request_timeout_ms is not None else min(settings.message_timeout_ms, 30000)
    while True:
        producer = AIOKafkaProducer(**settings.client_kwargs(),
                                    max_request_size=max(settings.message_max_bytes + 65536, 1048576),
                                    request_timeout_ms=int(timeout), linger_ms=0, acks=acks)
        try:
            await producer.start()
        except Exception as e:
            error = str(e) or type(e).__name__
            if on_error is not None:
                on_error(error)
            try:
                await producer.stop()
            except Exception:
                pass
            logs.event(log, logging.WARNING, "cannot connect to Kafka, retrying", brokers=settings.brokers,
                       error=error, retry_in_s=round(backoff, 1))
            if give_up():
                raise ConnectionError(error)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
            continue
        logs.event(log, logging.INFO, "connected to Kafka", brokers=settings.brokers, topic=settings.topic)
        return producer
