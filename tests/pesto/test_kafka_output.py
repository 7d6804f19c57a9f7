"""pesto producing to a real Kafka broker (KRaft, started by the test suite)."""

from __future__ import annotations

import asyncio
import uuid

from nxthdr.pesto.app import build
from nxthdr.sflow import decode_datagram
from tests.pesto.helpers import counter, ip16, pesto_config, send, wait_for
from tests.support.kafka_client import consume, split_messages


def kafka_config(tmp_path, broker, topic, **over):
    cfg = pesto_config(tmp_path, **over)
    cfg["kafka"].update(disable=False, brokers=broker, topic=topic, batch_wait_time=100, batch_wait_interval=20)
    return cfg


def rows_in(records):
    return [m for r in records for m in split_messages(r.value, "sflow.capnp", "SFlowFlowRecord")]


def test_sasl_scram_two_workers_framed_and_batched(tmp_path, kafka, pmacct_datagrams):
    topic = f"pesto-{uuid.uuid4().hex[:8]}"
    copies = 50
    want = copies * sum(len(decode_datagram(d).flow_samples) for d in pmacct_datagrams)

    async def scenario():
        cfg = kafka_config(tmp_path, kafka.sasl_bootstrap, topic, sflow__workers=2)
        cfg["kafka"].update(auth_protocol="SASL_PLAINTEXT", auth_sasl_username="pesto", auth_sasl_password="pesto",
                            auth_sasl_mechanism="SCRAM-SHA-512")
        app = build(cfg)
        await app.supervisor.start()
        try:
            port = app.listener.bound_port
            # Several exporters (source ports): SO_REUSEPORT spreads them over the two workers.
            for _ in range(copies // 5):
                for _ in range(5):
                    send(port, pmacct_datagrams)
            records = await consume(kafka.bootstrap, topic, until=lambda rs: len(rows_in(rs)) >= want, timeout=40)
            await wait_for(lambda: counter(app, "pesto_kafka_messages_total", status="success") >= len(records))
            assert counter(app, "pesto_sflow_records_total") == want
            assert app.metrics.health()[0]
        finally:
            await app.supervisor.stop()
        return records

    records = asyncio.run(scenario())
    rows = rows_in(records)
    assert len(rows) == want
    assert all(r.key is None for r in records)
    assert len(records) < 50  # many records per Kafka record
    assert {r["exporterAddr"] for r in rows} == {ip16("127.0.0.1")}


def test_small_max_bytes_splits_records_and_keeps_every_sample(tmp_path, kafka, pmacct_datagrams):
    topic = f"pesto-{uuid.uuid4().hex[:8]}"
    want = sum(len(decode_datagram(d).flow_samples) for d in pmacct_datagrams)

    async def scenario():
        cfg = kafka_config(tmp_path, kafka.bootstrap, topic, kafka__message_max_bytes=1024)
        app = build(cfg)
        await app.supervisor.start()
        try:
            send(app.listener.bound_port, pmacct_datagrams)
            return await consume(kafka.bootstrap, topic, until=lambda rs: len(rows_in(rs)) >= want, timeout=30)
        finally:
            await app.supervisor.stop()

    records = asyncio.run(scenario())
    rows = rows_in(records)
    assert len(rows) == want
    assert all(len(r.value) <= 1024 for r in records) and len(records) > len(pmacct_datagrams)
    want_seq = [(d.sequence, s.sequence) for d in map(decode_datagram, pmacct_datagrams) for s in d.flow_samples]
    assert [(r["datagramSequenceNumber"], r["sampleSequenceNumber"]) for r in rows] == want_seq


def test_wrong_sasl_password_is_reported_unhealthy(tmp_path, kafka):
    async def scenario():
        cfg = kafka_config(tmp_path, kafka.sasl_bootstrap, "never")
        cfg["kafka"].update(auth_protocol="SASL_PLAINTEXT", auth_sasl_username="pesto", auth_sasl_password="nope")
        app = build(cfg)
        await app.supervisor.start()
        try:
            await asyncio.sleep(2)
            ok, detail = app.metrics.health()
            assert not ok and "not connected" in detail["kafka:never"]["detail"]
        finally:
            await app.supervisor.stop()

    asyncio.run(scenario())
