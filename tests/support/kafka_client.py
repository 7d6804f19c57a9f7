"""Reading back what the collectors produced: Kafka records split into Cap'n Proto messages."""

from __future__ import annotations

import asyncio
import time

from nxthdr.core.capnp_codec import load_schema


def split_messages(value: bytes, schema_file: str, struct_name: str) -> list[dict]:
    struct = getattr(load_schema(schema_file), struct_name)
    return [m.to_dict() for m in struct.read_multiple_bytes(value)]


async def consume(bootstrap: str, topic: str, *, until=None, timeout: float = 30.0, group: str | None = None,
                  **client_kwargs) -> list:
    """All records of `topic` from the beginning until `until(records)` is true or the timeout passes."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=group, **client_kwargs)
    await consumer.start()
    records = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for recs in batch.values():
                records.extend(recs)
            if until is not None and until(records):
                break
    finally:
        await consumer.stop()
    return records


def consume_messages(bootstrap: str, topic: str, schema_file: str, struct_name: str, *, until=None,
                     timeout: float = 30.0) -> list[dict]:
    def done(recs):
        if until is None:
            return False
        msgs = [m for r in recs for m in split_messages(r.value, schema_file, struct_name)]
        return until(msgs)

    records = asyncio.run(consume(bootstrap, topic, until=done, timeout=timeout))
    return [m for r in records for m in split_messages(r.value, schema_file, struct_name)]
