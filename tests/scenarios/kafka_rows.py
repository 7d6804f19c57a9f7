"""Rows read back from Kafka as a pipeline produces them (pytest side).

A consumer in a background thread decodes every record of the topic into the
scenario's row type; calling the reader returns what arrived so far, so a
scenario can poll it cheaply.
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from typing import Callable, Generic, TypeVar

from tests.support.kafka_client import split_messages

from .bmp_pipeline import UpdateRow, prefix_text
from .flows_pipeline import FlowRow
from .probing import ReplyRow

R = TypeVar("R")


def update_row(m: dict) -> UpdateRow | None:
    """Adj-RIB-In rows only: Loc-RIB rows are left out, the scenario is about pre/post policy."""
    if m["isLocRib"]:
        return None
    return UpdateRow(
        prefix=prefix_text(str(ipaddress.IPv6Address(m["prefixAddr"])), m["prefixLen"]),
        peer=str(ipaddress.IPv6Address(m["peerAddr"])),
        post_policy=m["isPostPolicy"],
        announced=m["announced"],
        synthetic=m["synthetic"],
    )


def flow_row(m: dict) -> FlowRow:
    return FlowRow(
        src=str(_unmap(m["srcIp"])),
        dst=str(_unmap(m["dstIp"])),
        protocol=m["protocol"],
        length=m["length"],
        sampling_rate=m["samplingRate"],
        # Kafka carries the sample only; the store computes the estimate the same way.
        bytes=m["length"] * m["samplingRate"],
    )


def reply_row(m: dict) -> ReplyRow:
    return ReplyRow(
        agent_id=m["agentId"],
        reply_src=str(_unmap(m["replySrcAddr"])),
        probe_dst=str(_unmap(m["probeDstAddr"])),
        probe_ttl=m["probeTtl"],
        probe_src_port=m["probeSrcPort"],
        icmp_type=m["replyIcmpType"],
    )


def _unmap(raw: bytes) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    a = ipaddress.IPv6Address(raw)
    return a.ipv4_mapped or a


class KafkaRows(Generic[R]):
    """Rows of `topic`: each Cap'n Proto message converted by `convert` (None: left out)."""

    def __init__(self, bootstrap: str, topic: str, schema: str, struct: str,
                 convert: Callable[[dict], R | None]) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.schema, self.struct, self.convert = schema, struct, convert
        self._rows: list[R] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"kafka-rows-{topic}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            asyncio.run(self._consume())
        except BaseException as e:  # surfaced to the scenario by the next read
            self._error = e

    async def _consume(self) -> None:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(self.topic, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest",
                                    enable_auto_commit=False, metadata_max_age_ms=1000)
        await consumer.start()
        try:
            while not self._stop.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                converted = [self.convert(m) for recs in batch.values() for r in recs
                             for m in split_messages(r.value, self.schema, self.struct)]
                with self._lock:
                    self._rows.extend(row for row in converted if row is not None)
        finally:
            await consumer.stop()

    def __call__(self) -> list[R]:
        if self._error is not None:
            raise AssertionError(f"Kafka consumer failed: {self._error!r}") from self._error
        with self._lock:
            return list(self._rows)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
