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


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    """Each value as one record, acknowledged, in order (one partition in the test broker)."""

    async def run() -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 << 20)
        await producer.start()
        try:
            futures = [await producer.send(topic, v) for v in values]
            for f in futures:
                await f
        finally:
            await producer.stop()

    asyncio.run(run())


def group_offsets(bootstrap: str, topic: str, group: str) -> dict[int, tuple[int | None, int]]:
    """Partition → (next offset committed by `group`, or None; end offset of the partition)."""

    async def run() -> dict[int, tuple[int | None, int]]:
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await admin.start()
        await consumer.start()
        try:
            (desc,) = await admin.describe_topics([topic])
            parts = [TopicPartition(topic, p["partition"]) for p in desc["partitions"]]
            ends = await consumer.end_offsets(parts)
            committed = await admin.list_consumer_group_offsets(group, partitions=parts)
            out = {}
            for tp in parts:
                c = committed.get(tp)
                out[tp.partition] = (c.offset if c is not None and c.offset >= 0 else None, ends[tp])
            return out
        finally:
            await consumer.stop()
            await admin.close()

    return asyncio.run(run())
