import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nxthdr.core.capnp_codec import load_schema
from nxthdr.saimiris.probe import (
    Probe,
    ProbeError,
    build_probe_packet,
    decode_probes,
    encode_probe,
    encode_probes,
    encode_timestamp,
    ip16,
    parse_probe_line,
    parse_probes_csv,
)
from tests.saimiris.wire import a4, a6, mapped, pseudo4, pseudo6, rfc1071

SRC4 = mapped("192.0.2.1")
SRC6 = a6("2001:db8:1::1")


def expected_ip_id(instance_id: int, dst4: bytes, sport: int, ttl: int) -> int:
    # The spec's formula with the reference engine's byte order (little-endian u32) and width.
    total = (instance_id + int.from_bytes(dst4, "little") + sport + ttl) & 0xFFFFFFFF
    return 0xFFFF - total % 65535


# -- the golden example ------------------------------------------------------------------------

def test_golden_example_packet():
    probe = Probe(a6("2001:4860:4860::8888"), 24000, 33434, 2, "udp")
    packet = build_probe_packet(probe, a6("2a04:8ec0:0:164:620c:e59a:daf8:21e9"), 0, 0xB8CB)
    assert packet == bytes.fromhex(
        "6000000000" "0c" "11" "02"  # version 6, TC 0, flow 0, payload 12, UDP, hop limit 2
        "2a048ec000000164620ce59adaf821e9"
        "20014860486000000000000000008888"
        "5dc0" "829a" "000c" "b8cb"  # 24000 -> 33434, length 12, checksum = target
        "2eb40000"  # tweak bytes, then ttl zero bytes
    )


def test_timestamp_is_mod_65535():
    assert encode_timestamp(65534) == 65534
    assert encode_timestamp(65535) == 0
    assert encode_timestamp(17_000_000_000_123) == 17_000_000_000_123 % 65535


# -- field by field ----------------------------------------------------------------------------

def check_ipv4(packet: bytes, probe: Probe, instance_id: int, proto: int) -> bytes:
    assert packet[0] == 0x45 and packet[1] == 0
    total, ident, frag = struct.unpack("!HHH", packet[2:8])
    assert total == len(packet) == 20 + 8 + probe.ttl + 2
    assert ident == expected_ip_id(instance_id, probe.dst_addr[12:], probe.src_port, probe.ttl) != 0
    assert frag == 0
    assert packet[8] == probe.ttl and packet[9] == proto
    assert rfc1071(packet[:20]) == 0  # header checksum valid
    assert packet[12:16] == SRC4[12:] and packet[16:20] == probe.dst_addr[12:]
    return packet[20:]


def check_ipv6(packet: bytes, probe: Probe, next_header: int) -> bytes:
    first, plen, nh, hlim = struct.unpack("!IHBB", packet[:8])
    assert first == 0x60000000  # traffic class 0, flow label 0
    assert plen == len(packet) - 40 == 8 + probe.ttl + 2
    assert nh == next_header and hlim == probe.ttl
    assert packet[8:24] == SRC6 and packet[24:40] == probe.dst_addr
    return packet[40:]


def check_payload(l4: bytes, ttl: int) -> None:
    payload = l4[8:]
    assert len(payload) == ttl + 2
    assert payload[2:] == bytes(ttl)  # only the two tweak bytes may be non-zero


@pytest.mark.parametrize("ttl", [0, 1, 6, 32, 255])
def test_udp_ipv4(ttl):
    probe = Probe(mapped("8.8.8.8"), 24000, 33434, ttl, "udp")
    now = 16_000_000_123_456
    packet = build_probe_packet(probe, SRC4, 3, now)
    udp = check_ipv4(packet, probe, 3, 17)
    sport, dport, length, checksum = struct.unpack("!HHHH", udp[:8])
    assert (sport, dport) == (24000, 33434)
    assert length == len(udp) and length - 10 == ttl  # TTL recoverable from the UDP length
    assert checksum == now % 65535  # the checksum *is* the timestamp
    assert rfc1071(pseudo4(SRC4[12:], a4("8.8.8.8"), 17, length) + udp) == 0
    check_payload(udp, ttl)


@pytest.mark.parametrize("ttl", [0, 1, 6, 255])
def test_udp_ipv6(ttl):
    probe = Probe(a6("2001:4860:4860::8888"), 1234, 53, ttl, "udp")
    packet = build_probe_packet(probe, SRC6, 0, 777)
    udp = check_ipv6(packet, probe, 17)
    sport, dport, length, checksum = struct.unpack("!HHHH", udp[:8])
    assert (sport, dport, length - 10, checksum) == (1234, 53, ttl, 777)
    assert rfc1071(pseudo6(SRC6, probe.dst_addr, 17, length) + udp) == 0
    check_payload(udp, ttl)


@pytest.mark.parametrize("ttl", [0, 6, 255])
def test_icmp_echo_ipv4(ttl):
    probe = Probe(mapped("8.8.8.8"), 24000, 0, ttl, "icmp")
    packet = build_probe_packet(probe, SRC4, 0, 66_000)
    icmp = check_ipv4(packet, probe, 0, 1)
    icmp_type, code, checksum, ident, seq = struct.unpack("!BBHHH", icmp[:8])
    assert (icmp_type, code) == (8, 0)
    assert ident == checksum == 24000  # flow id in the identifier and the (hashed) checksum
    assert seq == 66_000 % 65535
    assert rfc1071(icmp) == 0
    assert len(packet) - 30 == ttl  # TTL recoverable from the IP total length
    check_payload(icmp, ttl)


@pytest.mark.parametrize("ttl", [0, 6, 255])
def test_icmpv6_echo(ttl):
    probe = Probe(a6("2001:4860:4860::8844"), 40000, 0, ttl, "icmpv6")
    packet = build_probe_packet(probe, SRC6, 9, 12345)
    icmp = check_ipv6(packet, probe, 58)
    icmp_type, code, checksum, ident, seq = struct.unpack("!BBHHH", icmp[:8])
    assert (icmp_type, code, checksum, ident, seq) == (128, 0, 40000, 40000, 12345)
    assert rfc1071(pseudo6(SRC6, probe.dst_addr, 58, len(icmp)) + icmp) == 0
    check_payload(icmp, ttl)


@pytest.mark.parametrize("dst,src", [(mapped("8.8.8.8"), SRC4), (a6("2001:db8::8"), SRC6)])
def test_udp_zero_timestamp_is_sent_as_all_ones(dst, src):
    # 0 would mean "no checksum" (IPv4) or be invalid (IPv6); 0xFFFF is the same residue mod 65535.
    probe = Probe(dst, 24000, 33434, 3, "udp")
    packet = build_probe_packet(probe, src, 0, 65535 * 1000)
    l4 = packet[20:] if probe.is_ipv4 else packet[40:]
    assert l4[6:8] == b"\xff\xff"
    pseudo = pseudo4(src[12:], dst[12:], 17, len(l4)) if probe.is_ipv4 else pseudo6(src, dst, 17, len(l4))
    assert rfc1071(pseudo + l4) == 0


def test_flow_id_is_stable_across_timestamps():
    # Paris traceroute: what load balancers hash must not depend on the send time.
    for protocol, dst, src in (("udp", mapped("8.8.8.8"), SRC4), ("icmp", mapped("8.8.8.8"), SRC4),
                               ("icmpv6", a6("2001:db8::8"), SRC6)):
        probe = Probe(dst, 24000, 33434, 5, protocol)
        a = build_probe_packet(probe, src, 0, 100)
        b = build_probe_packet(probe, src, 0, 60_000)
        offset = 20 if probe.is_ipv4 else 40
        assert a[:offset] == b[:offset]  # IP header, IPv4 ID included
        # UDP: the ports; ICMP(v6): type, code and the (hashed) checksum.
        assert a[offset:offset + 4] == b[offset:offset + 4]
        assert a[offset + 6:offset + 8] != b[offset + 6:offset + 8]  # only the timestamp moved


probes = st.one_of(
    st.builds(Probe, st.binary(min_size=4, max_size=4).map(lambda b: bytes(10) + b"\xff\xff" + b),
              st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 255), st.sampled_from(["udp", "icmp"])),
    st.builds(Probe, st.binary(min_size=16, max_size=16).filter(lambda b: b[:12] != bytes(10) + b"\xff\xff"),
              st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 255),
              st.sampled_from(["udp", "icmpv6"])),
)


@settings(max_examples=300)
@given(probes, st.integers(0, 2**48), st.integers(0, 0xFFFF))
def test_any_probe_is_valid_and_decodable(probe, now, instance_id):
    src = SRC4 if probe.is_ipv4 else SRC6
    packet = build_probe_packet(probe, src, instance_id, now)
    ts = now % 65535
    if probe.is_ipv4:
        l4 = packet[20:]
        assert rfc1071(packet[:20]) == 0
        assert struct.unpack("!H", packet[4:6])[0] == expected_ip_id(instance_id, probe.dst_addr[12:],
                                                                      probe.src_port, probe.ttl)
        pseudo = pseudo4(src[12:], probe.dst_addr[12:], 17, len(l4)) if probe.protocol == "udp" else b""
    else:
        l4 = packet[40:]
        pseudo = pseudo6(src, probe.dst_addr, 17 if probe.protocol == "udp" else 58, len(l4))
    assert rfc1071(pseudo + l4) == 0
    if probe.protocol == "udp":
        assert struct.unpack("!HHHH", l4[:8]) == (probe.src_port, probe.dst_port, probe.ttl + 10, ts or 0xFFFF)
    else:
        assert struct.unpack("!HHH", l4[2:8]) == (probe.src_port, probe.src_port, ts)
    assert len(l4) == probe.ttl + 10


def test_build_refuses_what_cannot_be_sent():
    with pytest.raises(ProbeError, match="tcp probes are not sent") as info:
        build_probe_packet(Probe(mapped("8.8.8.8"), 1, 2, 3, "tcp"), SRC4, 0, 0)
    assert info.value.field == "protocol"
    with pytest.raises(ValueError, match="different families"):
        build_probe_packet(Probe(mapped("8.8.8.8"), 1, 2, 3, "udp"), SRC6, 0, 0)
    with pytest.raises(ValueError, match="instance_id"):
        build_probe_packet(Probe(mapped("8.8.8.8"), 1, 2, 3, "udp"), SRC4, 65536, 0)
    # A 4-byte IPv4 source is accepted as a convenience.
    probe = Probe(mapped("8.8.8.8"), 1, 2, 3, "udp")
    assert build_probe_packet(probe, a4("192.0.2.1"), 0, 5) == build_probe_packet(probe, SRC4, 0, 5)


@pytest.mark.parametrize("kwargs,field", [
    (dict(dst_addr=b"\1" * 4), "dst_addr"),
    (dict(src_port=65536), "src_port"),
    (dict(dst_port=-1), "dst_port"),
    (dict(ttl=256), "ttl"),
    (dict(ttl=True), "ttl"),
    (dict(protocol="sctp"), "protocol"),
    (dict(protocol="icmp", dst_addr=a6("2001:db8::1")), "protocol"),
    (dict(protocol="icmpv6"), "protocol"),
])
def test_probe_validation(kwargs, field):
    values = dict(dst_addr=mapped("8.8.8.8"), src_port=1, dst_port=2, ttl=3, protocol="udp") | kwargs
    with pytest.raises(ProbeError) as info:
        Probe(**values)
    assert info.value.field == field


# -- Cap'n Proto -------------------------------------------------------------------------------

def test_capnp_round_trip_with_pycapnp():
    schema = load_schema("probe.capnp").Probe
    probes_in = [
        Probe(mapped("8.8.8.8"), 24000, 33434, 1, "udp"),
        Probe(a6("2001:4860:4860::8888"), 65535, 0, 255, "icmpv6"),
        Probe(mapped("1.1.1.1"), 0, 0, 0, "icmp"),
        Probe(a6("::1"), 5, 6, 7, "tcp"),
    ]
    record = encode_probes(probes_in)
    decoded = list(schema.read_multiple_bytes(record))
    assert [(bytes(m.dstAddr), m.srcPort, m.dstPort, m.ttl, str(m.protocol)) for m in decoded] == [
        (p.dst_addr, p.src_port, p.dst_port, p.ttl, p.protocol) for p in probes_in]
    assert decode_probes(record) == probes_in
    # Messages written by pycapnp (as other producers would) decode too.
    other = b"".join(schema.new_message(dstAddr=p.dst_addr, srcPort=p.src_port, dstPort=p.dst_port, ttl=p.ttl,
                                        protocol=p.protocol).to_bytes() for p in probes_in)
    assert decode_probes(other) == probes_in
    assert decode_probes(b"") == []
    assert encode_probe(probes_in[0]) == encode_probes(probes_in[:1])


def test_capnp_errors_name_the_index():
    schema = load_schema("probe.capnp").Probe
    good = encode_probe(Probe(mapped("8.8.8.8"), 1, 2, 3, "udp"))
    short_addr = schema.new_message(dstAddr=b"\1\2\3\4", srcPort=1, protocol="udp").to_bytes()
    with pytest.raises(ProbeError) as info:
        decode_probes(good + good + short_addr)
    assert (info.value.index, info.value.field) == (2, "dst_addr")
    assert str(info.value).startswith("probe at index 2: field dst_addr:")
    bad_enum = bytearray(good)
    bad_enum[16 + 6] = 9  # data section starts after framing + root pointer; protocol at byte 6
    with pytest.raises(ProbeError) as info:
        decode_probes(good + bytes(bad_enum))
    assert (info.value.index, info.value.field) == (1, "protocol")
    with pytest.raises(ProbeError, match="malformed Cap'n Proto") as info:
        decode_probes(good + good[:20])
    assert info.value.index == 1
    mismatch = schema.new_message(dstAddr=a6("2001:db8::1"), protocol="icmp").to_bytes()
    with pytest.raises(ProbeError) as info:
        decode_probes(mismatch)
    assert (info.value.index, info.value.field) == (0, "protocol")


# -- CSV ---------------------------------------------------------------------------------------

def test_csv_lines():
    assert parse_probe_line("8.8.8.8,24000,33434,6,ICMP") == Probe(mapped("8.8.8.8"), 24000, 33434, 6, "icmp")
    assert parse_probe_line(" 2001:4860:4860::8888 , 1 ,2, 255 ,icmpV6\n") == Probe(
        a6("2001:4860:4860::8888"), 1, 2, 255, "icmpv6")
    assert parse_probe_line("::ffff:8.8.4.4,1,2,3,udp").is_ipv4
    assert parse_probe_line("8.8.8.8,00080,53,0,Udp") == Probe(mapped("8.8.8.8"), 80, 53, 0, "udp")
    text = ["# header comment", "", "8.8.8.8,1,2,3,udp", "2001:db8::1,1,2,3,icmpv6", "   "]
    assert [p.protocol for p in parse_probes_csv(text)] == ["udp", "icmpv6"]
    assert ip16("8.8.8.8") == mapped("8.8.8.8")


@pytest.mark.parametrize("line,field,fragment", [
    ("8.8.8.8,1,2,3", None, "expected 5"),
    ("8.8.8.8,1,2,3,udp,x", None, "expected 5"),
    ("8.8.8.300,1,2,3,udp", "dst_addr", "not an IP address"),
    ("example.com,1,2,3,udp", "dst_addr", "not an IP address"),
    ("8.8.8.8,65536,2,3,udp", "src_port", "0..65535"),
    ("8.8.8.8,-1,2,3,udp", "src_port", "0..65535"),
    ("8.8.8.8,1,+2,3,udp", "dst_port", "0..65535"),
    ("8.8.8.8,1,1_000,3,udp", "dst_port", "0..65535"),
    ("8.8.8.8,1,2,256,udp", "ttl", "0..255"),
    ("8.8.8.8,1,2,,udp", "ttl", "0..255"),
    ("8.8.8.8,1,2," + "9" * 5000 + ",udp", "ttl", "0..255"),
    ("8.8.8.8,1,2,3,tcp", "protocol", "expected ICMP, ICMPv6 or UDP"),
    ("8.8.8.8,1,2,3,icmpv6", "protocol", "needs an IPv6 destination"),
    ("2001:db8::1,1,2,3,icmp", "protocol", "needs an IPv4 destination"),
])
def test_csv_errors_name_line_and_field(line, field, fragment):
    with pytest.raises(ProbeError, match=fragment.replace("+", r"\+")) as info:
        list(parse_probes_csv(["8.8.8.8,1,2,3,udp", line]))
    assert info.value.line == 2
    assert info.value.field == field
    assert str(info.value).startswith("line 2: ")
    if field:
        assert f"field {field}: " in str(info.value)
