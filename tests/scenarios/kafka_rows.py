"""Update rows read back from Kafka as the pipeline produces them (pytest side).

A consumer in a background thread decodes every record of the topic into
`UpdateRow`s; calling the reader returns what arrived so far, so a scenario can
poll it cheaply.
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading

from tests.support.kafka_client import split_messages

from .bmp_pipeline import UpdateRow, prefix_text


def update_row(m: dict) -> UpdateRow:
    return UpdateRow(
        prefix=prefix_text(str(ipaddress.IPv6Address(m["prefixAddr"])), m["prefixLen"]),
        peer=str(ipaddress.IPv6Address(m["peerAddr"])),
        post_policy=m["isPostPolicy"],
        announced=m["announced"],
        synthetic=m["synthetic"],
    )


class KafkaRows:
    """Adj-RIB-In rows of `topic` (Loc-RIB rows are left out: the scenario is about pre/post policy)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self._rows: list[UpdateRow] = []
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
                rows = [update_row(m) for recs in batch.values() for r in recs
                        for m in split_messages(r.value, "update.capnp", "Update") if not m["isLocRib"]]
                with self._lock:
                    self._rows.extend(rows)
        finally:
            await consumer.stop()

    def __call__(self) -> list[UpdateRow]:
        if self._error is not None:
            raise AssertionError(f"Kafka consumer failed: {self._error!r}") from self._error
        with self._lock:
            return list(self._rows)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
