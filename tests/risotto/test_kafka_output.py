"""risotto producing to a real Kafka broker (KRaft, started by the test suite)."""

from __future__ import annotations

import asyncio
import time
import uuid

from nxthdr.bmp import builder as b
from nxthdr.risotto.app import build
from tests.risotto.helpers import announce, peer_down, peer_up
from tests.risotto.test_collector import risotto_config, stream, wait_for
from tests.support.kafka_client import consume, split_messages


def kafka_config(tmp_path, broker, topic, **over):
    cfg = risotto_config(tmp_path, **over)
    cfg["kafka"].update(disable=False, brokers=broker, topic=topic, batch_wait_time=100, batch_wait_interval=20)
    return cfg


def rows_in(records):
    return [m for r in records for m in split_messages(r.value, "update.capnp", "Update")]


def test_updates_reach_kafka_framed_and_batched(tmp_path, kafka):
    topic = f"risotto-{uuid.uuid4().hex[:8]}"

    async def scenario():
        app = build(kafka_config(tmp_path, kafka.bootstrap, topic))
        await app.supervisor.start()
        try:
            prefixes = [f"10.{i // 256}.{i % 256}.0/24" for i in range(500)]
            stream(app.server.bound_port, peer_up(), announce(prefixes), peer_down())
            records = await consume(kafka.bootstrap, topic, until=lambda rs: len(rows_in(rs)) >= 1000, timeout=30)
        finally:
            await app.supervisor.stop()
        return records

    records = asyncio.run(scenario())
    rows = rows_in(records)
    assert len(rows) == 1000
    assert sum(r["announced"] for r in rows) == 500 and sum(r["synthetic"] for r in rows) == 500
    assert all(r.key is None for r in records)  # empty key, like the reference
    assert len(records) < 100  # many messages per record
    assert all(len(r.value) <= 990000 for r in records)


def test_small_max_bytes_splits_records(tmp_path, kafka):
    topic = f"risotto-{uuid.uuid4().hex[:8]}"

    async def scenario():
        cfg = kafka_config(tmp_path, kafka.bootstrap, topic)
        cfg["kafka"]["message_max_bytes"] = 4096
        app = build(cfg)
        await app.supervisor.start()
        try:
            stream(app.server.bound_port, peer_up(), announce([f"10.0.{i}.0/24" for i in range(200)]))
            return await consume(kafka.bootstrap, topic, until=lambda rs: len(rows_in(rs)) >= 400, timeout=30)
        finally:
            await app.supervisor.stop()

    records = asyncio.run(scenario())
    assert len(rows_in(records)) == 400
    assert all(len(r.value) <= 4096 for r in records) and len(records) > 10


def test_sasl_scram_to_the_broker_and_events_topic(tmp_path, kafka):
    topic = f"risotto-{uuid.uuid4().hex[:8]}"
    events = f"risotto-events-{uuid.uuid4().hex[:8]}"

    async def scenario():
        cfg = kafka_config(tmp_path, kafka.sasl_bootstrap, topic)
        cfg["kafka"].update(auth_protocol="SASL_PLAINTEXT", auth_sasl_username="risotto",
                            auth_sasl_password="risotto", auth_sasl_mechanism="SCRAM-SHA-512",
                            events_enable=True, events_topic=events, key="peer")
        app = build(cfg)
        await app.supervisor.start()
        try:
            stream(app.server.bound_port, b.bmp_initiation("edge1", "test"), peer_up(), announce(["203.0.113.0/24"]),
                   peer_down())
            recs = await consume(kafka.bootstrap, topic, until=lambda rs: len(rows_in(rs)) >= 2, timeout=30)
            evs = await consume(kafka.bootstrap, events, until=lambda rs: len(rs) >= 1 and sum(
                len(split_messages(r.value, "bmp_event.capnp", "BmpEvent")) for r in rs) >= 5, timeout=30)
        finally:
            await app.supervisor.stop()
        return recs, evs

    recs, evs = asyncio.run(scenario())
    assert len(rows_in(recs)) == 2 and all(r.key for r in recs)
    kinds = [m["eventType"] for r in evs for m in split_messages(r.value, "bmp_event.capnp", "BmpEvent")]
    assert kinds[:4] == ["session_open", "initiation", "peer_up", "peer_down"]
    msgs = [m for r in evs for m in split_messages(r.value, "bmp_event.capnp", "BmpEvent")]
    up = next(m for m in msgs if m["eventType"] == "peer_up")
    assert up["peerAsn"] == 65001 and up["localAsn"] == 65000
    assert next(m for m in msgs if m["eventType"] == "initiation")["sysName"] == "edge1"


def test_wrong_sasl_password_is_reported_unhealthy(tmp_path, kafka):
    async def scenario():
        cfg = kafka_config(tmp_path, kafka.sasl_bootstrap, "never")
        cfg["kafka"].update(auth_protocol="SASL_PLAINTEXT", auth_sasl_username="risotto", auth_sasl_password="nope")
        app = build(cfg)
        await app.supervisor.start()
        try:
            await asyncio.sleep(2)
            ok, detail = app.metrics.health()
            assert not ok and "not connected" in detail["kafka:never"]["detail"]
        finally:
            await app.supervisor.stop()

    asyncio.run(scenario())


def test_broker_outage_buffers_then_recovers(tmp_path, kafka):
    topic = f"risotto-{uuid.uuid4().hex[:8]}"

    async def scenario():
        cfg = kafka_config(tmp_path, kafka.bootstrap, topic)
        cfg["kafka"]["message_timeout_ms"] = 600000
        app = build(cfg)
        await app.supervisor.start()
        try:
            sock = stream(app.server.bound_port, peer_up(), announce(["10.0.0.0/24"]), close=False)
            await consume(kafka.bootstrap, topic, until=lambda rs: len(rows_in(rs)) >= 1, timeout=30)
            await asyncio.to_thread(kafka.stop)
            sock.sendall(announce([f"10.1.{i}.0/24" for i in range(50)]))
            await wait_for(lambda: app.processor.rib.stored() == 51)
            await asyncio.sleep(1.0)
            assert app.sink.sinks[0].queue_depth >= 50  # buffered while the broker is away
            await asyncio.to_thread(kafka.start)
            records = await consume(kafka.bootstrap, topic, until=lambda rs: len(rows_in(rs)) >= 51, timeout=60)
            sock.close()
            return records, app.sink.sinks[0].kafka_messages.labels("success")._value.get()
        finally:
            await app.supervisor.stop()

    records, successes = asyncio.run(scenario())
    assert len(rows_in(records)) == 51
    assert successes >= 2


def test_bounded_buffer_drops_oldest_and_counts(tmp_path):
    # No broker at all on this port: the buffer bound is what is tested.
    async def scenario():
        cfg = kafka_config(tmp_path, "127.0.0.1:1", "nowhere")
        cfg["kafka"]["mpsc_buffer_size"] = 100
        cfg["kafka"]["message_max_bytes"] = 2048
        app = build(cfg)
        await app.supervisor.start()
        try:
            sock = stream(app.server.bound_port, peer_up(), announce([f"10.2.{i}.0/24" for i in range(250)]),
                          close=False)
            await wait_for(lambda: app.processor.rib.stored() == 250)
            sock.close()
            await asyncio.sleep(0.3)
            kafka_sink = app.sink.sinks[0]
            assert kafka_sink.queue_depth <= 100 + 10
            assert kafka_sink.dropped.get(("kafka_buffer_full",)) >= 140
        finally:
            t = time.monotonic()
            await app.supervisor.stop()
            assert time.monotonic() - t < 30  # a dead broker never hangs the shutdown

    asyncio.run(scenario())


def test_tls_listeners_ssl_and_sasl_ssl(tmp_path, kafka):
    """SSL (server verified against our CA) and SASL_SSL with SCRAM-SHA-256 and PLAIN."""
    cases = [("SSL", kafka.ssl_bootstrap, {}),
             ("SASL_SSL", kafka.sasl_ssl_bootstrap, {"auth_sasl_mechanism": "SCRAM-SHA-256"}),
             ("SASL_SSL", kafka.sasl_ssl_bootstrap, {"auth_sasl_mechanism": "PLAIN"})]
    for i, (protocol, bootstrap, extra) in enumerate(cases):
        topic = f"risotto-tls-{uuid.uuid4().hex[:8]}"
        (tmp_path / str(i)).mkdir()

        async def scenario():
            cfg = kafka_config(tmp_path / str(i), bootstrap, topic)
            cfg["kafka"].update(auth_protocol=protocol, ssl_ca_file=kafka.ca_file, auth_sasl_username="risotto",
                                auth_sasl_password="risotto", **extra)
            app = build(cfg)
            await app.supervisor.start()
            try:
                stream(app.server.bound_port, peer_up(), announce(["203.0.113.0/24"]))
                return await consume(kafka.bootstrap, topic, until=lambda rs: len(rows_in(rs)) >= 2, timeout=30)
            finally:
                await app.supervisor.stop()

        records = asyncio.run(scenario())
        assert [(r["announced"], r["synthetic"]) for r in rows_in(records)] == [(True, False), (False, True)], protocol


def test_tls_with_an_untrusted_ca_is_unhealthy(tmp_path, kafka):
    other_ca = tmp_path / "other-ca.pem"
    import subprocess

    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "k"),
                    "-out", str(other_ca), "-days", "1", "-subj", "/CN=someone else"], check=True,
                   capture_output=True)

    async def scenario():
        cfg = kafka_config(tmp_path, kafka.ssl_bootstrap, "never-tls")
        cfg["kafka"].update(auth_protocol="SSL", ssl_ca_file=str(other_ca))
        app = build(cfg)
        await app.supervisor.start()
        try:
            await asyncio.sleep(2)
            ok, detail = app.metrics.health()
            assert not ok and "not connected" in detail["kafka:never-tls"]["detail"]
        finally:
            await app.supervisor.stop()

    asyncio.run(scenario())
