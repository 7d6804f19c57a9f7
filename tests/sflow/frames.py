"""Builders for Ethernet frames and sFlow v5 datagrams used by the sFlow tests.

Two uses: frames injected on a veth so that the real agent (pmacctd sfprobe)
samples them, and hand-built datagrams for edge cases no agent here produces
(expanded samples, extended router/gateway records, unknown formats). Field
layouts follow sFlow v5 (sflow.org/sflow_version_5.txt) and the RFCs of the
encapsulated protocols; checksums are computed so that tshark shows no errors.
"""

from __future__ import annotations

import ipaddress
import struct

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_8021Q = 0x8100
ETH_8021AD = 0x88A8


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def ethernet(dst: bytes, src: bytes, ethertype: int, payload: bytes, vlans: tuple[tuple[int, int], ...] = ()) -> bytes:
    """`vlans`: outermost first, each (tag protocol identifier, vlan id)."""
    tags = b"".join(struct.pack("!HH", tpid, vid & 0x0FFF) for tpid, vid in vlans)
    return dst + src + tags + struct.pack("!H", ethertype) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, *, tos: int = 0, ttl: int = 64, ident: int = 1,
         options: bytes = b"", frag: int = 0, total_length: int | None = None) -> bytes:
    if len(options) % 4:
        raise ValueError("IPv4 options must be padded to 4 bytes")
    ihl = 5 + len(options) // 4
    tl = total_length if total_length is not None else ihl * 4 + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, tl, ident, frag, ttl, proto, 0,
                      ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed) + options
    hdr = hdr[:10] + struct.pack("!H", _checksum(hdr)) + hdr[12:]
    return hdr + payload


def ipv6(src: str, dst: str, next_header: int, payload: bytes, *, tclass: int = 0, hlim: int = 64, flow: int = 0) -> bytes:
    first = (6 << 28) | (tclass << 20) | (flow & 0xFFFFF)
    return struct.pack("!IHBB16s16s", first, len(payload), next_header, hlim,
                       ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed) + payload


def ipv6_ext(next_header: int, body: bytes) -> bytes:
    """A generic extension header (hop-by-hop, routing, destination options), padded to 8 bytes."""
    total = 2 + len(body)
    pad = (-total) % 8
    if pad == 1:
        body += b"\x00"  # Pad1
    elif pad:
        body += bytes((1, pad - 2)) + b"\0" * (pad - 2)  # PadN
    return struct.pack("!BB", next_header, (2 + len(body)) // 8 - 1) + body


def ipv6_fragment(next_header: int, offset: int = 0, more: bool = False, ident: int = 1) -> bytes:
    return struct.pack("!BBHI", next_header, 0, (offset << 3) | int(more), ident)


def _pseudo(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)


def tcp(src_ip: str, dst_ip: str, sport: int, dport: int, flags: int, payload: bytes = b"", *,
        seq: int = 1000, ack: int = 0, window: int = 65535) -> bytes:
    """`flags` uses the standard layout plus NS as bit 8 (0x100)."""
    off_flags = (5 << 12) | (flags & 0x1FF)
    seg = struct.pack("!HHIIHHHH", sport, dport, seq, ack, off_flags, window, 0, 0) + payload
    s, d = ipaddress.ip_address(src_ip).packed, ipaddress.ip_address(dst_ip).packed
    c = _checksum(_pseudo(s, d, 6, len(seg)) + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp(src_ip: str, dst_ip: str, sport: int, dport: int, payload: bytes) -> bytes:
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    s, d = ipaddress.ip_address(src_ip).packed, ipaddress.ip_address(dst_ip).packed
    c = _checksum(_pseudo(s, d, 17, len(seg)) + seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def icmp(type_: int, code: int, body: bytes = b"\0\x01\0\x01") -> bytes:
    msg = struct.pack("!BBH", type_, code, 0) + body
    return msg[:2] + struct.pack("!H", _checksum(msg)) + msg[4:]


def icmpv6(src_ip: str, dst_ip: str, type_: int, code: int, body: bytes = b"\0\x01\0\x01") -> bytes:
    msg = struct.pack("!BBH", type_, code, 0) + body
    s, d = ipaddress.ip_address(src_ip).packed, ipaddress.ip_address(dst_ip).packed
    c = _checksum(_pseudo(s, d, 58, len(msg)) + msg)
    return msg[:2] + struct.pack("!H", c) + msg[4:]


# -- sFlow v5 datagrams ------------------------------------------------------------------------

def _opaque(fmt: int, body: bytes) -> bytes:
    return struct.pack("!II", fmt, len(body)) + body


def _xdr_bytes(b: bytes) -> bytes:
    return struct.pack("!I", len(b)) + b + b"\0" * ((-len(b)) % 4)


def _address(addr: str) -> bytes:
    ip = ipaddress.ip_address(addr)
    return struct.pack("!I", 1 if ip.version == 4 else 2) + ip.packed


def sampled_header(frame: bytes, *, protocol: int = 1, frame_length: int | None = None, stripped: int = 4,
                   captured: int | None = None) -> bytes:
    head = frame if captured is None else frame[:captured]
    fl = frame_length if frame_length is not None else len(frame) + stripped
    return _opaque(1, struct.pack("!III", protocol, fl, stripped) + _xdr_bytes(head))


def sampled_ipv4(src: str, dst: str, proto: int, sport: int, dport: int, *, length: int = 100, tcp_flags: int = 0,
                 tos: int = 0) -> bytes:
    body = struct.pack("!II4s4sIIII", length, proto, ipaddress.IPv4Address(src).packed,
                       ipaddress.IPv4Address(dst).packed, sport, dport, tcp_flags, tos)
    return _opaque(3, body)


def sampled_ipv6(src: str, dst: str, proto: int, sport: int, dport: int, *, length: int = 100, tcp_flags: int = 0,
                 priority: int = 0) -> bytes:
    body = struct.pack("!II16s16sIIII", length, proto, ipaddress.IPv6Address(src).packed,
                       ipaddress.IPv6Address(dst).packed, sport, dport, tcp_flags, priority)
    return _opaque(4, body)


def extended_switch(src_vlan: int, src_prio: int, dst_vlan: int, dst_prio: int) -> bytes:
    return _opaque(1001, struct.pack("!IIII", src_vlan, src_prio, dst_vlan, dst_prio))


def extended_router(next_hop: str, src_mask: int, dst_mask: int) -> bytes:
    return _opaque(1002, _address(next_hop) + struct.pack("!II", src_mask, dst_mask))


def extended_gateway(next_hop: str, as_: int, src_as: int, src_peer_as: int,
                     segments: list[tuple[int, list[int]]], communities: list[int] = (), local_pref: int = 100) -> bytes:
    body = _address(next_hop) + struct.pack("!IIII", as_, src_as, src_peer_as, len(segments))
    for seg_type, asns in segments:
        body += struct.pack("!II", seg_type, len(asns)) + struct.pack("!%dI" % len(asns), *asns)
    body += struct.pack("!I", len(communities)) + struct.pack("!%dI" % len(communities), *communities)
    body += struct.pack("!I", local_pref)
    return _opaque(1003, body)


def unknown_record(fmt: int, body: bytes) -> bytes:
    return _opaque(fmt, body)


def flow_sample(records: list[bytes], *, seq: int = 1, source_type: int = 0, source_index: int = 1,
                rate: int = 1, pool: int = 1, drops: int = 0, input_if: int = 1, output_if: int = 2) -> bytes:
    body = struct.pack("!IIIIIIII", seq, (source_type << 24) | source_index, rate, pool, drops,
                       input_if, output_if, len(records)) + b"".join(records)
    return _opaque(1, body)


def expanded_flow_sample(records: list[bytes], *, seq: int = 1, source_type: int = 0, source_index: int = 1,
                         rate: int = 1, pool: int = 1, drops: int = 0, input_format: int = 0, input_if: int = 1,
                         output_format: int = 0, output_if: int = 2) -> bytes:
    body = struct.pack("!IIIIIIIIIII", seq, source_type, source_index, rate, pool, drops,
                       input_format, input_if, output_format, output_if, len(records)) + b"".join(records)
    return _opaque(3, body)


def counter_sample(*, expanded: bool = False, seq: int = 1, source_index: int = 1) -> bytes:
    # One generic interface counters record (format 1), 88 bytes of zeros beyond the ifIndex.
    rec = _opaque(1, struct.pack("!I", source_index) + b"\0" * 84)
    if expanded:
        body = struct.pack("!IIII", seq, 0, source_index, 1) + rec
        return _opaque(4, body)
    return _opaque(2, struct.pack("!III", seq, source_index, 1) + rec)


def datagram(samples: list[bytes], *, agent: str = "192.0.2.1", sub_agent: int = 0, seq: int = 1,
             uptime: int = 1000, version: int = 5) -> bytes:
    return (struct.pack("!I", version) + _address(agent)
            + struct.pack("!IIII", sub_agent, seq, uptime, len(samples)) + b"".join(samples))
