"""Hand-built datagrams: the expected values are the inputs the datagrams were built from."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from nxthdr.sflow import SFlowError, decode_datagram
from nxthdr.sflow.decoder import ExtendedGateway, SampledIp, UnknownRecord
from tests.sflow import cases
from tests.sflow import frames as F


def _ip(text: str) -> bytes:
    ip = ipaddress.ip_address(text)
    return (b"\0" * 10 + b"\xff\xff" + ip.packed) if ip.version == 4 else ip.packed


D = cases.datagrams()


def test_expanded_and_compact_samples_strip_format_bits_the_same_way():
    dg = decode_datagram(D["expanded_and_counters"])
    assert dg.counter_samples == 2 and len(dg.flow_samples) == 2
    exp, comp = dg.flow_samples
    assert exp.expanded and not comp.expanded
    assert (exp.source_type, exp.source_index, exp.input_if, exp.output_format, exp.output_if) == (
        0, 70000, 0x12345678, 2, 0x40000005)
    assert (comp.source_type, comp.source_index) == (2, 70001)
    assert (comp.input_format, comp.input_if, comp.output_format, comp.output_if) == (1, 5, 2, 7)
    assert (exp.sampling_rate, exp.sample_pool, exp.drops) == (512, 51200, 3)
    assert exp.packet.tcp_flags == 0x12 and comp.packet.tcp_flags == 0x11


def test_unknown_formats_and_enterprises_are_skipped_by_length():
    dg = decode_datagram(D["unknown_formats"])
    assert dg.skipped_samples == 1 and len(dg.flow_samples) == 1
    dg = decode_datagram(cases.enterprise_datagram())
    assert dg.skipped_samples == 1
    (s,) = dg.flow_samples
    assert isinstance(s.records[0], UnknownRecord) and s.records[0].enterprise == 4413
    assert s.packet.tcp_flags == 0x04


def test_qinq_8021ad_and_9100():
    a, b = decode_datagram(D["qinq"]).flow_samples
    assert (a.packet.vlan, a.packet.inner_vlan, a.packet.protocol, a.packet.dst_port) == (200, 300, 17, 53)
    assert (b.packet.vlan, b.packet.inner_vlan, b.packet.ip_version, b.packet.etype) == (11, 12, 6, 0x86DD)


def test_ipv6_extension_headers_reach_the_transport():
    hbh_frag, routing, later_frag, icmp6 = (s.packet for s in decode_datagram(D["ipv6_extensions"]).flow_samples)
    assert (hbh_frag.protocol, hbh_frag.src_port, hbh_frag.dst_port, hbh_frag.tcp_flags) == (6, 2345, 443, 0x18)
    assert (hbh_frag.tos, hbh_frag.ttl) == (0x2E, 17)
    assert (routing.protocol, routing.src_port, routing.dst_port) == (17, 3456, 4789)
    assert (later_frag.protocol, later_frag.fragment_offset, later_frag.src_port) == (17, 100, 0)
    assert (icmp6.protocol, icmp6.icmp_type, icmp6.icmp_code, icmp6.src_port) == (58, 1, 4, 0)


def test_ipv4_options_and_full_tos_byte():
    (s,) = decode_datagram(D["ipv4_options"]).flow_samples
    assert (s.packet.src_port, s.packet.dst_port, s.packet.tos, s.packet.length) == (6000, 6001, 0xFF, 32 + 8 + 20)


def test_truncated_headers_decode_as_far_as_captured():
    full, cut_tcp, cut_ip = decode_datagram(D["truncated"]).flow_samples
    assert full.packet.length == 20 + 20 + 1300 and full.packet.tcp_flags == 0x10 and not full.packet.truncated
    assert (cut_tcp.packet.src_port, cut_tcp.packet.dst_port, cut_tcp.packet.tcp_flags) == (4321, 8443, 0)
    assert cut_tcp.packet.truncated and cut_tcp.packet.length == 1340
    assert cut_ip.packet is None


def test_raw_ip_header_protocols():
    v4, v6 = decode_datagram(D["raw_ip_headers"]).flow_samples
    assert (v4.packet.ip_version, v4.packet.src_port, v4.packet.dst_port) == (4, 7, 8)
    assert (v6.packet.ip_version, v6.packet.protocol, v6.packet.tcp_flags) == (6, 6, 0x02)


def test_extended_records_and_preference():
    s1, s2, s3, s4 = decode_datagram(D["extended"]).flow_samples
    assert (s1.switch.src_vlan, s1.switch.dst_vlan) == (10, 20)
    assert (s1.router.next_hop, s1.router.src_mask, s1.router.dst_mask) == (_ip("192.0.2.254"), 24, 16)
    g = s1.gateway
    assert (g.as_number, g.src_as, g.src_peer_as, g.dst_as_path) == (65000, 64500, 64501, (64510, 64511, 64512, 64513))
    assert (g.dst_as, g.dst_peer_as, g.communities, g.local_pref) == (64513, 64510, (0xFDE80064,), 200)
    # Empty path: destination in the router's own AS.
    assert (s2.gateway.dst_as, s2.gateway.dst_peer_as) == (65000, 0)
    assert s2.router.next_hop == _ip("2001:db8::fe")
    assert isinstance(s2.records[2], SampledIp)
    assert (s2.packet.ip_version, s2.packet.length, s2.packet.dst_port, s2.packet.tos) == (6, 120, 5353, 0x20)
    assert (s3.packet.length, s3.packet.tcp_flags, s3.packet.tos, s3.packet.src_port) == (1500, 0x12, 0x10, 80)
    # Sampled header preferred over a Sampled IPv4 that came first.
    assert s4.packet.src_ip == _ip(cases.A4) and s4.packet.tcp_flags == 0x01
    assert isinstance(s1.gateway, ExtendedGateway)


def test_agent_ipv6_and_properties():
    dg = decode_datagram(D["extended"])
    assert dg.agent_ip_version == 6 and str(dg.agent_address) == "2001:db8::1"
    assert str(dg.flow_samples[0].packet.src_address) == cases.A4


@pytest.mark.parametrize("data, reason", [
    (b"", "truncated"),
    (struct.pack("!I", 4) + b"\0" * 40, "bad_version"),
    (struct.pack("!II", 5, 3) + b"\0" * 40, "bad_address_type"),
    (F.datagram([])[:-4] + struct.pack("!I", 1000), "too_many_samples"),
    (F.datagram([F.flow_sample([])])[:-4], "truncated"),
])
def test_errors_have_reasons(data, reason):
    with pytest.raises(SFlowError) as e:
        decode_datagram(data)
    assert e.value.reason == reason and isinstance(e.value, ValueError)


def test_record_count_checked_before_looping():
    body = struct.pack("!IIIIIIII", 1, 1, 1, 1, 0, 1, 2, 0xFFFFFFFF)
    data = F.datagram([struct.pack("!II", 1, len(body)) + body])
    with pytest.raises(SFlowError) as e:
        decode_datagram(data)
    assert e.value.reason == "too_many_records"


def test_input_whole_and_with_trailing_garbage_decode_the_same():
    raw = D["extended"]
    assert decode_datagram(raw) == decode_datagram(raw + b"\x01\x02\x03")
    assert decode_datagram(bytearray(raw)) == decode_datagram(memoryview(raw))


def test_every_prefix_fails_cleanly_or_decodes():
    raw = D["expanded_and_counters"]
    for n in range(len(raw)):
        try:
            decode_datagram(raw[:n])
        except SFlowError:
            pass
