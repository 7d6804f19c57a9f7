"""Replies to our probes: parsing captured IP packets into `Reply` records (sans-I/O).

Input is one captured IP packet without its link layer. Three outcomes only:

* a `Reply`: an ICMP(v6) time exceeded or destination unreachable quoting one
  of our probes (RFC 792, RFC 4443), or an echo reply (ICMP type 0, ICMPv6
  type 129);
* None: a well-formed packet that is not a reply to a probe of ours (other
  protocols and ICMP types, quoted TCP, a quote whose lengths our encoding
  cannot produce, non-first fragments);
* `ReplyError`: the packet is broken (truncated headers, impossible lengths).
  Nothing else escapes; a fuzz test holds us to it.

What each field means follows the probe encoding (see `nxthdr.saimiris.probe`):
the probe TTL comes from the quoted lengths (the payload is `ttl + 2` bytes),
the timestamp from the quoted ICMP sequence or UDP checksum, the flow id from
the UDP source port or ICMP identifier.

MPLS label stacks come from ICMP extensions: RFC 4884 (extension structure,
"length" attribute) and RFC 4950 (MPLS label stack object, class 1, c-type 1).
A broken extension structure drops the labels, not the reply: the quoted probe
is intact and the hop is worth more than the labels.

The outer IP and ICMP error checksums are not verified (anyone can compute
them, so they prove nothing about the sender); what the probe encoding carries
back is, by `integrity_failure`: a forged reply must match fields only our
probes produce.
"""

from __future__ import annotations

import functools
import operator
import struct
from dataclasses import dataclass, field

from nxthdr.core.capnp_codec import list_pointer, struct_layout, struct_pointer
from nxthdr.saimiris.checksum import ipv4_pseudo_header_sum, ipv6_pseudo_header_sum, ones_sum, probe_id
from nxthdr.saimiris.probe import PAYLOAD_TWEAK_BYTES, TIMESTAMP_MODULUS, V4_MAPPED_PREFIX

__all__ = ["MplsLabel", "Reply", "ReplyError", "check_integrity", "encode_reply", "integrity_failure", "parse_reply", "reply_values"]

IPPROTO_ICMP = 1
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58

ICMP_ECHO_REPLY = 0
ICMP_DEST_UNREACHABLE = 3
ICMP_ECHO_REQUEST = 8
ICMP_TIME_EXCEEDED = 11
ICMPV6_DEST_UNREACHABLE = 1
ICMPV6_TIME_EXCEEDED = 3
ICMPV6_ECHO_REQUEST = 128
ICMPV6_ECHO_REPLY = 129

# Header + the two tweak bytes: what the quoted lengths hold beyond the TTL.
_L4_OVERHEAD = 8 + 2
# RFC 4884: with an extension structure the original datagram is
# zero-padded to at least 128 bytes; legacy (pre-4884) senders put the
# structure at exactly 128 bytes and leave the length attribute 0.
_ORIGINAL_DATAGRAM_MIN = 128
_EXTENSION_VERSION = 2
_MPLS_CLASS, _MPLS_INCOMING_STACK = 1, 1
# Longer than any label stack a network uses (a few entries; segment routing stays far below this):
# a quote claiming more is not a router's, and its labels are dropped like any malformed object.
MAX_MPLS_LABELS = 16

# IPv6 extension headers a reply may carry before its ICMPv6 header
# (hop-by-hop, routing, destination options): skipped by their length.
_IPV6_SKIPPABLE = frozenset((0, 43, 60))
_IPV6_FRAGMENT = 44
_MAX_IPV6_EXTENSIONS = 8  # more than any sane reply; bounds the loop on hostile input

_U16 = struct.Struct("!H")
# Cap'n Proto scalar types of reply.capnp and their little-endian struct codes.
_SCALAR_CODES = {"uint8": "B", "uint16": "H", "uint32": "I", "uint64": "Q",
                 "int8": "b", "int16": "h", "int32": "i", "int64": "q"}
_QUOTED_L4 = struct.Struct("!HHHH")  # UDP: sport dport length checksum / ICMP: type-code checksum id seq


class ReplyError(ValueError):
    """A captured packet is malformed (the sender or the capture broke the protocol)."""


@dataclass(frozen=True, slots=True)
class MplsLabel:
    """One RFC 3032 label stack entry quoted in an RFC 4950 extension object."""

    label: int  # 20 bits
    exp: int  # 3 bits (Traffic Class since RFC 5462)
    s_bit: bool  # bottom of stack
    ttl: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """One reply, field for field the `Reply` struct of reply.capnp (addresses 16 bytes)."""

    time_received_ns: int
    agent_id: str
    reply_src_addr: bytes
    reply_dst_addr: bytes
    reply_id: int  # outer IPv4 ID, 0 for IPv6
    reply_size: int  # IPv4 total length / IPv6 payload length, as far as the packet arrived
    reply_ttl: int
    reply_quoted_ttl: int  # TTL of the quoted probe when the router saw it; 0 for echo replies
    reply_protocol: int  # 1 (ICMP) or 58 (ICMPv6)
    reply_icmp_type: int
    reply_icmp_code: int
    reply_mpls_labels: tuple[MplsLabel, ...]
    probe_src_addr: bytes
    probe_dst_addr: bytes
    probe_id: int  # quoted IPv4 ID, 0 for IPv6 and echo replies
    probe_size: int  # quoted IPv4 total length / IPv6 payload length, 0 for echo replies
    probe_ttl: int
    probe_protocol: int  # 1, 17 or 58
    probe_src_port: int  # UDP source port or ICMP identifier
    probe_dst_port: int  # 0 for ICMP
    rtt: int  # tenths of a millisecond
    # Not on the wire: what the parse found about the reply, for the capture's checks and counters.
    # Why the probe encoding does not vouch for this reply ("" when every carried field agrees).
    proof_failure: str = field(default="", compare=False)
    # The length the outer header claims (IPv4 total length / IPv6 payload length); reply_size is what arrived.
    claimed_size: int = field(default=0, compare=False)


def _rtt(now_01ms: int, ts: int) -> int:
    # The probe holds the send time mod 65535; any RTT below 6.5535 s is exact.
    return (now_01ms - ts) % TIMESTAMP_MODULUS


# -- ICMP extensions (RFC 4884, RFC 4950) -------------------------------------------------------

def _parse_extension_objects(ext: bytes) -> tuple[MplsLabel, ...] | None:
    """MPLS entries of a checked extension structure; None when an object is malformed."""
    labels: list[MplsLabel] = []
    pos, end = 4, len(ext)
    while pos < end:
        if end - pos < 4:
            return None
        length = (ext[pos] << 8) | ext[pos + 1]
        # RFC 4884 object header: the length includes these 4 bytes.
        if length < 4 or pos + length > end:
            return None
        if ext[pos + 2] == _MPLS_CLASS and ext[pos + 3] == _MPLS_INCOMING_STACK:
            if length % 4:
                return None
            if len(labels) + (length - 4) // 4 > MAX_MPLS_LABELS:
                return None
            for i in range(pos + 4, pos + length, 4):
                entry = int.from_bytes(ext[i:i + 4], "big")
                labels.append(MplsLabel(entry >> 12, (entry >> 9) & 7, bool(entry & 0x100), entry & 0xFF))
        pos += length
    return tuple(labels)


def _mpls_labels(body: bytes, length_attribute: int) -> tuple[MplsLabel, ...]:
    """Labels from the extension structure after the original datagram in `body`.

    body: the ICMP message after its 8-byte header (original datagram field,
    then the extension structure if any), cut at the IP length.
    length_attribute: the RFC 4884 length of the original datagram field in
    bytes (32-bit words for ICMPv4, 64-bit words for ICMPv6, already scaled).
    """
    if length_attribute:
        # RFC 4884 compliant: the attribute says where the structure starts.
        # Below 128 the sender broke the padding rule; trust nothing after it.
        if length_attribute < _ORIGINAL_DATAGRAM_MIN or len(body) < length_attribute + 4:
            return ()
        ext = body[length_attribute:]
        legacy = False
    else:
        # RFC 4884 backward compatibility: pre-4884 senders append the
        # structure at offset 128 with no length attribute. Accept it only when
        # the header looks right and the checksum verifies: otherwise we would
        # read a long quote as extensions (our payload is zeros, and version 0
        # is rejected).
        if len(body) < _ORIGINAL_DATAGRAM_MIN + 8:
            return ()
        ext = body[_ORIGINAL_DATAGRAM_MIN:]
        legacy = True
    if ext[0] >> 4 != _EXTENSION_VERSION:
        return ()
    checksum = (ext[2] << 8) | ext[3]
    # The checksum covers the whole structure. A zero checksum is
    # tolerated from compliant senders (the attribute already vouches for the
    # offset), never from legacy ones.
    if (checksum or legacy) and ones_sum(ext) != 0xFFFF:
        return ()
    labels = _parse_extension_objects(ext)
    return labels if labels is not None else ()


# -- quoted probes -------------------------------------------------------------------------------

def _quoted_l4(quoted: bytes, offset: int, what: str) -> tuple[int, int, int, int]:
    if len(quoted) < offset + 8:
        # RFC 792 and RFC 4443 both guarantee the first 8 bytes of the payload.
        raise ReplyError(f"quoted {what} header truncated ({len(quoted) - offset} of 8 bytes)")
    return _QUOTED_L4.unpack_from(quoted, offset)


def _parse_icmpv4_error(icmp: bytes, common: dict, now_01ms: int) -> Reply | None:
    quoted = icmp[8:]
    if len(quoted) < 20:
        raise ReplyError(f"quoted IPv4 header truncated ({len(quoted)} of 20 bytes)")
    if quoted[0] >> 4 != 4:
        raise ReplyError(f"ICMP error quotes an IP version {quoted[0] >> 4} packet")
    qihl = (quoted[0] & 0x0F) * 4
    if qihl < 20:
        raise ReplyError(f"quoted IPv4 header length {qihl} < 20")
    if _U16.unpack_from(quoted, 6)[0] & 0x1FFF:
        return None  # a non-first fragment carries no transport header; ours are never fragmented
    qlen, qid = struct.unpack_from("!HH", quoted, 2)
    qproto = quoted[9]
    proof = ""
    if qproto == IPPROTO_UDP:
        sport, dport, ulen, ts = _quoted_l4(quoted, qihl, "UDP")
        probe_ttl = ulen - _L4_OVERHEAD
        if qlen - qihl != ulen:
            proof = "quoted_length"
        else:
            proof = _udp_proof(quoted[qihl:], ulen, ipv4_pseudo_header_sum(quoted[12:16], quoted[16:20], 17, ulen))
    elif qproto == IPPROTO_ICMP:
        type_code, checksum, sport, ts = _quoted_l4(quoted, qihl, "ICMP")
        if type_code >> 8 != ICMP_ECHO_REQUEST:
            return None
        dport = 0
        # Total length - IP header - ICMP header - tweak: 30 for our 20-byte headers.
        probe_ttl = qlen - qihl - _L4_OVERHEAD
        if checksum != sport:
            proof = "quoted_checksum"  # our echo requests pin the checksum to the identifier
    else:
        return None
    if not 0 <= probe_ttl <= 255:
        return None  # lengths our encoding never produces: somebody else's packet
    return Reply(
        **common,
        reply_quoted_ttl=quoted[8],
        reply_mpls_labels=_mpls_labels(quoted, icmp[5] * 4),
        probe_src_addr=V4_MAPPED_PREFIX + quoted[12:16],
        probe_dst_addr=V4_MAPPED_PREFIX + quoted[16:20],
        probe_id=qid,
        probe_size=qlen,
        probe_ttl=probe_ttl,
        probe_protocol=qproto,
        probe_src_port=sport,
        probe_dst_port=dport,
        rtt=_rtt(now_01ms, ts),
        proof_failure=proof,
    )


def _parse_icmpv6_error(icmp: bytes, common: dict, now_01ms: int) -> Reply | None:
    quoted = icmp[8:]
    if len(quoted) < 40:
        raise ReplyError(f"quoted IPv6 header truncated ({len(quoted)} of 40 bytes)")
    if quoted[0] >> 4 != 6:
        raise ReplyError(f"ICMPv6 error quotes an IP version {quoted[0] >> 4} packet")
    qplen = _U16.unpack_from(quoted, 4)[0]
    qnh = quoted[6]
    # Traffic class 0 and flow label 0 in every probe (the label is a load-balancing key, RFC 6438).
    proof = "flow_label" if int.from_bytes(quoted[1:4], "big") & 0xFFFFF else ""
    # Our probes carry no extension headers: anything else in the quote is not ours.
    if qnh == IPPROTO_UDP:
        sport, dport, ulen, ts = _quoted_l4(quoted, 40, "UDP")
        probe_ttl = ulen - _L4_OVERHEAD
        if not proof:
            if qplen != ulen:
                proof = "quoted_length"
            else:
                proof = _udp_proof(quoted[40:], ulen, ipv6_pseudo_header_sum(quoted[8:24], quoted[24:40], 17, ulen))
    elif qnh == IPPROTO_ICMPV6:
        type_code, checksum, sport, ts = _quoted_l4(quoted, 40, "ICMPv6")
        if type_code >> 8 != ICMPV6_ECHO_REQUEST:
            return None
        dport = 0
        probe_ttl = qplen - _L4_OVERHEAD
        if not proof and checksum != sport:
            proof = "quoted_checksum"
    else:
        return None
    if not 0 <= probe_ttl <= 255:
        return None
    return Reply(
        **common,
        reply_quoted_ttl=quoted[7],
        reply_mpls_labels=_mpls_labels(quoted, icmp[4] * 8),
        probe_src_addr=quoted[8:24],
        probe_dst_addr=quoted[24:40],
        probe_id=0,
        probe_size=qplen,
        probe_ttl=probe_ttl,
        probe_protocol=qnh,
        probe_src_port=sport,
        probe_dst_port=dport,
        rtt=_rtt(now_01ms, ts),
        proof_failure=proof,
    )


def _udp_proof(udp: bytes, ulen: int, pseudo: int) -> str:
    """Whether a quoted UDP probe checks out: its checksum is the timestamp, made valid by the tweak.

    Only decidable when the whole datagram is quoted (RFC 4443 routers always
    quote it, modern IPv4 routers usually do; RFC 792 ones quote 8 bytes): then
    the checksum must verify and the payload after the tweak must be zeros.
    """
    if len(udp) < ulen:
        return ""  # a short quote: the IP ID (IPv4) and the timestamp window are all there is
    if any(udp[8 + PAYLOAD_TWEAK_BYTES:ulen]):
        return "payload"
    if ones_sum(udp[:ulen], pseudo) != 0xFFFF:
        return "udp_checksum"
    return ""


def _echo_reply(common: dict, icmp: bytes, icmp_length: int, protocol: int, now_01ms: int) -> Reply | None:
    # An echo reply carries our identifier, sequence and payload back but no
    # quote: the probe addresses are the reply's swapped, the TTL comes from the
    # echoed length, and there is no quoted TTL, probe ID or probe size.
    probe_ttl = icmp_length - _L4_OVERHEAD
    if not 0 <= probe_ttl <= 255:
        return None
    _type_code, checksum, ident, seq = _QUOTED_L4.unpack_from(icmp, 0)
    # The request's checksum was pinned to its identifier; turning type 8 into 0 (128 into 129) moves it
    # by a known amount. The payload is the tweak then zeros, echoed whole (RFC 792, RFC 4443).
    delta = 0x0800 if protocol == IPPROTO_ICMP else 0xFEFF  # + 0x0800, or - 0x0100 in one's complement
    proof = ""
    if (ident + delta - checksum) % 0xFFFF:
        proof = "echo_checksum"
    elif any(icmp[8 + PAYLOAD_TWEAK_BYTES:icmp_length]):
        proof = "payload"
    return Reply(
        **common,
        reply_quoted_ttl=0,
        reply_mpls_labels=(),
        probe_src_addr=common["reply_dst_addr"],
        probe_dst_addr=common["reply_src_addr"],
        probe_id=0,
        probe_size=0,
        probe_ttl=probe_ttl,
        probe_protocol=protocol,
        probe_src_port=ident,
        probe_dst_port=0,
        rtt=_rtt(now_01ms, seq),
        proof_failure=proof,
    )


# -- outer headers --------------------------------------------------------------------------------

def _parse_ipv4(packet: bytes, now_01ms: int, time_received_ns: int, agent_id: str) -> Reply | None:
    if len(packet) < 20:
        raise ReplyError(f"IPv4 header truncated ({len(packet)} of 20 bytes)")
    ihl = (packet[0] & 0x0F) * 4
    if ihl < 20:
        raise ReplyError(f"IPv4 header length {ihl} < 20")
    total_length, ident, frag = struct.unpack_from("!HHH", packet, 2)
    if total_length < ihl:
        raise ReplyError(f"IPv4 total length {total_length} < header length {ihl}")
    if len(packet) < ihl:
        raise ReplyError(f"IPv4 options truncated ({len(packet)} of {ihl} bytes)")
    if packet[9] != IPPROTO_ICMP:
        return None
    if frag & 0x1FFF:
        return None  # later fragments have no ICMP header
    # Cut at the IP length: captures may carry link-layer padding after it.
    # A capture shorter than the IP length (snaplen) is used as far as it goes.
    icmp = packet[ihl:total_length]
    if len(icmp) < 8:
        raise ReplyError(f"ICMP header truncated ({len(icmp)} of 8 bytes)")
    icmp_type = icmp[0]
    if icmp_type not in (ICMP_TIME_EXCEEDED, ICMP_DEST_UNREACHABLE, ICMP_ECHO_REPLY):
        return None
    src, dst = packet[12:16], packet[16:20]
    common = dict(
        time_received_ns=time_received_ns,
        agent_id=agent_id,
        reply_src_addr=V4_MAPPED_PREFIX + src,
        reply_dst_addr=V4_MAPPED_PREFIX + dst,
        reply_id=ident,
        reply_size=ihl + len(icmp),  # what arrived, not what the header claims
        claimed_size=total_length,
        reply_ttl=packet[8],
        reply_protocol=IPPROTO_ICMP,
        reply_icmp_type=icmp_type,
        reply_icmp_code=icmp[1],
    )
    if icmp_type == ICMP_ECHO_REPLY:
        return _echo_reply(common, icmp, len(icmp), IPPROTO_ICMP, now_01ms)
    return _parse_icmpv4_error(icmp, common, now_01ms)


def _parse_ipv6(packet: bytes, now_01ms: int, time_received_ns: int, agent_id: str) -> Reply | None:
    if len(packet) < 40:
        raise ReplyError(f"IPv6 header truncated ({len(packet)} of 40 bytes)")
    payload_length = _U16.unpack_from(packet, 4)[0]
    end = 40 + payload_length
    next_header = packet[6]
    pos = 40
    for _ in range(_MAX_IPV6_EXTENSIONS):
        if next_header in _IPV6_SKIPPABLE:
            if end - pos < 8 or len(packet) - pos < 8:
                raise ReplyError("IPv6 extension header truncated")
            next_header, pos = packet[pos], pos + (packet[pos + 1] + 1) * 8
        elif next_header == _IPV6_FRAGMENT:
            if end - pos < 8 or len(packet) - pos < 8:
                raise ReplyError("IPv6 fragment header truncated")
            if _U16.unpack_from(packet, pos + 2)[0] & 0xFFF8:
                return None  # a non-first fragment has no ICMPv6 header
            next_header, pos = packet[pos], pos + 8
        else:
            break
    else:
        return None  # an absurd chain of extension headers: not a router's reply to us
    if next_header != IPPROTO_ICMPV6:
        return None
    if pos > end:
        raise ReplyError("IPv6 extension headers overrun the payload length")
    icmp = packet[pos:end]
    if len(icmp) < 8:
        raise ReplyError(f"ICMPv6 header truncated ({len(icmp)} of 8 bytes)")
    icmp_type = icmp[0]
    if icmp_type not in (ICMPV6_TIME_EXCEEDED, ICMPV6_DEST_UNREACHABLE, ICMPV6_ECHO_REPLY):
        return None
    common = dict(
        time_received_ns=time_received_ns,
        agent_id=agent_id,
        reply_src_addr=packet[8:24],
        reply_dst_addr=packet[24:40],
        reply_id=0,  # IPv6 has no identification outside the fragment header
        reply_size=min(payload_length, len(packet) - 40),  # what arrived, not what the header claims
        claimed_size=payload_length,
        reply_ttl=packet[7],
        reply_protocol=IPPROTO_ICMPV6,
        reply_icmp_type=icmp_type,
        reply_icmp_code=icmp[1],
    )
    if icmp_type == ICMPV6_ECHO_REPLY:
        return _echo_reply(common, icmp, len(icmp), IPPROTO_ICMPV6, now_01ms)
    return _parse_icmpv6_error(icmp, common, now_01ms)


def parse_reply(packet: bytes, *, now_01ms: int, time_received_ns: int, agent_id: str) -> Reply | None:
    """Parse one captured IP packet (IPv4 or IPv6, no link layer).

    now_01ms: capture time as Unix time in 0.1 ms (full value or already mod
    65535), for the RTT. time_received_ns and agent_id are copied into the reply.
    Returns None for packets that are not replies to our probes; raises
    ReplyError (only) for malformed packets.
    """
    packet = bytes(packet)
    if not packet:
        raise ReplyError("empty packet")
    version = packet[0] >> 4
    if version == 4:
        return _parse_ipv4(packet, now_01ms, time_received_ns, agent_id)
    if version == 6:
        return _parse_ipv6(packet, now_01ms, time_received_ns, agent_id)
    raise ReplyError(f"not an IP packet (version {version})")


# -- integrity -----------------------------------------------------------------------------------

def integrity_failure(reply: Reply, instance_id: int) -> str | None:
    """Why `reply` does not prove it answers a probe of agent instance `instance_id` (None: it does).

    Every reply kind is checked against what the probe encoding carries back:
    * ICMP errors quoting IPv4: the quoted IP ID is the encoding of (instance
      id, quoted destination, source port, probe TTL) -> "probe_id";
    * quoted IPv6: traffic class and flow label 0 -> "flow_label";
    * quoted UDP: the quoted IP length matches the UDP length ("quoted_length"),
      and when the whole datagram is quoted its checksum verifies with the
      timestamp in it ("udp_checksum") and the payload is the tweak then zeros
      ("payload");
    * quoted echo requests: the checksum equals the identifier ("quoted_checksum");
    * echo replies: the checksum is the request's pinned one moved by the type
      change ("echo_checksum"), the payload is echoed zeros ("payload").
    The timestamp window (was a probe sent at `now - rtt`?) needs the sender's
    state and is checked by the capture (`nxthdr.saimiris.agent.capture`).
    """
    if reply.proof_failure:
        return reply.proof_failure
    if reply.reply_protocol == IPPROTO_ICMP and reply.reply_icmp_type in (ICMP_TIME_EXCEEDED,
                                                                           ICMP_DEST_UNREACHABLE):
        expected = probe_id(instance_id, reply.probe_dst_addr[12:], reply.probe_src_port, reply.probe_ttl)
        if reply.probe_id != expected:
            return "probe_id"
    return None


def check_integrity(reply: Reply, instance_id: int) -> bool:
    """Whether `reply` answers a probe sent by agent instance `instance_id` (see `integrity_failure`).

    Telling two IPv6 instances apart needs distinct source addresses (the
    production layout: an anycast and a unicast prefix): IPv6 probes carry no
    per-instance field.
    """
    return integrity_failure(reply, instance_id) is None


# -- Cap'n Proto (reply.capnp, topic saimiris-replies) ----------------------------------------------

def reply_values(reply: Reply) -> dict:
    """The reply as the field dict of `nxthdr.core.capnp_codec.encode_message` (camelCase names)."""
    return {
        "timeReceivedNs": reply.time_received_ns,
        "agentId": reply.agent_id,
        "replySrcAddr": reply.reply_src_addr,
        "replyDstAddr": reply.reply_dst_addr,
        "replyId": reply.reply_id,
        "replySize": reply.reply_size,
        "replyTtl": reply.reply_ttl,
        "replyQuotedTtl": reply.reply_quoted_ttl,
        "replyProtocol": reply.reply_protocol,
        "replyIcmpType": reply.reply_icmp_type,
        "replyIcmpCode": reply.reply_icmp_code,
        "replyMplsLabel": [{"label": m.label, "exp": m.exp, "sBit": m.s_bit, "ttl": m.ttl}
                           for m in reply.reply_mpls_labels],
        "probeSrcAddr": reply.probe_src_addr,
        "probeDstAddr": reply.probe_dst_addr,
        "probeId": reply.probe_id,
        "probeSize": reply.probe_size,
        "probeTtl": reply.probe_ttl,
        "probeProtocol": reply.probe_protocol,
        "probeSrcPort": reply.probe_src_port,
        "probeDstPort": reply.probe_dst_port,
        "rtt": reply.rtt,
    }


def _snake(name: str) -> str:
    """Reply attribute of a reply.capnp field: snake_case, except the plural label stack."""
    if name == "replyMplsLabel":
        return "reply_mpls_labels"
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


class _ReplyWriter:
    """`encode_message` specialised to reply.capnp, byte for byte the same output.

    The generic writer walks the layout and builds a dict per message (about
    30 us); agents emit up to tens of thousands of replies per second, so the
    walk is done once here: one struct format for the whole data section, the
    pointer slots in layout order, and MPLS entries packed as single words.
    Offsets still come from the schema, never typed by hand.
    """

    def __init__(self) -> None:
        layout = struct_layout("reply.capnp", "Reply")
        scalars = sorted((s for s in layout.slots if s.kind in _SCALAR_CODES), key=lambda s: s.offset)
        # Fail at first use, not with wrong bytes, if reply.capnp grows a field kind handled nowhere here.
        unknown = [s.name for s in layout.slots if s.kind not in _SCALAR_CODES
                   and s.kind not in ("data", "text") and s.name != "replyMplsLabel"]
        if unknown:
            raise TypeError(f"_ReplyWriter cannot write {unknown}: extend it")
        fmt, pos = "<", 0
        for slot in scalars:
            if slot.offset > pos:
                fmt += f"{slot.offset - pos}x"
            fmt += _SCALAR_CODES[slot.kind]
            pos = slot.offset + struct.calcsize("<" + _SCALAR_CODES[slot.kind])
        fmt += f"{layout.data_words * 8 - pos}x"
        self.pack_data = struct.Struct(fmt).pack
        self.get_scalars = operator.attrgetter(*(_snake(s.name) for s in scalars))
        self.pointer_base = 1 + layout.data_words  # root pointer, then the data section
        self.first_object = 1 + layout.words
        self.pointer_count = layout.pointer_count
        self.root = struct.pack("<Q", struct_pointer(0, layout.data_words, layout.pointer_count))
        self.pack_pointers = struct.Struct(f"<{layout.pointer_count}Q").pack
        # (attribute, pointer index, kind) in layout order: the generic writer's object order.
        self.pointers = [(_snake(s.name), s.offset, s.kind) for s in layout.slots
                         if s.kind in ("data", "text", "list")]
        mpls = layout.by_name["replyMplsLabel"].element_layout
        if mpls.data_words != 1 or mpls.pointer_count != 0:
            raise TypeError("Mpls is expected to be one data word without pointers")
        m = mpls.by_name
        # Bit positions inside the entry's little-endian data word (Bool offsets are in bits).
        self.mpls_shifts = (m["label"].offset * 8, m["exp"].offset * 8, m["sBit"].offset, m["ttl"].offset * 8)

    def encode(self, reply: Reply) -> bytes:
        word = self.first_object
        pointers = [0] * self.pointer_count
        objects = []
        for attr, index, kind in self.pointers:
            here = self.pointer_base + index
            value = getattr(reply, attr)
            if kind == "data":
                pointers[index] = list_pointer(word - here - 1, 2, len(value))
                blob = value
            elif kind == "text":
                raw = value.encode() + b"\0"
                pointers[index] = list_pointer(word - here - 1, 2, len(raw))
                blob = raw
            else:  # List(Mpls): tag word, then one word per entry
                ls, es, ss, ts = self.mpls_shifts
                entries = [m.label << ls | m.exp << es | m.s_bit << ss | m.ttl << ts for m in value]
                pointers[index] = list_pointer(word - here - 1, 7, len(entries))
                # The tag word of a struct list holds the element count where a struct pointer's offset goes.
                blob = struct.pack(f"<{1 + len(entries)}Q", struct_pointer(len(entries), 1, 0), *entries)
            if len(blob) % 8:
                blob += bytes(8 - len(blob) % 8)
            objects.append(blob)
            word += len(blob) // 8
        # One segment of `word` words: framing (segment count - 1, size), root pointer, struct, objects.
        return b"".join((struct.pack("<II", 0, word), self.root, self.pack_data(*self.get_scalars(reply)),
                         self.pack_pointers(*pointers), *objects))


@functools.cache
def _reply_writer() -> _ReplyWriter:
    return _ReplyWriter()


def encode_reply(reply: Reply) -> bytes:
    """One framed `Reply` message (unpacked stream framing), written without pycapnp.

    Byte-identical to `encode_message(layout, reply_values(reply))`.
    """
    return _reply_writer().encode(reply)
