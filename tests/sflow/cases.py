"""Hand-built sFlow datagrams for what pmacctd sfprobe never sends.

Expanded samples, counter samples, unknown formats, 802.1ad QinQ, IPv6
extension chains, IPv4 options, truncated captures, extended router and
gateway records, IPv6 agents, header protocols IPv4/IPv6 (11/12), and the
Sampled IPv4/IPv6 records. Used by the edge-case tests and also fed to tshark
by the cross-check test, so each of them is verified against an independent
dissector too.
"""

from __future__ import annotations

from tests.sflow import frames as F

A4, B4 = "198.51.100.10", "203.0.113.20"
A6, B6 = "2001:db8::10", "2001:db8:1::20"
MAC_A, MAC_B = F.mac("02:00:00:00:00:0a"), F.mac("02:00:00:00:00:0b")


def _eth(ethertype: int, payload: bytes, vlans=()) -> bytes:
    return F.ethernet(MAC_B, MAC_A, ethertype, payload, vlans)


def tcp4_frame(flags: int = 0x02, **kw) -> bytes:
    return _eth(F.ETH_IPV4, F.ipv4(A4, B4, 6, F.tcp(A4, B4, 1234, 80, flags), **kw))


def qinq_frame() -> bytes:
    return _eth(F.ETH_IPV4, F.ipv4(A4, B4, 17, F.udp(A4, B4, 5000, 53, b"q" * 12)),
                vlans=((F.ETH_8021AD, 200), (F.ETH_8021Q, 300)))


def qinq_9100_frame() -> bytes:
    return _eth(F.ETH_IPV6, F.ipv6(A6, B6, 17, F.udp(A6, B6, 5001, 53, b"q")),
                vlans=((0x9100, 11), (F.ETH_8021Q, 12)))


def ipv6_hbh_frag_tcp_frame() -> bytes:
    tcp = F.tcp(A6, B6, 2345, 443, 0x18, b"payload")
    chain = F.ipv6_ext(44, b"\x05\x02\x00\x00") + F.ipv6_fragment(6, 0, more=True, ident=9) + tcp
    return _eth(F.ETH_IPV6, F.ipv6(A6, B6, 0, chain, tclass=0x2E, hlim=17))


def ipv6_routing_dstopts_udp_frame() -> bytes:
    udp = F.udp(A6, B6, 3456, 4789, b"v" * 8)
    routing = F.ipv6_ext(60, b"\x04\x00" + b"\0" * 4)  # routing type 4 (SRH), segments left 0
    chain = routing + F.ipv6_ext(17, b"\x01\x04\0\0\0\0") + udp
    return _eth(F.ETH_IPV6, F.ipv6(A6, B6, 43, chain))


def ipv6_later_fragment_frame() -> bytes:
    return _eth(F.ETH_IPV6, F.ipv6(A6, B6, 44, F.ipv6_fragment(17, 100, more=False) + b"\0" * 24))


def ipv4_options_frame() -> bytes:
    # Record Route with room for 2 addresses (11 bytes) + End of options list → 12 bytes, IHL 8.
    rr = bytes((7, 11, 4)) + b"\0" * 8 + b"\x00"
    return _eth(F.ETH_IPV4, F.ipv4(A4, B4, 17, F.udp(A4, B4, 6000, 6001, b"o" * 20), options=rr, tos=0xFF))


def icmpv6_frame() -> bytes:
    return _eth(F.ETH_IPV6, F.ipv6(A6, B6, 58, F.icmpv6(A6, B6, 1, 4, b"\0" * 52)))


def big_tcp_frame() -> bytes:
    return _eth(F.ETH_IPV4, F.ipv4(A4, B4, 6, F.tcp(A4, B4, 4321, 8443, 0x10, b"z" * 1300)))


def datagrams() -> dict[str, bytes]:
    """Named datagrams; every one decodes without error."""
    d: dict[str, bytes] = {}
    d["expanded_and_counters"] = F.datagram([
        F.counter_sample(seq=1, source_index=3),
        F.expanded_flow_sample([F.sampled_header(tcp4_frame(0x12))], seq=41, source_type=0, source_index=70000,
                               rate=512, pool=51200, drops=3, input_format=0, input_if=0x12345678,
                               output_format=2, output_if=0x40000005),
        F.counter_sample(expanded=True, seq=2, source_index=4),
        F.flow_sample([F.sampled_header(tcp4_frame(0x11))], seq=42, source_type=2, source_index=70001, rate=512,
                      pool=51712, drops=4, input_if=(1 << 30) | 5, output_if=(2 << 30) | 7),
    ], agent="192.0.2.1", sub_agent=3, seq=900, uptime=123456)
    d["unknown_formats"] = F.datagram([
        F.unknown_record(99, b"\0" * 12),  # unknown sample format 99: skipped
        # The unknown record goes last: Wireshark 4.0 does not skip an unknown record's body.
        F.flow_sample([F.sampled_header(tcp4_frame(0x04)), F.unknown_record(1900, b"\0" * 20)], seq=7),
    ], agent="2001:db8::1", seq=2)
    d["qinq"] = F.datagram([F.flow_sample([F.sampled_header(qinq_frame())], seq=1),
                            F.flow_sample([F.sampled_header(qinq_9100_frame())], seq=2)])
    d["ipv6_extensions"] = F.datagram([
        F.flow_sample([F.sampled_header(ipv6_hbh_frag_tcp_frame())], seq=1),
        F.flow_sample([F.sampled_header(ipv6_routing_dstopts_udp_frame())], seq=2),
        F.flow_sample([F.sampled_header(ipv6_later_fragment_frame())], seq=3),
        F.flow_sample([F.sampled_header(icmpv6_frame())], seq=4),
    ])
    d["ipv4_options"] = F.datagram([F.flow_sample([F.sampled_header(ipv4_options_frame())], seq=1)])
    frame = big_tcp_frame()
    d["truncated"] = F.datagram([
        F.flow_sample([F.sampled_header(frame, captured=128)], seq=1),
        # Cut inside the TCP header: ports present, flags not.
        F.flow_sample([F.sampled_header(frame, captured=14 + 20 + 6)], seq=2),
        # Cut inside the IPv4 header: no IP record at all.
        F.flow_sample([F.sampled_header(frame, captured=14 + 12)], seq=3),
    ])
    d["raw_ip_headers"] = F.datagram([
        F.flow_sample([F.sampled_header(F.ipv4(A4, B4, 17, F.udp(A4, B4, 7, 8, b"r")), protocol=11)], seq=1),
        F.flow_sample([F.sampled_header(F.ipv6(A6, B6, 6, F.tcp(A6, B6, 9, 10, 0x02)), protocol=12)], seq=2),
    ])
    d["extended"] = F.datagram([
        F.flow_sample([
            F.sampled_header(tcp4_frame(0x02)),
            F.extended_switch(10, 1, 20, 2),
            F.extended_router("192.0.2.254", 24, 16),
            F.extended_gateway("192.0.2.254", 65000, 64500, 64501, [(2, [64510, 64511, 64512]), (1, [64513])],
                               communities=[0xFDE80064], local_pref=200),
        ], seq=5),
        F.flow_sample([
            F.extended_gateway("2001:db8::fe", 65000, 0, 0, []),
            F.extended_router("2001:db8::fe", 48, 64),
            F.sampled_ipv6(A6, B6, 17, 53, 5353, length=120, priority=0x20),
        ], seq=6),
        F.flow_sample([F.sampled_ipv4(A4, B4, 6, 80, 1234, length=1500, tcp_flags=0x12, tos=0x10)], seq=7),
        # Header wins over Sampled IPv4 whatever the order.
        F.flow_sample([F.sampled_ipv4(B4, A4, 17, 1, 2), F.sampled_header(tcp4_frame(0x01))], seq=8),
    ], agent="2001:db8::1")
    return d


def enterprise_datagram() -> bytes:
    """Non-zero enterprise sample and record, both skipped by length. Not fed to tshark: Wireshark 4.0
    loses its place after a non-zero enterprise and dissects the rest as garbage."""
    return F.datagram([
        F.unknown_record((9 << 12) | 1, b"\1" * 8),
        F.flow_sample([F.unknown_record((4413 << 12) | 5, b"\0" * 4), F.sampled_header(tcp4_frame(0x04))], seq=7),
    ])
