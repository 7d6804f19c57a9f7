"""Submissions and cancellations through a real Kafka broker, read back as an agent would."""

from __future__ import annotations

import json
import uuid

from nxthdr.saimiris.probe import decode_probes, ip16
from tests.saimiris.gateway.helpers import DEV_USER, gateway_config, probes, run, running
from tests.support.kafka_client import consume


def kafka_cfg(db_url, broker, topic, **kafka):
    return gateway_config(db_url, kafka={"brokers": broker, "topic": topic, "publish_timeout_ms": 20000, **kafka})


async def wait_connected(gw, timeout=30.0):
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while not gw.publisher.connected:
        assert time.monotonic() < deadline, "the gateway did not connect to Kafka"
        await asyncio.sleep(0.05)


def test_measurement_records_on_the_probes_topic(db_url, kafka):
    topic = f"saimiris-probes-{uuid.uuid4().hex[:8]}"

    async def scenario():
        async with running(kafka_cfg(db_url, kafka.bootstrap, topic, message_max_bytes=4096), recording=False) as c:
            await wait_connected(c.gw)
            await c.healthy_agent("a1")
            await c.healthy_agent("a2", "2001:db8:200::/48")
            src1, src2 = c.source_for(DEV_USER), c.source_for(DEV_USER, "2001:db8:200::/48", 9)
            sent = probes(300) + [["2606:4700::1111", 5000, 0, 12, "icmpv6"]]
            status, resp = await c.submit([("a1", src1), ("a2", src2)], sent)
            assert status == 200, resp
            mid = resp["id"]
            records = await consume(kafka.bootstrap, topic, timeout=30,
                                    until=lambda rs: any(h[0] == "a1" and json.loads(h[1])["end_of_measurement"]
                                                         for r in rs for h in r.headers))
            # Cancel while running: the announcement follows on the same topic and key.
            status, m = await c.call("POST", f"/api/measurement/{mid}/cancel")
            assert status == 200 and m["status"] == "cancelled"
            after = await consume(kafka.bootstrap, topic, timeout=30,
                                  until=lambda rs: any(json.loads(h[1]).get("cancel") for r in rs for h in r.headers))
            return mid, src1, src2, records, after

    mid, src1, src2, records, after = run(scenario())
    assert len(records) > 1 and all(r.key == mid.encode() for r in records)
    assert len({r.partition for r in records}) == 1
    decoded = [p for r in records for p in decode_probes(r.value)]
    assert len(decoded) == 301
    assert decoded[0].dst_addr == ip16("2001:4860:4860::8888") and decoded[0].protocol == "udp"
    assert (decoded[-1].protocol, decoded[-1].src_port, decoded[-1].ttl) == ("icmpv6", 5000, 12)
    for i, r in enumerate(records):
        headers = [(k, json.loads(v)) for k, v in r.headers]
        last = i == len(records) - 1
        assert headers == [("a1", {"src_ip": src1, "measurement_id": mid, "end_of_measurement": last}),
                           ("a2", {"src_ip": src2, "measurement_id": mid, "end_of_measurement": last})]
    cancel = after[len(records):]
    assert len(cancel) == 1 and cancel[0].key == mid.encode() and cancel[0].value == b""
    assert [(k, json.loads(v)) for k, v in cancel[0].headers] == [
        ("a1", {"src_ip": src1, "measurement_id": mid, "end_of_measurement": True, "cancel": True}),
        ("a2", {"src_ip": src2, "measurement_id": mid, "end_of_measurement": True, "cancel": True})]


def test_sasl_scram_to_the_broker(tmp_path, kafka):
    topic = f"saimiris-probes-{uuid.uuid4().hex[:8]}"
    password_file = tmp_path / "kafka-password"
    password_file.write_text("saimiris\n")

    async def scenario():
        cfg = kafka_cfg(f"sqlite:///{tmp_path / 'gw.db'}", kafka.sasl_bootstrap, topic,
                        auth_protocol="SASL_PLAINTEXT", auth_sasl_username="saimiris", auth_sasl_password="wrong",
                        auth_sasl_password_file=str(password_file), auth_sasl_mechanism="SCRAM-SHA-512")
        async with running(cfg, recording=False) as c:
            await wait_connected(c.gw)
            await c.healthy_agent("a1")
            status, resp = await c.submit([("a1", c.source_for(DEV_USER))], probes(3))
            assert status == 200, resp
            records = await consume(kafka.bootstrap, topic, timeout=30, until=lambda rs: len(rs) >= 1)
            assert len(decode_probes(records[0].value)) == 3

    run(scenario())
