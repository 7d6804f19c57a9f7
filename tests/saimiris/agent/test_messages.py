"""Probe-topic records: well-formed ones, precise errors for broken ones, and a fuzzed handling path."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nxthdr.core.addr import V4_MAPPED
from nxthdr.core.kafka import KafkaSettings
from nxthdr.core.metrics import Metrics
from nxthdr.saimiris.agent import config as agent_config
from nxthdr.saimiris.agent.consumer import ProbeConsumer
from nxthdr.saimiris.agent.instances import InstanceTable
from nxthdr.saimiris.agent.messages import Cancel, Ignore, MessageError, Probes, classify
from nxthdr.saimiris.agent.sender import SenderCounters
from nxthdr.saimiris.agent.tracking import Measurements
from nxthdr.saimiris.gateway.publisher import header_value
from nxthdr.saimiris.probe import Probe, encode_probes, ip16
from tests.support.configs import program_config

PROBES = [Probe(ip16("2001:db8::1"), 24000, 33434, t, "udp") for t in range(1, 4)]


def test_the_gateways_records_are_understood():
    value = encode_probes(PROBES)
    headers = [("other", header_value("2001:db8:9::1", "m1", False)), ("me", header_value("2001:db8::5", "m1", True))]
    d = classify(b"m1", value, headers, "me")
    assert isinstance(d, Probes) and d.probes == PROBES
    assert (d.header.src_ip, d.header.measurement_id, d.header.end_of_measurement) == ("2001:db8::5", "m1", True)
    assert isinstance(classify(b"m1", value, headers, "nobody"), Ignore)
    d = classify(b"m1", b"", [("me", header_value("2001:db8::5", "m1", True, cancel=True))], "me")
    assert isinstance(d, Cancel) and d.header.measurement_id == "m1"


def test_a_record_of_too_many_probes_is_refused_before_decoding():
    # 381 KB of gzip held a million probes (issue 16): the decompressed value is refused by its size.
    from nxthdr.saimiris.agent.messages import MAX_PROBES_PER_RECORD

    headers = [("me", header_value("2001:db8::5", "m1", False))]
    one = encode_probes(PROBES[:1])
    with pytest.raises(MessageError, match=f"more than {MAX_PROBES_PER_RECORD} probes"):
        classify(b"m1", one * (MAX_PROBES_PER_RECORD + 1), headers, "me")
    d = classify(b"m1", one * 1000, headers, "me")
    assert isinstance(d, Probes) and len(d.probes) == 1000


@pytest.mark.parametrize("header, message", [
    (b"{", "header value: not JSON"),
    (b"\xff", "header value: not UTF-8"),
    (b"[]", "expected a JSON object, got list"),
    (json.dumps({"measurement_id": "m"}).encode(), "header field src_ip"),
    (json.dumps({"src_ip": "::1", "end_of_measurement": "yes"}).encode(), "header field end_of_measurement"),
    (json.dumps({"src_ip": "::1", "measurement_id": 5}).encode(), "header field measurement_id"),
])
def test_broken_headers_name_the_field(header, message):
    with pytest.raises(MessageError) as e:
        classify(b"m", encode_probes(PROBES), [("me", header)], "me")
    assert message in str(e.value) and e.value.kind == "header"


def test_broken_probes_name_the_probe_and_field():
    value = bytearray(encode_probes(PROBES))
    # Third message's protocol enum (data section offset 6 of the struct, after the 16-byte framing + root).
    third = 2 * (len(value) // 3)
    value[third + 16 + 6] = 9
    with pytest.raises(MessageError) as e:
        classify(b"m", bytes(value), [("me", header_value("::1", "m", True))], "me")
    assert str(e.value) == "measurement m: probe at index 2: field protocol: unknown protocol enum value 9"
    with pytest.raises(MessageError, match="probe at index 0: malformed Cap'n Proto message"):
        classify(b"m", b"\x00\x00\x00\x00\xff\xff\x00\x00", [("me", header_value("::1", "m", True))], "me")


@dataclass
class TP:
    topic: str
    partition: int

    def __hash__(self):
        return hash((self.topic, self.partition))


@dataclass
class Record:
    key: bytes | None
    value: bytes | None
    headers: list
    offset: int


class NullSender:
    queued_probes = 0

    def __init__(self):
        self.jobs = []

    def submit(self, job):
        self.jobs.append(job)


def make_consumer():
    cfg = program_config(agent_config.SCHEMA, {"agent": {"id": "me"},
                                               "caracat": [{"name": "i", "src_ipv6_prefix": "2001:db8::/32"}]}, {})
    insts = agent_config.instances(cfg)
    table = InstanceTable(insts, {"i": (V4_MAPPED + bytes(4), None)})
    metrics = Metrics("t")
    sender = NullSender()
    consumer = ProbeConsumer(KafkaSettings(), ["t"], "g", "me", table, {"i": sender}, {"i": 10}, Measurements(),
                             SenderCounters(metrics), metrics)
    return consumer, sender


header_values = st.one_of(
    st.binary(max_size=64),
    st.builds(lambda d: json.dumps(d).encode(), st.dictionaries(
        st.sampled_from(["src_ip", "measurement_id", "end_of_measurement", "cancel", "x"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20),
                  st.sampled_from(["2001:db8::1", "10.0.0.1", "::ffff:1.2.3.4", "2001:db9::1"])), max_size=5)),
)


def mutate(data: bytes, edits) -> bytes:
    b = bytearray(data)
    for pos, val in edits:
        if b:
            b[pos % len(b)] = val
    return bytes(b)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.one_of(st.none(), st.binary(max_size=40)),
       value=st.one_of(st.none(), st.binary(max_size=200),
                       st.builds(mutate, st.just(encode_probes(PROBES)),
                                 st.lists(st.tuples(st.integers(0, 10 ** 4), st.integers(0, 255)), max_size=6))),
       headers=st.lists(st.tuples(st.sampled_from(["me", "other", b"me", b"\xff"]), header_values), max_size=3))
def test_fuzzed_records_never_escape(key, value, headers):
    """Whatever a record holds, handling it counts an outcome, marks the offset done or queues a job; it never raises."""
    async def go():
        consumer, sender = make_consumer()
        tp = TP("t", 0)
        consumer.tracker.add(tp, 7)
        consumer.handle(tp, Record(key, value, headers, 7))
        return consumer, sender, tp

    consumer, sender, tp = asyncio.run(go())
    outcomes = sum(consumer.records.values.values())
    assert outcomes == 1
    if sender.jobs:
        assert consumer.tracker.committable() == {tp: 7}  # the record waits for its probes
        assert all(isinstance(p, Probe) for p in sender.jobs[0].probes)
    else:
        assert consumer.tracker.committable() == {tp: 8}
