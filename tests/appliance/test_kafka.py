"""The appliance with the real Kafka broker: Kafka storage mode, and the probing-reply consumer
(the other consumers and the delivery guarantees: test_consumers.py)."""

from __future__ import annotations

import asyncio
import uuid

from nxthdr.core.addr import to16
from nxthdr.saimiris.reply import MplsLabel, Reply, encode_reply
from tests.appliance.helpers import ApplianceProcess, count, query_json, replay_bmp, send_sflow, sflow_manifest
from tests.storage.helpers import ip
from tests.support.kafka_client import consume, split_messages
from tests.support.wait import wait_until


def test_kafka_mode_produces_to_the_topics(kafka, tmp_path):
    updates, flows = f"updates-{uuid.uuid4().hex[:8]}", f"flows-{uuid.uuid4().hex[:8]}"
    app = ApplianceProcess(tmp_path / "data", "--storage-mode", "kafka", "--kafka-brokers", kafka.bootstrap,
                           "--kafka-updates-topic", updates, "--kafka-flows-topic", flows,
                           "--kafka-batch-wait-time", "100").start()
    try:
        replay_bmp(app.bmp_port)
        send_sflow(app.sflow_port)
        want = sflow_manifest()["flow_samples"]

        def rows(records, schema, struct):
            return [m for r in records for m in split_messages(r.value, schema, struct)]

        recs = asyncio.run(consume(kafka.bootstrap, flows, timeout=40,
                                   until=lambda rs: len(rows(rs, "sflow.capnp", "SFlowFlowRecord")) >= want))
        got = rows(recs, "sflow.capnp", "SFlowFlowRecord")
        assert len(got) == want
        assert sum(r["length"] * r["samplingRate"] for r in got) == sum(f["bytes"] for f in sflow_manifest()["wire"])
        synthetic = lambda rs: any(m.get("synthetic") for m in rows(rs, "update.capnp", "Update"))  # noqa: E731
        recs = asyncio.run(consume(kafka.bootstrap, updates, timeout=40, until=synthetic))
        assert any(m.get("synthetic") for m in rows(recs, "update.capnp", "Update"))
        # No embedded store in this mode: the data directory holds only the curation state.
        assert not (app.data_dir / "store").exists() and not (app.data_dir / "endpoint.json").exists()
    finally:
        assert app.stop() == 0, app.logs()
    assert (app.data_dir / "risotto-state.bin").exists()


def _reply(i: int, now: int) -> Reply:
    return Reply(time_received_ns=now + i, agent_id=f"agent-{i % 2}", reply_src_addr=to16(f"192.0.2.{i + 1}"),
                 reply_dst_addr=to16("2001:db8::7"), reply_id=i, reply_size=56, reply_ttl=60 - i,
                 reply_quoted_ttl=1, reply_protocol=1, reply_icmp_type=11, reply_icmp_code=0,
                 reply_mpls_labels=(MplsLabel(label=16000 + i, exp=0, s_bit=True, ttl=1),) if i % 3 == 0 else (),
                 probe_src_addr=to16("2001:db8::7"), probe_dst_addr=to16("198.51.100.9"), probe_id=i,
                 probe_size=60, probe_ttl=i + 1, probe_protocol=17, probe_src_port=24000, probe_dst_port=33434 + i,
                 rtt=10 * i)


def test_reply_consumer_stores_replies(kafka, tmp_path):
    import time

    topic = f"replies-{uuid.uuid4().hex[:8]}"
    app = ApplianceProcess(tmp_path / "data", "--consume-saimiris-enable", "--kafka-brokers", kafka.bootstrap,
                           "--kafka-replies-topic", topic, "--consume-saimiris-group", f"g-{topic}").start()
    now = time.time_ns()
    replies = [_reply(i, now) for i in range(25)]

    async def produce():
        from aiokafka import AIOKafkaProducer

        p = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
        await p.start()
        try:
            # Several replies per record, in stream framing, like the agents; and one broken record.
            await p.send_and_wait(topic, b"".join(encode_reply(r) for r in replies[:10]))
            await p.send_and_wait(topic, b"\x05\x00\x00\x00garbage")
            await p.send_and_wait(topic, b"".join(encode_reply(r) for r in replies[10:]))
        finally:
            await p.stop()

    try:
        asyncio.run(produce())
        wait_until(lambda: count(app.data_dir, "saimiris.replies") == len(replies), 60, "the replies",
                   details=app.logs)
        got = query_json(app.data_dir, "SELECT * FROM saimiris.replies ORDER BY time_received_ns")
        for r, w in zip(got, replies):
            assert r["agent_id"] == w.agent_id and r["reply_src_addr"] == ip(w.reply_src_addr)
            assert r["probe_dst_port"] == w.probe_dst_port and r["rtt"] == w.rtt and r["probe_ttl"] == w.probe_ttl
            assert [tuple(x) for x in r["reply_mpls_labels"]] == [(m.label, m.exp, 1, m.ttl)
                                                                  for m in w.reply_mpls_labels]
        text = app.metrics()
        assert 'appliance_consumer_records_total{database="saimiris",status="malformed"} 1.0' in text
        assert 'appliance_consumer_records_total{database="saimiris",status="success"} 2.0' in text
        assert 'appliance_consumer_messages_total{database="saimiris"} 25.0' in text
    finally:
        assert app.stop() == 0, app.logs()
