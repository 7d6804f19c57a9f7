"""Measurements to the agents: Kafka records on `saimiris-probes`, acknowledged before the API answers.

Probe records (wire.md): value = framed `Probe` messages concatenated
(`encode_probes`), key = measurement id, one header per target agent with
key = agent id and value = JSON `{"src_ip", "measurement_id",
"end_of_measurement"}`. A measurement larger than `message_max_bytes` is
split into several records, all with the same key (so one partition, in
order); only the last one says `end_of_measurement: true`.

Cancellation record: same topic, key = measurement id, **empty value** (no
probes), one header per agent that had not finished, value = JSON
`{"src_ip", "measurement_id", "end_of_measurement": true, "cancel": true}`.
An agent that knows `cancel` drops what it still holds for that measurement;
an older agent sees an empty last batch and simply ends the measurement.

Unlike the collectors' `KafkaSink` (fire and forget, buffered), a submission
must know whether the broker took its probes: each record is awaited, with
`publish_timeout_ms` as the bound. The producer connects in the background
and reconnects with backoff, so the gateway serves everything else while the
broker is away; submissions then fail with 500 and nothing counted.
"""

from __future__ import annotations

import asyncio
import json
import logging

from nxthdr.core.kafka import KafkaSettings, connect_producer
from nxthdr.core.metrics import Metrics
from nxthdr.saimiris.probe import Probe, encode_probe

log = logging.getLogger("nxthdr.saimiris.gateway.kafka")


class BrokerError(Exception):
    """The broker did not acknowledge a record."""


def header_value(src_ip: str, mid: str, end: bool, cancel: bool = False) -> bytes:
    doc = {"src_ip": src_ip, "measurement_id": mid, "end_of_measurement": end}
    if cancel:
        doc["cancel"] = True
    return json.dumps(doc, separators=(",", ":")).encode()


def chunk_probes(probes: list[Probe], max_bytes: int) -> list[bytes]:
    """Record values of at most max_bytes each (at least one probe per record)."""
    out, parts, size = [], [], 0
    for p in probes:
        framed = encode_probe(p)
        if parts and size + len(framed) > max_bytes:
            out.append(b"".join(parts))
            parts, size = [], 0
        parts.append(framed)
        size += len(framed)
    if parts:
        out.append(b"".join(parts))
    return out


class ProbePublisher:
    name = "kafka-probes"

    def __init__(self, settings: KafkaSettings, metrics: Metrics, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._producer = None
        self._task: asyncio.Task | None = None
        self._last_error = ""
        self.records = metrics.counter("kafka_records_total", "Kafka records published, by kind and outcome",
                                       ("kind", "status"))
        metrics.add_health(f"kafka:{settings.topic}", self._health)

    @property
    def connected(self) -> bool:
        return self._producer is not None

    def _health(self) -> tuple[bool, str]:
        if self._producer is not None:
            return True, "connected"
        return False, f"not connected to {self.settings.brokers}: {self._last_error or 'connecting'}"

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._connect(), name="kafka-probes-connect")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                await asyncio.wait_for(producer.stop(), 10)
            except Exception:
                pass

    async def wait_connected(self, timeout: float) -> bool:
        """True once the producer is connected (for one-shot users such as `saimiris client`)."""
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except (asyncio.TimeoutError, Exception):
                pass
        return self._producer is not None

    async def _connect(self) -> None:
        def failed(error: str) -> None:
            self._last_error = error

        self._producer = await connect_producer(self.settings, acks="all",
                                                request_timeout_ms=int(min(self.timeout_s * 1000, 30000)),
                                                on_error=failed)

    async def _send(self, kind: str, key: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        producer = self._producer
        if producer is None:
            self.records.labels(kind, "failure").inc()
            raise BrokerError(f"not connected to Kafka ({self._last_error or 'connecting'})")
        try:
            await asyncio.wait_for(producer.send_and_wait(self.settings.topic, value, key=key.encode(),
                                                          headers=headers), self.timeout_s)
        except Exception as e:
            self.records.labels(kind, "failure").inc()
            self._last_error = str(e) or type(e).__name__
            raise BrokerError(f"Kafka did not acknowledge the record: {self._last_error}") from None
        self.records.labels(kind, "success").inc()

    async def publish_measurement(self, mid: str, probes: list[Probe], targets: list[tuple[str, str]]) -> int:
        """Publish every record of a measurement; returns the number of records. Raises BrokerError.

        When a record after the first fails, the agents already hold part of
        the measurement: a cancellation is announced (best effort) so they drop it.
        """
        chunks = chunk_probes(probes, self.settings.message_max_bytes)
        for i, value in enumerate(chunks):
            last = i == len(chunks) - 1
            headers = [(agent, header_value(src, mid, last)) for agent, src in targets]
            try:
                await self._send("probes", mid, value, headers)
            except BrokerError:
                if i:
                    try:
                        await self.announce_cancel(mid, targets)
                    except BrokerError:
                        pass
                raise
        return len(chunks)

    async def announce_cancel(self, mid: str, targets: list[tuple[str, str]]) -> None:
        headers = [(agent, header_value(src, mid, True, cancel=True)) for agent, src in targets]
        await self._send("cancel", mid, b"", headers)
