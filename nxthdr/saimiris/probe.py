"""Probe specifications and the packets that carry them (caracal-compatible, stateless).

A probe is `(destination, source port, destination port, TTL, protocol)`. The
agent keeps no per-probe state: everything needed to match a reply is written
into fields that routers quote back in ICMP errors (RFC 792: IP header + 8
bytes; RFC 4443: as much as fits in 1280 bytes), and nothing that per-flow load
balancers hash on (RFC 6438 for IPv6; addresses, protocol, ports, ICMP
checksum and code for the Paris-traceroute family) varies between two probes
of the same flow.

Encoding (compatible with caracal so both agents understand each other's replies):

* timestamp `ts = (Unix time in 0.1 ms) mod 65535`;
* payload: `ttl + 2` bytes, the first two are the checksum "tweak", the rest
  zeros. The probe TTL can then be read back from quoted lengths, which
  routers do not rewrite (unlike the quoted TTL, decremented to 0 or 1);
* IPv4: IP ID = `probe_id(instance_id, dst, src_port, ttl)`, TOS 0, no
  fragmentation flags, header checksum computed;
* IPv6: traffic class 0 and flow label 0: the flow label is a load-balancing
  key (RFC 6438), so it cannot carry per-probe data the way the IPv4 ID does;
* UDP: the probe's ports; the checksum field holds `ts`, made valid by the
  tweak bytes. Ports are the flow id; the checksum is not hashed by load
  balancers, so it is free to vary. When `ts` is 0 the field holds 0xFFFF,
  the other one's complement zero: a 0 field means "no checksum" over IPv4
  and is invalid over IPv6 (RFC 768, RFC 8200 section 8.1), and 0xFFFF = 0
  (mod 65535) decodes to the same RTT. caracal would send 0 there;
* ICMP / ICMPv6 echo request: identifier = the probe's source port, sequence
  = `ts`, and the checksum is also forced to the source port. Load balancers
  hash the ICMP checksum as if it were a port, so it must not follow the
  timestamp: pinning it keeps the flow constant. The destination port is not
  sent.

TCP exists in the Cap'n Proto enum (contract with other producers) and can be
decoded, but is never sent: its sequence-number encoding is not part of the
caracal-compatible set.
"""

from __future__ import annotations

import functools
import ipaddress
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import capnp

from nxthdr.core.capnp_codec import FixedShapeWriter, load_schema, struct_layout
from nxthdr.saimiris.checksum import (
    checksum_tweak,
    ipv4_pseudo_header_sum,
    ipv6_pseudo_header_sum,
    ones_add,
    probe_id,
)

__all__ = [
    "IPPROTO",
    "PAYLOAD_TWEAK_BYTES",
    "PROTOCOLS",
    "SENDABLE_PROTOCOLS",
    "Probe",
    "ProbeError",
    "build_probe_packet",
    "decode_probes",
    "encode_probe",
    "encode_probes",
    "encode_timestamp",
    "ip16",
    "parse_probe_line",
    "parse_probes_csv",
]

# Index = value of `Probe.Protocol` in probe.capnp (a wire contract).
PROTOCOLS: tuple[str, ...] = ("tcp", "udp", "icmp", "icmpv6")
SENDABLE_PROTOCOLS = frozenset(("udp", "icmp", "icmpv6"))
IPPROTO = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}
PAYLOAD_TWEAK_BYTES = 2
V4_MAPPED_PREFIX = b"\0" * 10 + b"\xff\xff"
TIMESTAMP_MODULUS = 65535  # caracal's: the 16-bit fields hold ts mod 65535, so 0xFFFF is never a timestamp

_CSV_PROTOCOLS = {"icmp": "icmp", "icmpv6": "icmpv6", "udp": "udp"}


class ProbeError(ValueError):
    """A probe specification is invalid.

    `field` names the offending field (None when the record as a whole is
    wrong); `line` (1-based, CSV) or `index` (0-based, position in a Kafka
    record or API list) says which probe.
    """

    def __init__(self, reason: str, *, field: str | None = None, line: int | None = None,
                 index: int | None = None) -> None:
        self.reason = reason
        self.field = field
        self.line = line
        self.index = index
        super().__init__(self._text())

    def _text(self) -> str:
        parts = []
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.index is not None:
            parts.append(f"probe at index {self.index}")
        if self.field is not None:
            parts.append(f"field {self.field}")
        parts.append(self.reason)
        return ": ".join(parts)

    def located(self, *, line: int | None = None, index: int | None = None) -> "ProbeError":
        """The same error, saying where it happened."""
        return ProbeError(self.reason, field=self.field,
                          line=self.line if line is None else line,
                          index=self.index if index is None else index)


def _check_uint(name: str, value: object, bits: int) -> None:
    # bool is an int subclass; True as a port is a caller bug, not a port.
    if type(value) is not int or not 0 <= value < (1 << bits):
        raise ProbeError(f"must be an integer in 0..{(1 << bits) - 1}, got {value!r}", field=name)


@dataclass(frozen=True, slots=True)
class Probe:
    """One probe to send. Field order is the Cap'n Proto and CSV order."""

    dst_addr: bytes  # 16 bytes; IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d)
    src_port: int
    dst_port: int
    ttl: int
    protocol: str  # one of PROTOCOLS

    def __post_init__(self) -> None:
        if type(self.dst_addr) is not bytes or len(self.dst_addr) != 16:
            raise ProbeError(f"must be 16 bytes (IPv4-mapped for IPv4), got {self.dst_addr!r}",
                             field="dst_addr")
        _check_uint("src_port", self.src_port, 16)
        _check_uint("dst_port", self.dst_port, 16)
        _check_uint("ttl", self.ttl, 8)
        if self.protocol not in IPPROTO:
            raise ProbeError(f"unknown protocol {self.protocol!r}", field="protocol")
        # ICMP and ICMPv6 are different protocols, not spellings: sending an
        # ICMPv4 echo inside IPv6 (or the reverse) would never be answered.
        if self.protocol == "icmp" and not self.is_ipv4:
            raise ProbeError("icmp needs an IPv4 destination (use icmpv6)", field="protocol")
        if self.protocol == "icmpv6" and self.is_ipv4:
            raise ProbeError("icmpv6 needs an IPv6 destination (use icmp)", field="protocol")

    @property
    def is_ipv4(self) -> bool:
        return self.dst_addr[:12] == V4_MAPPED_PREFIX

    @property
    def dst_ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        if self.is_ipv4:
            return ipaddress.IPv4Address(self.dst_addr[12:])
        return ipaddress.IPv6Address(self.dst_addr)


def ip16(address: str | bytes | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
    """16-byte form of an address: IPv4 becomes IPv4-mapped IPv6. Raises ValueError."""
    if isinstance(address, bytes):
        if len(address) == 4:
            return V4_MAPPED_PREFIX + address
        if len(address) == 16:
            return address
        raise ValueError(f"an address is 4 or 16 bytes, got {len(address)}")
    if isinstance(address, str):
        address = ipaddress.ip_address(address.strip())
    if address.version == 4:
        return V4_MAPPED_PREFIX + address.packed
    return address.packed


def encode_timestamp(timestamp_01ms: int) -> int:
    """The 16-bit timestamp written into probes: Unix time in 0.1 ms, mod 65535."""
    return timestamp_01ms % TIMESTAMP_MODULUS


# -- packets -------------------------------------------------------------------------------

_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_L4 = struct.Struct("!HHHHH")  # UDP header + tweak word; ICMP echo is (type<<8|code, csum, id, seq, tweak)


def build_probe_packet(probe: Probe, src_addr: bytes, instance_id: int, timestamp_01ms: int) -> bytes:
    """The complete IP packet (no link layer) for `probe`, sent at `timestamp_01ms`.

    src_addr: the source address, 16 bytes (IPv4-mapped for IPv4) or 4 bytes.
    instance_id: 0..65535, mixed into the IPv4 ID so that two agent instances
    sharing an address can tell their replies apart (`check_integrity`).
    timestamp_01ms: Unix time in units of 0.1 ms (full value; reduced here).

    Raises ProbeError for probes that cannot be sent (TCP), ValueError for
    misuse (source family differs from the destination's, bad instance id).
    """
    protocol = probe.protocol
    if protocol not in SENDABLE_PROTOCOLS:
        raise ProbeError(f"{protocol} probes are not sent", field="protocol")
    if not 0 <= instance_id <= 0xFFFF:
        raise ValueError(f"instance_id must be in 0..65535, got {instance_id}")
    if len(src_addr) == 4:
        src_addr = V4_MAPPED_PREFIX + src_addr
    elif len(src_addr) != 16:
        raise ValueError(f"src_addr must be 4 or 16 bytes, got {len(src_addr)}")
    ipv4 = probe.is_ipv4
    if (src_addr[:12] == V4_MAPPED_PREFIX) != ipv4:
        raise ValueError("source and destination addresses are of different families")

    ts = timestamp_01ms % TIMESTAMP_MODULUS
    ttl = probe.ttl
    sport = probe.src_port
    l4_length = 8 + ttl + PAYLOAD_TWEAK_BYTES
    zeros = bytes(ttl)  # the rest of the payload; zeros add nothing to a checksum

    if protocol == "udp":
        if ipv4:
            pseudo = ipv4_pseudo_header_sum(src_addr[12:], probe.dst_addr[12:], 17, l4_length)
        else:
            pseudo = ipv6_pseudo_header_sum(src_addr, probe.dst_addr, 17, l4_length)
        # Checksum field skipped: it holds the target (ts), the tweak closes the sum.
        partial = ones_add(pseudo, sport, probe.dst_port, l4_length)
        target = ts or 0xFFFF  # RFC 768: a zero checksum is transmitted as all ones
        l4 = _L4.pack(sport, probe.dst_port, l4_length, target, checksum_tweak(partial, target)) + zeros
    elif protocol == "icmp":
        partial = ones_add(0x0800, sport, ts)  # type 8 code 0, identifier, sequence
        l4 = _L4.pack(0x0800, sport, sport, ts, checksum_tweak(partial, sport)) + zeros
    else:  # icmpv6: the checksum covers a pseudo-header (RFC 4443 section 2.3)
        pseudo = ipv6_pseudo_header_sum(src_addr, probe.dst_addr, 58, l4_length)
        partial = ones_add(pseudo, 0x8000, sport, ts)  # type 128 code 0
        l4 = _L4.pack(0x8000, sport, sport, ts, checksum_tweak(partial, sport)) + zeros

    if ipv4:
        src4, dst4 = src_addr[12:], probe.dst_addr[12:]
        total = 20 + l4_length
        ident = probe_id(instance_id, dst4, sport, ttl)
        proto_num = IPPROTO[protocol]
        header_sum = ones_add(0x4500, total, ident, (ttl << 8) | proto_num,
                              int.from_bytes(src4 + dst4, "big") % 0xFFFF)
        header = _IPV4.pack(0x45, 0, total, ident, 0, ttl, proto_num, ~header_sum & 0xFFFF, src4, dst4)
    else:
        header = _IPV6.pack(0x60000000, l4_length, IPPROTO[protocol], ttl, src_addr, probe.dst_addr)
    return header + l4


# -- Cap'n Proto (probe.capnp, topic saimiris-probes) ------------------------------------------

@functools.cache
def _probe_writer() -> FixedShapeWriter:
    layout = struct_layout("probe.capnp", "Probe")
    return FixedShapeWriter(layout, ["srcPort", "dstPort", "ttl", "protocol"], {"dstAddr": 16})


def encode_probe(probe: Probe) -> bytes:
    """One framed `Probe` message (unpacked stream framing)."""
    writer = _probe_writer()
    values = {"srcPort": probe.src_port, "dstPort": probe.dst_port, "ttl": probe.ttl,
              "protocol": PROTOCOLS.index(probe.protocol)}
    return writer.encode(tuple(values[n] for n in writer.data_order), (probe.dst_addr,))


def encode_probes(probes: Iterable[Probe]) -> bytes:
    """Messages concatenated, as in one Kafka record value."""
    return b"".join(encode_probe(p) for p in probes)


def decode_probes(data: bytes) -> list[Probe]:
    """All `Probe` messages of one Kafka record value.

    Raises ProbeError naming the index of the first bad message: a malformed
    message (framing, pointers), an unknown protocol, a dstAddr that is not 16
    bytes. Nothing is returned for a record with a bad message: the framing
    after it cannot be trusted.
    """
    schema = load_schema("probe.capnp").Probe
    probes: list[Probe] = []
    try:
        for message in schema.read_multiple_bytes(bytes(data)):
            index = len(probes)
            raw_protocol = message.protocol.raw
            if raw_protocol >= len(PROTOCOLS):
                raise ProbeError(f"unknown protocol enum value {raw_protocol}", field="protocol", index=index)
            try:
                probes.append(Probe(bytes(message.dstAddr), message.srcPort, message.dstPort,
                                    message.ttl, PROTOCOLS[raw_protocol]))
            except ProbeError as e:
                raise e.located(index=index) from None
    except capnp.KjException as e:
        reason = str(e).split("\n", 1)[0]
        raise ProbeError(f"malformed Cap'n Proto message: {reason}", index=len(probes)) from None
    return probes


# -- CSV: dst,sport,dport,ttl,PROTO ----------------------------------------------------------

def _parse_uint(text: str, name: str, bits: int) -> int:
    # Plain decimal only: int() would also take "+5", "1_000" and non-ASCII digits.
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > 5:
        raise ProbeError(f"not an integer in 0..{(1 << bits) - 1}: {text!r}", field=name)
    value = int(text)
    if value >= 1 << bits:
        raise ProbeError(f"not an integer in 0..{(1 << bits) - 1}: {text!r}", field=name)
    return value


def parse_probe_line(line: str, *, line_number: int | None = None) -> Probe:
    """Parse `dst,sport,dport,ttl,PROTO` (PROTO case-insensitive: ICMP, ICMPv6, UDP).

    Spaces around fields are ignored. Raises ProbeError naming the field (and
    the line when `line_number` is given).
    """
    try:
        fields = [f.strip() for f in line.strip().split(",")]
        if len(fields) != 5:
            raise ProbeError(f"expected 5 comma-separated fields (dst,sport,dport,ttl,protocol), got {len(fields)}")
        dst_text, sport_text, dport_text, ttl_text, proto_text = fields
        try:
            dst = ip16(dst_text)
        except ValueError:
            raise ProbeError(f"not an IP address: {dst_text!r}", field="dst_addr") from None
        protocol = _CSV_PROTOCOLS.get(proto_text.lower())
        if protocol is None:
            raise ProbeError(f"unknown protocol {proto_text!r} (expected ICMP, ICMPv6 or UDP)", field="protocol")
        return Probe(dst, _parse_uint(sport_text, "src_port", 16), _parse_uint(dport_text, "dst_port", 16),
                     _parse_uint(ttl_text, "ttl", 8), protocol)
    except ProbeError as e:
        raise e.located(line=line_number) from None


def parse_probes_csv(lines: Iterable[str], *, first_line: int = 1) -> Iterator[Probe]:
    """Probes from CSV lines; blank lines and lines starting with '#' are skipped.

    Errors carry the 1-based line number (counting skipped lines).
    """
    for number, line in enumerate(lines, first_line):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        yield parse_probe_line(stripped, line_number=number)
