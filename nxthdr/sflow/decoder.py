"""Sans-I/O decoder of sFlow version 5 datagrams (sflow.org/sflow_version_5.txt).

Structure (section numbers of the v5 specification):
- datagram header: version, agent address (IPv4/IPv6), sub-agent id, sequence, uptime, samples (§5.4 sample_datagram_v5);
- samples: flow sample (format 1, §5.2 flow_sample), counter sample (2), expanded flow sample (3,
  flow_sample_expanded), expanded counter sample (4); counters are counted, not decoded;
- flow records (§5.2, "Flow Data Types"): sampled_header (1), sampled_ipv4 (3), sampled_ipv6 (4),
  extended_switch (1001), extended_router (1002), extended_gateway (1003). Everything else,
  including any non-zero enterprise, is skipped by its length.

All data is XDR (RFC 4506): big-endian 32-bit words, opaque data padded to 4 bytes.

Robustness: the one exception raised is `SFlowError` (a ValueError) with a short `reason`.
Every count read from the wire is checked against the bytes that remain before
any loop or allocation, so work and output are linear in the datagram size and a
datagram of n bytes yields at most n // 8 flow samples. The content of sampled
headers is decoded leniently (see `nxthdr.sflow.packet`): a truncated or odd
packet never fails the datagram, a broken XDR structure does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from nxthdr.sflow._fast import positional_constructor
from nxthdr.sflow.packet import V4_MAPPED_PREFIX, Packet, _to_address, parse_ethernet, parse_ipv4, parse_ipv6

__all__ = [
    "SFlowError", "Datagram", "FlowSample", "Packet", "SampledHeader", "SampledIp", "ExtendedSwitch",
    "ExtendedRouter", "ExtendedGateway", "UnknownRecord", "decode_datagram",
]

HEADER_PROTO_ETHERNET = 1
HEADER_PROTO_IPV4 = 11
HEADER_PROTO_IPV6 = 12

_u32 = struct.Struct("!I").unpack_from
_u32x2 = struct.Struct("!II").unpack_from
_u32x4 = struct.Struct("!IIII").unpack_from
_dgram_tail = struct.Struct("!IIII").unpack_from
_flow_compact = struct.Struct("!IIIIIIII").unpack_from
_flow_expanded = struct.Struct("!IIIIIIIIIII").unpack_from
_sampled_hdr = struct.Struct("!IIII").unpack_from
_sampled_v4 = struct.Struct("!II4s4sIIII").unpack_from
_sampled_v6 = struct.Struct("!II16s16sIIII").unpack_from
_ZERO16 = b"\0" * 16


class SFlowError(ValueError):
    """The datagram breaks sFlow v5. `reason` is a short machine-readable code (e.g. for a metric label)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


# -- flow records --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SampledHeader:
    """sampled_header (format 1). `packet` is None for non-IP frames and unknown header protocols."""

    header_protocol: int
    frame_length: int
    stripped: int
    header: bytes
    packet: Packet | None


@dataclass(frozen=True, slots=True)
class SampledIp:
    """sampled_ipv4 (format 3) or sampled_ipv6 (format 4); `format` tells which."""

    format: int
    packet: Packet


@dataclass(frozen=True, slots=True)
class ExtendedSwitch:
    """extended_switch (1001)."""

    src_vlan: int
    src_priority: int
    dst_vlan: int
    dst_priority: int


@dataclass(frozen=True, slots=True)
class ExtendedRouter:
    """extended_router (1002). `next_hop` is 16 bytes (IPv4-mapped), zeros when unknown."""

    next_hop: bytes
    src_mask: int
    dst_mask: int


@dataclass(frozen=True, slots=True)
class ExtendedGateway:
    """extended_gateway (1003). `dst_as_path` flattens the AS path segments in wire order."""

    next_hop: bytes
    as_number: int
    src_as: int
    src_peer_as: int
    dst_as_path: tuple[int, ...]
    communities: tuple[int, ...]
    local_pref: int

    @property
    def dst_as(self) -> int:
        # The origin of the destination is the last AS of the path; an empty path means the
        # destination is in the router's own AS.
        return self.dst_as_path[-1] if self.dst_as_path else self.as_number

    @property
    def dst_peer_as(self) -> int:
        return self.dst_as_path[0] if self.dst_as_path else 0


@dataclass(frozen=True, slots=True)
class UnknownRecord:
    enterprise: int
    format: int
    length: int


# -- samples and datagram ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FlowSample:
    """A flow sample (format 1) or expanded flow sample (format 3), normalised to one shape.

    Source id and interfaces carry the index with the format/type bits stripped
    (compact samples pack them into the top bits, expanded ones send them as
    separate words), so both kinds read the same. `packet` is the preferred IP
    view of the sample (sampled header first, then sampled IPv4/IPv6);
    `switch`/`router`/`gateway` are the extended records to merge with it.
    """

    expanded: bool
    sequence: int
    source_type: int
    source_index: int
    sampling_rate: int
    sample_pool: int
    drops: int
    input_format: int
    input_if: int
    output_format: int
    output_if: int
    records: tuple
    packet: Packet | None
    switch: ExtendedSwitch | None
    router: ExtendedRouter | None
    gateway: ExtendedGateway | None


@dataclass(frozen=True, slots=True)
class Datagram:
    version: int
    agent_ip: bytes  # 16 bytes, IPv4-mapped for IPv4 agents
    agent_ip_version: int  # 4, 6, or 0 when the agent sent address type "unknown"
    sub_agent_id: int
    sequence: int
    uptime: int  # ms
    flow_samples: tuple[FlowSample, ...]
    counter_samples: int
    skipped_samples: int  # unknown formats or non-zero enterprise

    @property
    def agent_address(self) -> IPv4Address | IPv6Address:
        return _to_address(self.agent_ip)

    @property
    def sample_count(self) -> int:
        return len(self.flow_samples) + self.counter_samples + self.skipped_samples


_make_flow_sample = positional_constructor(FlowSample)
_make_switch = positional_constructor(ExtendedSwitch)
_make_header = positional_constructor(SampledHeader)


# -- decoding ------------------------------------------------------------------------------------

def _address(buf: bytes, off: int, end: int) -> tuple[bytes, int, int]:
    """XDR `address` union → (16-byte address, ip version, next offset)."""
    if end - off < 4:
        raise SFlowError("truncated", "address type")
    (kind,) = _u32(buf, off)
    off += 4
    if kind == 1:
        if end - off < 4:
            raise SFlowError("truncated", "IPv4 address")
        return V4_MAPPED_PREFIX + buf[off:off + 4], 4, off + 4
    if kind == 2:
        if end - off < 16:
            raise SFlowError("truncated", "IPv6 address")
        return buf[off:off + 16], 6, off + 16
    if kind == 0:
        return _ZERO16, 0, off
    raise SFlowError("bad_address_type", str(kind))


def decode_datagram(data: bytes) -> Datagram:
    """Decode one sFlow v5 datagram (the UDP payload)."""
    if not isinstance(data, bytes):
        data = bytes(data)
    end = len(data)
    if end < 8:
        raise SFlowError("truncated", "datagram header")
    (version,) = _u32(data, 0)
    if version != 5:
        raise SFlowError("bad_version", str(version))
    agent, agent_v, off = _address(data, 4, end)
    if end - off < 16:
        raise SFlowError("truncated", "datagram header")
    sub_agent, seq, uptime, nsamples = _dgram_tail(data, off)
    off += 16
    # Every sample takes at least its 8-byte tag + length.
    if nsamples > (end - off) // 8:
        raise SFlowError("too_many_samples", str(nsamples))

    flows = []
    counters = skipped = 0
    for _ in range(nsamples):
        if end - off < 8:
            raise SFlowError("truncated", "sample header")
        tag, length = _u32x2(data, off)
        off += 8
        send = off + length
        if send > end:
            raise SFlowError("truncated", "sample body")
        if tag == 1 or tag == 3:
            flows.append(_flow_sample(data, off, send, tag == 3))
        elif tag == 2 or tag == 4:
            counters += 1
        else:
            skipped += 1
        off = send
    # Bytes after the last sample are ignored: they carry nothing the header announced.
    return Datagram(version, agent, agent_v, sub_agent, seq, uptime, tuple(flows), counters, skipped)


def _flow_sample(buf: bytes, off: int, end: int, expanded: bool) -> FlowSample:
    if expanded:
        if end - off < 44:
            raise SFlowError("truncated", "expanded flow sample")
        (seq, src_type, src_index, rate, pool, drops, in_fmt, in_if, out_fmt, out_if,
         nrecords) = _flow_expanded(buf, off)
        off += 44
    else:
        if end - off < 32:
            raise SFlowError("truncated", "flow sample")
        seq, source, rate, pool, drops, inp, outp, nrecords = _flow_compact(buf, off)
        off += 32
        src_type, src_index = source >> 24, source & 0x00FFFFFF
        # Compact interfaces: two format bits on top of a 30-bit value (§5.2 "interface").
        in_fmt, in_if = inp >> 30, inp & 0x3FFFFFFF
        out_fmt, out_if = outp >> 30, outp & 0x3FFFFFFF
    if nrecords > (end - off) // 8:
        raise SFlowError("too_many_records", str(nrecords))

    records = []
    hdr_packet = ip_packet = None
    switch = router = gateway = None
    for _ in range(nrecords):
        if end - off < 8:
            raise SFlowError("truncated", "flow record header")
        tag, length = _u32x2(buf, off)
        off += 8
        rend = off + length
        if rend > end:
            raise SFlowError("truncated", "flow record body")
        if tag == 1:
            rec = _sampled_header(buf, off, rend)
            if hdr_packet is None:
                hdr_packet = rec.packet
        elif tag == 1001:
            if length < 16:
                raise SFlowError("truncated", "extended switch")
            rec = switch = _make_switch(*_u32x4(buf, off))
        elif tag == 1002:
            rec = router = _extended_router(buf, off, rend)
        elif tag == 1003:
            rec = gateway = _extended_gateway(buf, off, rend)
        elif tag == 3:
            if length < 32:
                raise SFlowError("truncated", "sampled IPv4")
            ln, proto, src, dst, sport, dport, flags, tos = _sampled_v4(buf, off)
            pkt = Packet(4, V4_MAPPED_PREFIX + src, V4_MAPPED_PREFIX + dst, proto, ln, tos & 0xFF, 0,
                         sport & 0xFFFF, dport & 0xFFFF, flags & 0x1FF, etype=0x0800)
            rec = SampledIp(3, pkt)
            if ip_packet is None:
                ip_packet = pkt
        elif tag == 4:
            if length < 56:
                raise SFlowError("truncated", "sampled IPv6")
            ln, proto, src, dst, sport, dport, flags, prio = _sampled_v6(buf, off)
            pkt = Packet(6, src, dst, proto, ln, prio & 0xFF, 0, sport & 0xFFFF, dport & 0xFFFF, flags & 0x1FF,
                         etype=0x86DD)
            rec = SampledIp(4, pkt)
            if ip_packet is None:
                ip_packet = pkt
        else:
            rec = UnknownRecord(tag >> 12, tag & 0xFFF, length)
        records.append(rec)
        off = rend
    return _make_flow_sample(expanded, seq, src_type, src_index, rate, pool, drops, in_fmt, in_if, out_fmt, out_if,
                      tuple(records), hdr_packet if hdr_packet is not None else ip_packet, switch, router, gateway)


def _sampled_header(buf: bytes, off: int, end: int) -> SampledHeader:
    if end - off < 16:
        raise SFlowError("truncated", "sampled header")
    proto, frame_length, stripped, hlen = _sampled_hdr(buf, off)
    off += 16
    if hlen > end - off:
        raise SFlowError("truncated", "sampled header bytes")
    hend = off + hlen
    # Only the declared length counts: agents pad to 4 bytes with whatever is in their buffer.
    if proto == HEADER_PROTO_ETHERNET:
        pkt = parse_ethernet(buf, off, hend)
    elif proto == HEADER_PROTO_IPV4:
        pkt = parse_ipv4(buf, off, hend)
    elif proto == HEADER_PROTO_IPV6:
        pkt = parse_ipv6(buf, off, hend)
    else:
        pkt = None
    return _make_header(proto, frame_length, stripped, buf[off:hend], pkt)


def _extended_router(buf: bytes, off: int, end: int) -> ExtendedRouter:
    nh, _v, off = _address(buf, off, end)
    if end - off < 8:
        raise SFlowError("truncated", "extended router")
    src_mask, dst_mask = _u32x2(buf, off)
    return ExtendedRouter(nh, src_mask, dst_mask)


def _extended_gateway(buf: bytes, off: int, end: int) -> ExtendedGateway:
    nh, _v, off = _address(buf, off, end)
    if end - off < 16:
        raise SFlowError("truncated", "extended gateway")
    as_number, src_as, src_peer_as, nsegments = _u32x4(buf, off)
    off += 16
    # A segment is at least its type and length words.
    if nsegments > (end - off) // 8:
        raise SFlowError("too_many_segments", str(nsegments))
    path: list[int] = []
    for _ in range(nsegments):
        if end - off < 8:
            raise SFlowError("truncated", "AS path segment")
        _seg_type, n = _u32x2(buf, off)
        off += 8
        if n > (end - off) // 4:
            raise SFlowError("truncated", "AS path segment")
        path.extend(struct.unpack_from("!%dI" % n, buf, off))
        off += 4 * n
    if end - off < 4:
        raise SFlowError("truncated", "communities")
    (ncomm,) = _u32(buf, off)
    off += 4
    if ncomm > (end - off) // 4:
        raise SFlowError("truncated", "communities")
    communities = struct.unpack_from("!%dI" % ncomm, buf, off)
    off += 4 * ncomm
    if end - off < 4:
        raise SFlowError("truncated", "local pref")
    (local_pref,) = _u32(buf, off)
    return ExtendedGateway(nh, as_number, src_as, src_peer_as, tuple(path), communities, local_pref)
