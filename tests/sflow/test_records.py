"""Encoded SFlowFlowRecord messages read back with pycapnp, every field compared with the decoded datagram."""

from __future__ import annotations

import pytest

from nxthdr.core.capnp_codec import load_schema
from nxthdr.sflow import SFlowRecordEncoder, decode_datagram
from nxthdr.sflow.records import exporter_bytes
from tests.sflow import cases

EXPORTER = exporter_bytes("2001:db8::99")


def _expected(dg, s, t_ns, port) -> dict:
    p = s.packet
    sw, rt, gw = s.switch, s.router, s.gateway
    return {
        "timeReceivedNs": t_ns, "agentAddr": dg.agent_ip, "agentPort": port, "agentSubId": dg.sub_agent_id,
        "datagramSequenceNumber": dg.sequence, "uptime": dg.uptime, "sampleSequenceNumber": s.sequence,
        "sourceId": s.source_index, "samplingRate": s.sampling_rate, "samplePool": s.sample_pool, "drops": s.drops,
        "inputInterface": s.input_if, "outputInterface": s.output_if, "length": p.length, "protocol": p.protocol,
        "srcIp": p.src_ip, "dstIp": p.dst_ip, "srcPort": p.src_port, "dstPort": p.dst_port, "tcpFlags": p.tcp_flags,
        "tos": p.tos, "exporterAddr": EXPORTER, "etype": p.etype, "vlan": p.vlan, "innerVlan": p.inner_vlan,
        "srcVlan": sw.src_vlan if sw else 0, "dstVlan": sw.dst_vlan if sw else 0,
        "nextHop": rt.next_hop if rt else (gw.next_hop if gw else b"\0" * 16),
        "srcMask": rt.src_mask if rt else 0, "dstMask": rt.dst_mask if rt else 0,
        "srcAs": gw.src_as if gw else 0, "dstAs": gw.dst_as if gw else 0,
        "srcPeerAs": gw.src_peer_as if gw else 0, "dstPeerAs": gw.dst_peer_as if gw else 0,
        "icmpType": p.icmp_type, "icmpCode": p.icmp_code, "ipTtl": p.ttl, "fragmentOffset": p.fragment_offset,
    }


def _all_datagrams(pmacct):
    return pmacct + list(cases.datagrams().values())


def test_roundtrip_every_field(pmacct_datagrams):
    enc = SFlowRecordEncoder()
    schema = load_schema("sflow.capnp").SFlowFlowRecord
    fields = [f for f in schema.schema.fieldnames]
    total = 0
    for i, raw in enumerate(_all_datagrams(pmacct_datagrams)):
        dg = decode_datagram(raw)
        t_ns = 1_700_000_000_123_456_789 + i
        msgs = enc.encode(dg, t_ns, EXPORTER, 40000 + i)
        expected = [_expected(dg, s, t_ns, 40000 + i) for s in dg.flow_samples if s.packet is not None]
        got = list(schema.read_multiple_bytes(b"".join(msgs)))
        assert len(got) == len(expected) == len(msgs)
        for m, e in zip(got, expected):
            d = m.to_dict()
            assert set(fields) == set(e)
            for f in fields:
                assert d[f] == e[f], f
        # Each message is independently framed: reading one alone gives the same record.
        for m, e in zip(msgs, expected):
            with schema.from_bytes(m) as one:
                assert one.sampleSequenceNumber == e["sampleSequenceNumber"]
        total += len(msgs)
    assert total > 40


def test_counters_and_non_ip_samples_produce_nothing():
    dg = decode_datagram(cases.datagrams()["truncated"])
    assert len(SFlowRecordEncoder().encode(dg, 0, EXPORTER, 1)) == 2  # the sample cut inside IPv4 gives none
    dg = decode_datagram(cases.datagrams()["expanded_and_counters"])
    assert len(SFlowRecordEncoder().encode(dg, 0, EXPORTER, 1)) == 2  # two counter samples give none


@pytest.mark.parametrize("addr, expected", [("192.0.2.1", b"\0" * 10 + b"\xff\xff\xc0\0\x02\x01"),
                                            (b"\xc0\0\x02\x01", b"\0" * 10 + b"\xff\xff\xc0\0\x02\x01")])
def test_exporter_address_forms(addr, expected):
    assert exporter_bytes(addr) == expected
