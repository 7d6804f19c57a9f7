"""Defect 6 of the reference: a Kafka batch that fills in the middle of a datagram must not lose the rest.

Sans-I/O: the Kafka sink is never started, so sealed batches stay in its buffer
where the test can read them.
"""

from __future__ import annotations

from nxthdr.core.kafka import KafkaSettings, KafkaSink
from nxthdr.core.metrics import Metrics
from nxthdr.pesto.processor import Processor
from nxthdr.sflow import decode_datagram
from tests.pesto.helpers import read_records


def test_full_batch_keeps_the_rest_of_the_datagram(pmacct_datagrams):
    metrics = Metrics("pesto")
    # About four records per Kafka record: every datagram (2..8 samples) crosses a batch boundary.
    sink = KafkaSink(KafkaSettings(topic="t", message_max_bytes=1024, buffer_size=10**6), metrics)
    p = Processor(sink, metrics)
    produced = sum(p.handle(d, "192.0.2.1", 6343) for d in pmacct_datagrams)
    sink.flush_batches()
    records = [rec[1] for rec in sink._records]  # (key, value, ...) in order
    assert all(len(v) <= 1024 for v in records) and len(records) > len(pmacct_datagrams)
    rows = [r for v in records for r in read_records(v)]
    assert produced == len(rows) == sum(len(decode_datagram(d).flow_samples) for d in pmacct_datagrams) == 43
    # Every sample of every datagram, in order.
    seen = [(r["datagramSequenceNumber"], r["sampleSequenceNumber"]) for r in rows]
    want = [(d.sequence, s.sequence) for d in map(decode_datagram, pmacct_datagrams) for s in d.flow_samples]
    assert seen == want
    assert metrics.registry.get_sample_value("pesto_dropped_messages_total", {"reason": "kafka_buffer_full"}) is None


def test_exporter_key_mode(pmacct_datagrams):
    metrics = Metrics("pesto")
    sink = KafkaSink(KafkaSettings(topic="t"), metrics)
    Processor(sink, metrics, key_mode="exporter").handle(pmacct_datagrams[0], "::ffff:192.0.2.1", 6343)
    assert list(sink._batches) == [b"\0" * 10 + b"\xff\xff" + bytes([192, 0, 2, 1])]


def test_exporter_labels_are_bounded(pmacct_datagrams):
    metrics = Metrics("pesto")
    sink = KafkaSink(KafkaSettings(topic="t"), metrics)
    p = Processor(sink, metrics, max_exporters=3)
    for i in range(10):
        p.handle(pmacct_datagrams[0], f"192.0.2.{i}", 6343)
    labels = {k[0] for k in p.m_exporter.values}
    assert labels == {"192.0.2.0", "192.0.2.1", "192.0.2.2", "other"}
    assert p.m_exporter.get(("other", "success")) == 7


def test_a_full_buffer_never_drops_the_record_in_flight():
    # Found by the end-to-end bench: a record dropped from the buffer while the producer was
    # sending it was delivered anyway, and counted both as delivered and as dropped.
    metrics = Metrics("pesto")
    sink = KafkaSink(KafkaSettings(topic="t", message_max_bytes=1024, buffer_size=10), metrics)
    msg = b"x" * 600  # one message per record
    for _ in range(3):
        sink.emit(msg)
    head = sink._records[0][1]
    sink._in_flight = head  # what the sender does while it awaits the broker
    for _ in range(20):
        sink.emit(msg)
    assert sink._records[0][1] is head
    dropped = metrics.registry.get_sample_value("pesto_dropped_messages_total", {"reason": "kafka_buffer_full"})
    assert sink._buffered == len(sink._records) <= 10
    assert dropped == 22 - len(sink._records)  # 22 sealed, the rest still buffered (the last batch is open)
