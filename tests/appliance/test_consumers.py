"""The appliance's Kafka consumers (the stand-in for ClickHouse's Kafka tables), with the real broker.

What they store is compared with what the store holds when the same messages
are inserted directly (tests/storage checks those rows field by field against
the messages), so a value lost or changed on the way through Kafka shows up.
Delivery: offsets are committed only after the insert; a restart reads on from
the committed offsets (nothing twice after a SIGTERM or a kill -9 once
committed), and a poll whose insert failed is never committed and is read again.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from pathlib import Path

import pytest

from nxthdr.appliance.app import consumed
from nxthdr.appliance.consumer import TopicConsumer
from nxthdr.clickhouse.tables import SPECS
from nxthdr.core import config
from nxthdr.core.kafka import KafkaSettings
from nxthdr.core.metrics import Metrics
from nxthdr.saimiris.reply import encode_reply
from nxthdr.storage.sink import StoreSink
from nxthdr.storage.store import Store
from tests.appliance.helpers import ApplianceProcess, count, query
from tests.appliance.test_kafka import _reply
from tests.storage.helpers import bmp_messages, flow_messages
from tests.support.kafka_client import group_offsets, produce
from tests.support.wait import wait_until

MALFORMED = b"\x05\x00\x00\x00not a stream"
TABLES = {"bmp": "bmp.updates", "flows": "flows.records", "saimiris": "saimiris.replies"}
TOPIC_KEYS = {"bmp": "updates_topic", "flows": "flows_topic", "saimiris": "replies_topic"}


def records(messages, per_record: int) -> list[bytes]:
    """Messages in stream framing, several per record, as the collectors' Kafka sinks write them."""
    messages = list(messages)
    return [b"".join(messages[i:i + per_record]) for i in range(0, len(messages), per_record)]


def reply_messages(n: int = 40) -> list[bytes]:
    now = time.time_ns()
    return [encode_reply(_reply(i % 25, now + i * 1000)) for i in range(n)]


def every_row(sql_table: str) -> str:
    # Everything but the insertion time, in a total order: equal text means equal tables
    # (extended communities' values are bytes: as hex, so the output is text).
    if sql_table == "bmp.updates":
        return ("SELECT * EXCEPT (time_inserted_ns, extended_communities), arrayMap(x -> (x.1, x.2, hex(x.3)), "
                "extended_communities) AS ext FROM bmp.updates ORDER BY ALL FORMAT JSONEachRow")
    return f"SELECT * EXCEPT (time_inserted_ns) FROM {sql_table} ORDER BY ALL FORMAT JSONEachRow"


def reference_rows(tmp_path: Path, pipeline: str, messages: list[bytes]) -> list[str]:
    """The rows of the same messages inserted directly into a store of this process."""
    store = Store(tmp_path / f"reference-{pipeline}", pipelines=(pipeline,))
    store.open()
    try:
        assert store.insert_messages(pipeline, messages) == len(messages)
        return store.query(every_row(TABLES[pipeline])).decode().splitlines()
    finally:
        store.close()


def appliance_config(tmp_path: Path, bootstrap: str, topics: dict[str, str], groups: dict[str, str],
                     pipelines=("bmp", "flows", "saimiris")) -> Path:
    """Collectors off, consumers on: ClickHouse reading Kafka."""
    cfg = {"bmp": {"enable": False}, "sflow": {"enable": False},
           "kafka": {"brokers": bootstrap, **{TOPIC_KEYS[p]: topics[p] for p in pipelines}},
           "consume": {p: {"enable": True, "group": groups[p]} for p in pipelines}}
    path = tmp_path / "appliance.json"  # YAML is a superset of JSON
    path.write_text(json.dumps(cfg))
    return path


def names(prefix: str) -> tuple[dict[str, str], dict[str, str]]:
    tag = uuid.uuid4().hex[:8]
    return ({p: f"{prefix}-{p}-{tag}" for p in TABLES}, {p: f"g-{prefix}-{p}-{tag}" for p in TABLES})


def test_each_pipeline_lands_in_the_store_with_its_values(kafka, tmp_path):
    topics, groups = names("land")
    sent = {"bmp": list(bmp_messages()), "flows": list(flow_messages()), "saimiris": reply_messages()}
    app = ApplianceProcess(tmp_path / "data", "-c", str(appliance_config(tmp_path, kafka.bootstrap, topics,
                                                                         groups))).start()
    try:
        for p, msgs in sent.items():
            recs = records(msgs, 64)
            produce(kafka.bootstrap, topics[p], recs[:1] + [MALFORMED] + recs[1:])
        # flows.records drops samples without a sampling rate; the lab capture has none.
        for p, msgs in sent.items():
            wait_until(lambda: count(app.data_dir, TABLES[p]) == len(msgs), 60, f"{p} rows", details=app.logs)
        for p, msgs in sent.items():
            out = query("--url", app.url, every_row(TABLES[p]))
            assert out.returncode == 0, out.stderr
            assert out.stdout.splitlines() == reference_rows(tmp_path, p, msgs), p
        text = app.metrics()
        for p, msgs in sent.items():
            n = len(records(msgs, 64))
            assert f'appliance_consumer_records_total{{database="{p}",status="malformed"}} 1.0' in text
            assert f'appliance_consumer_records_total{{database="{p}",status="success"}} {float(n)}' in text
            assert f'appliance_consumer_messages_total{{database="{p}"}} {float(len(msgs))}' in text
            assert f'appliance_storage_rows_total{{database="{p}"}} {float(len(msgs))}' in text
            assert f'appliance_consumer_lag{{database="{p}"}} 0.0' in text
        # The malformed record is skipped, not retried: everything is committed.
        for p in sent:
            wait_until(lambda: all(c == end for c, end in group_offsets(kafka.bootstrap, topics[p],
                                                                         groups[p]).values()),
                       20, f"{p} offsets committed")
    finally:
        assert app.stop() == 0, app.logs()


def test_restart_reads_on_from_the_committed_offsets(kafka, tmp_path):
    """SIGTERM while records stream in, a kill -9 once they are committed: every message
    stored exactly once after each restart (none lost, none read twice)."""
    topics, groups = names("restart")
    topic, group = topics["flows"], groups["flows"]
    cfg = appliance_config(tmp_path, kafka.bootstrap, topics, groups, pipelines=("flows",))
    data = tmp_path / "data"
    msgs = list(flow_messages())
    chunk = records(msgs, 16)
    total = 0

    def stored() -> int:
        return count(data, "flows.records")

    app = ApplianceProcess(data, "-c", str(cfg)).start()
    try:
        produce(kafka.bootstrap, topic, chunk)
        total += len(msgs)
        wait_until(lambda: stored() == total, 60, "the first records", details=app.logs)

        # Graceful stop while a producer keeps writing: the poll under way is inserted and committed.
        streaming = threading.Thread(target=lambda: [produce(kafka.bootstrap, topic, chunk) for _ in range(6)])
        streaming.start()
        time.sleep(0.5)
        assert app.stop() == 0, app.logs()
        streaming.join(120)
        total += 6 * len(msgs)
        committed, end = group_offsets(kafka.bootstrap, topic, group)[0]
        assert committed is not None and committed <= end
        produce(kafka.bootstrap, topic, chunk)  # while the appliance is down
        total += len(msgs)

        app.start()
        wait_until(lambda: stored() >= total, 90, "the records after the restart", details=app.logs)
        time.sleep(3)  # anything read twice would show up by now
        assert stored() == total
        wait_until(lambda: len(set(group_offsets(kafka.bootstrap, topic, group)[0])) == 1, 20,
                   "the offsets committed")

        # A kill -9 once everything is committed: the rows are on disk, the offsets in Kafka.
        app.kill()
        produce(kafka.bootstrap, topic, chunk)
        total += len(msgs)
        app.start()  # joins the group again once the killed member's session expires
        wait_until(lambda: stored() >= total, 90, "the records after the kill", details=app.logs)
        time.sleep(3)
        assert stored() == total
    finally:
        if app.proc is not None:
            assert app.stop() == 0, app.logs()


def test_a_refused_insert_is_never_committed_and_is_read_again(kafka, tmp_path):
    """The store refuses inserts for real (its storage table detached under the view): the
    consumer commits nothing, a restart in the same group reads the records again, and the
    same consumer gets through once the table is back."""
    topic, group = f"refused-{uuid.uuid4().hex[:8]}", f"g-refused-{uuid.uuid4().hex[:8]}"
    msgs = list(flow_messages())

    async def scenario() -> None:
        store = Store(tmp_path / "store", pipelines=("flows",))
        store.open()
        sink = StoreSink(store, "flows", Metrics("t"), flush_interval=0.05)
        await sink.start()

        def consumer() -> TopicConsumer:
            return TopicConsumer("flows", KafkaSettings(brokers=kafka.bootstrap, topic=topic), group, sink,
                                 Metrics("t"), poll_ms=100)

        def rows() -> int:
            return int(store.query("SELECT count() FROM flows.records"))

        async def until(cond, what: str, timeout: float = 60) -> None:
            deadline = time.monotonic() + timeout
            while not cond():
                assert time.monotonic() < deadline, f"timed out waiting for {what}"
                await asyncio.sleep(0.1)

        def offsets() -> tuple:
            return group_offsets(kafka.bootstrap, topic, group)[0]

        try:
            store.query("DETACH TABLE flows.records")
            first = consumer()
            await first.start()
            await asyncio.to_thread(produce, kafka.bootstrap, topic, records(msgs, 32))
            await until(lambda: first.m_retries.values[("flows",)] >= 2, "the insert to be retried")
            assert first.m_commits.values[("flows", "success")] == 0
            await first.stop()  # as a crash would leave it: read, not stored, not committed
            committed, end = await asyncio.to_thread(offsets)
            assert committed is None and end == len(records(msgs, 32))

            store.query("ATTACH TABLE flows.records")
            second = consumer()
            await second.start()
            try:
                await until(lambda: rows() == len(msgs), "the records read again")
                await until(lambda: second.m_commits.values[("flows", "success")] >= 1, "a commit")
                assert await asyncio.to_thread(offsets) == (end, end)

                # The same consumer, the table gone again, then back: it gets through by itself.
                store.query("DETACH TABLE flows.records")
                await asyncio.to_thread(produce, kafka.bootstrap, topic, records(msgs, 32))
                await until(lambda: second.m_retries.values[("flows",)] >= 1, "the insert to be retried")
                assert (await asyncio.to_thread(offsets))[0] == end
                store.query("ATTACH TABLE flows.records")
                await until(lambda: rows() == 2 * len(msgs), "the retried records", timeout=90)
                for _ in range(100):  # their commit
                    if (await asyncio.to_thread(offsets))[0] == 2 * end:
                        break
                    await asyncio.sleep(0.2)
                assert (await asyncio.to_thread(offsets)) == (2 * end, 2 * end)
                await asyncio.sleep(1)
                assert rows() == 2 * len(msgs)
            finally:
                await second.stop()
        finally:
            await sink.stop()
            store.close()

    asyncio.run(scenario())


def test_a_full_buffer_makes_the_consumer_wait_not_drop(kafka, tmp_path):
    """Records of 32 messages into a sink that holds 10: every message stored, none dropped."""
    topic, group = f"full-{uuid.uuid4().hex[:8]}", f"g-full-{uuid.uuid4().hex[:8]}"
    msgs = list(flow_messages())
    produce(kafka.bootstrap, topic, records(msgs, 32))

    async def scenario() -> tuple[int, float, tuple]:
        store = Store(tmp_path / "store", pipelines=("flows",))
        store.open()
        sink = StoreSink(store, "flows", Metrics("t"), batch_rows=7, max_buffer=10)
        c = TopicConsumer("flows", KafkaSettings(brokers=kafka.bootstrap, topic=topic), group, sink, Metrics("t"),
                          poll_ms=100)
        await sink.start()
        await c.start()
        try:
            deadline = time.monotonic() + 60
            while int(store.query("SELECT count() FROM flows.records")) < len(msgs):
                assert time.monotonic() < deadline, "timed out waiting for the rows"
                await asyncio.sleep(0.1)
            while c.m_commits.values[("flows", "success")] == 0:
                await asyncio.sleep(0.1)
        finally:
            await c.stop()
            await sink.stop()
            n = int(store.query("SELECT count() FROM flows.records"))
            store.close()
        return n, sink.m_dropped.values[("flows", "buffer_full")], await asyncio.to_thread(
            group_offsets, kafka.bootstrap, topic, group)

    n, dropped, offsets = asyncio.run(scenario())
    assert (n, dropped) == (len(msgs), 0)
    assert offsets[0] == (len(records(msgs, 32)),) * 2


def test_stop_without_a_broker_does_not_hang(tmp_path):
    """A consumer still connecting (no broker) stops at once."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]

    async def scenario() -> float:
        store = Store(tmp_path / "store", pipelines=("saimiris",))
        sink = StoreSink(store, "saimiris", Metrics("t"))
        c = TopicConsumer("saimiris", KafkaSettings(brokers=f"127.0.0.1:{closed}", topic="t"), "g", sink,
                          Metrics("t"))
        await c.start()
        await asyncio.sleep(1)
        assert c._health()[0] is False
        t0 = time.monotonic()
        await c.stop()
        return time.monotonic() - t0

    assert asyncio.run(scenario()) < 5


# -- configuration ---------------------------------------------------------------------------------

def defaults() -> dict:
    return config.defaults(config.load_schema("appliance"))


def test_defaults_are_the_clickhouse_deployments_topics_and_groups():
    d = defaults()
    for p, spec in SPECS.items():
        assert d["kafka"][TOPIC_KEYS[p]] == spec.topic
        assert d["consume"][p] == {"enable": False, "group": spec.consumer_group}
    assert consumed(d) == {}


def test_replies_is_a_deprecated_alias_of_consume_saimiris():
    d = defaults()
    d["replies"]["enable"] = True
    assert consumed(d) == {"saimiris": "nxthdr-appliance-replies"}  # the old group: its offsets carry over
    d["consume"]["saimiris"]["enable"] = True
    with pytest.raises(ValueError, match="consume.saimiris"):
        consumed(d)


def test_consumers_need_the_embedded_store(tmp_path):
    from nxthdr.appliance.app import Appliance

    d = defaults()
    d["storage"].update(mode="kafka", data_dir=str(tmp_path))
    d["consume"]["flows"]["enable"] = True
    with pytest.raises(ValueError, match="embedded store"):
        Appliance(d)


def test_in_both_mode_a_consumed_pipeline_reaches_the_store_through_kafka_only(tmp_path):
    """Else each row would be stored twice: once from the collector, once from the topic."""
    from nxthdr.appliance.app import Appliance

    d = defaults()
    d["storage"].update(mode="both", data_dir=str(tmp_path))
    for s in ("bmp", "sflow", "metrics", "query"):
        d[s]["address"] = "127.0.0.1:0"
    d["consume"]["bmp"]["enable"] = True
    app = Appliance(d)
    assert app.sinks["bmp"] not in app.risotto.sink.sinks
    assert app.sinks["flows"] in app.pesto.unit.sink.sinks
    assert set(app.consumers) == {"bmp"}
