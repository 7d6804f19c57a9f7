"""Decoded sFlow datagrams → framed Cap'n Proto `SFlowFlowRecord` messages (schemas/sflow.capnp).

One message per flow sample that carries IP data (wire.md): the sample's
preferred IP view (sampled header, else sampled IPv4/IPv6) merged with its
extended switch (1001), router (1002) and gateway (1003) records. Counter
samples and non-IP samples produce nothing.

Every pointer field of the struct is a 16-byte Data, so the message shape is
fixed and `FixedShapeWriter` reduces encoding to one `struct.pack` of the data
section plus a join of constant framing and the five addresses. The field
offsets come from the schema at start-up, never from this file.
"""

from __future__ import annotations

import operator

from nxthdr.core.capnp_codec import FixedShapeWriter, struct_layout
from nxthdr.sflow.decoder import Datagram

_ZERO16 = b"\0" * 16
_V4_MAPPED = b"\0" * 10 + b"\xff\xff"

# Scalar fields in the order `_encode_sample` builds its tuple.
SCALAR_FIELDS = (
    "timeReceivedNs", "agentPort", "agentSubId", "datagramSequenceNumber", "uptime",
    "sampleSequenceNumber", "sourceId", "samplingRate", "samplePool", "drops",
    "inputInterface", "outputInterface",
    "length", "protocol", "srcPort", "dstPort", "tcpFlags", "tos",
    "etype", "vlan", "innerVlan", "icmpType", "icmpCode", "ipTtl", "fragmentOffset",
    "srcVlan", "dstVlan", "srcMask", "dstMask", "srcAs", "dstAs", "srcPeerAs", "dstPeerAs",
)
DATA_FIELDS = ("agentAddr", "srcIp", "dstIp", "exporterAddr", "nextHop")


def exporter_bytes(addr: bytes | str) -> bytes:
    """16-byte form of an exporter address given as 4/16 raw bytes or text."""
    if isinstance(addr, str):
        import ipaddress

        ip = ipaddress.ip_address(addr)
        return (_V4_MAPPED + ip.packed) if ip.version == 4 else ip.packed
    if len(addr) == 4:
        return _V4_MAPPED + addr
    if len(addr) != 16:
        raise ValueError("exporter address must be 4 or 16 bytes")
    return addr


class SFlowRecordEncoder:
    """Encodes the flow samples of decoded datagrams. Build once, reuse (the layout work is in __init__)."""

    def __init__(self) -> None:
        layout = struct_layout("sflow.capnp", "SFlowFlowRecord")
        scalar_names = [s.name for s in layout.slots if s.kind not in ("data", "text", "list")]
        if sorted(scalar_names) != sorted(SCALAR_FIELDS):
            raise TypeError("SFlowFlowRecord scalar fields changed; update SCALAR_FIELDS")
        self._writer = w = FixedShapeWriter(layout, list(SCALAR_FIELDS), {n: 16 for n in DATA_FIELDS})
        if tuple(w.data_field_order) != DATA_FIELDS:
            raise TypeError("SFlowFlowRecord pointer order changed; update DATA_FIELDS")
        # Our tuple order → the offset order of the data section, in one C call.
        self._reorder = operator.itemgetter(*[SCALAR_FIELDS.index(n) for n in w.data_order])

    def encode(self, dgram: Datagram, time_received_ns: int, exporter_addr: bytes, exporter_port: int) -> list[bytes]:
        """Framed messages for every IP-carrying flow sample of `dgram`.

        `exporter_addr` is the 16-byte UDP source address (see `exporter_bytes`),
        `exporter_port` the UDP source port (written as agentPort, per wire.md).
        """
        prefix, pack, pointers, reorder = self._writer.prefix, self._writer.pack_data, self._writer.pointers, self._reorder
        join = b"".join
        agent = dgram.agent_ip
        sub_id, dseq, uptime = dgram.sub_agent_id, dgram.sequence, dgram.uptime
        out = []
        for s in dgram.flow_samples:
            p = s.packet
            if p is None:
                continue
            sw, rt, gw = s.switch, s.router, s.gateway
            if sw is not None:
                src_vlan, dst_vlan = sw.src_vlan, sw.dst_vlan
            else:
                src_vlan = dst_vlan = 0
            next_hop = _ZERO16
            src_mask = dst_mask = src_as = dst_as = src_peer_as = dst_peer_as = 0
            if rt is not None:
                next_hop = rt.next_hop
                # Prefix lengths are at most 128; clamp so a hostile value cannot break the UInt8 pack.
                src_mask, dst_mask = min(rt.src_mask, 255), min(rt.dst_mask, 255)
            if gw is not None:
                if rt is None:
                    next_hop = gw.next_hop
                src_as, src_peer_as = gw.src_as, gw.src_peer_as
                dst_as, dst_peer_as = gw.dst_as, gw.dst_peer_as
            scalars = (
                time_received_ns, exporter_port, sub_id, dseq, uptime,
                s.sequence, s.source_index, s.sampling_rate, s.sample_pool, s.drops,
                s.input_if, s.output_if,
                p.length, p.protocol, p.src_port, p.dst_port, p.tcp_flags, p.tos,
                p.etype, p.vlan, p.inner_vlan, p.icmp_type, p.icmp_code, p.ttl, p.fragment_offset,
                src_vlan, dst_vlan, src_mask, dst_mask, src_as, dst_as, src_peer_as, dst_peer_as,
            )
            out.append(join((prefix, pack(*reorder(scalars)), pointers, agent, p.src_ip, p.dst_ip,
                             exporter_addr, next_hop)))
        return out


_default: SFlowRecordEncoder | None = None


def encode_datagram(dgram: Datagram, time_received_ns: int, exporter_addr: bytes | str, exporter_port: int) -> list[bytes]:
    """Convenience wrapper around a shared `SFlowRecordEncoder`."""
    global _default
    if _default is None:
        _default = SFlowRecordEncoder()
    return _default.encode(dgram, time_received_ns, exporter_bytes(exporter_addr), exporter_port)
