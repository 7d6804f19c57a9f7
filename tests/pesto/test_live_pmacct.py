"""Live, end to end: pmacctd sfprobe in namespaces samples real traffic → pesto → Kafka → records.

pesto's socket is opened inside the agent's namespace (where pmacctd exports to
its loopback); everything else of pesto, and the broker, stay in the test's
namespace. Needs root, network namespaces, pmacctd and the Kafka jars: skipped
outside CI when they are missing, failed in CI.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest

from nxthdr.pesto.app import build
from tests.pesto.helpers import counter, ip16, pesto_config, record_matches, wait_for
from tests.sflow import agent, traffic
from tests.support.kafka_client import consume, split_messages

pytestmark = pytest.mark.integration

_reason = agent.available()


@pytest.fixture(scope="module")
def lab():
    if _reason:
        if os.environ.get("CI"):
            pytest.fail(f"live sFlow agent unavailable in CI: {_reason}")
        pytest.skip(_reason)
    with agent.SfprobeLab(agent_subid=42) as lab:
        yield lab


def rows_in(records):
    return [m for r in records for m in split_messages(r.value, "sflow.capnp", "SFlowFlowRecord")]


def test_pmacct_sfprobe_through_pesto_to_kafka(tmp_path, lab, kafka):
    topic = f"pesto-live-{uuid.uuid4().hex[:8]}"
    # pesto takes over the port pmacctd exports to.
    port = lab.collector.getsockname()[1]
    lab.collector.close()

    async def scenario():
        cfg = pesto_config(tmp_path, sflow__address=f"127.0.0.1:{port}")
        cfg["kafka"].update(disable=False, brokers=kafka.bootstrap, topic=topic, batch_wait_time=100,
                            batch_wait_interval=20)
        app = build(cfg)
        with agent.in_netns(lab.sink):
            await app.listener.start()  # idempotent: the supervisor's start leaves it as it is
        await app.supervisor.start()
        try:
            expectations = await asyncio.to_thread(traffic.generate, lab)
            wanted = [w for e in expectations for w in [e, *e.get("also", [])]]

            def complete(records):
                rows = rows_in(records)
                return all(any(record_matches(r, w) for r in rows) for w in wanted)

            records = await consume(kafka.bootstrap, topic, until=complete, timeout=30)
            await wait_for(lambda: counter(app, "pesto_sflow_records_total") >= len(rows_in(records)))
            parse_errors = counter(app, "pesto_sflow_datagrams_total", status="parse_error")
        finally:
            await app.supervisor.stop()
        return expectations, rows_in(records), parse_errors

    expectations, rows, parse_errors = asyncio.run(scenario())
    for exp in expectations:
        for want in [exp, *exp.get("also", [])]:
            assert any(record_matches(r, want) for r in rows), f"not in Kafka: {exp['name']}: {want}"
    assert parse_errors == 0
    assert {r["agentAddr"] for r in rows} == {ip16(lab.agent_ip)}
    assert {r["agentSubId"] for r in rows} == {42}
    assert {r["exporterAddr"] for r in rows} == {ip16("127.0.0.1")}
    now = time.time_ns()
    assert all(now - 120e9 < r["timeReceivedNs"] <= now for r in rows)
