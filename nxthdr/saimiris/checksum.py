"""Internet checksum arithmetic (RFC 1071) and the probe encodings built on it.

Everything here works on the 16-bit one's complement sum. Two facts keep it
short and fast in Python:

* 65536 = 1 (mod 65535), so the big-endian integer value of a byte string is
  congruent modulo 65535 to the sum of its 16-bit words. One `int.from_bytes`
  and one `%` replace a loop over the words (RFC 1071 section 2 (A) and (C): the
  sum is independent of how it is grouped).
* One's complement arithmetic has two zeros, 0x0000 and 0xFFFF. A residue of 0
  therefore stands for 0xFFFF whenever some input word was non-zero: the
  end-around-carry sum of non-zero words never yields 0x0000. `ones_sum`
  returns the RFC 1071 folded value, so the checksums written on the wire are
  the usual ones.
"""

from __future__ import annotations

__all__ = [
    "checksum_tweak",
    "internet_checksum",
    "ipv4_pseudo_header_sum",
    "ipv6_pseudo_header_sum",
    "ones_add",
    "ones_sum",
    "probe_id",
    "verify",
]

_M = 0xFFFF  # 2**16 - 1: one's complement arithmetic is arithmetic modulo this


def ones_sum(data: bytes, initial: int = 0) -> int:
    """Folded 16-bit one's complement sum of `data` plus `initial` (RFC 1071).

    Odd-length data is padded with a zero byte, as for the UDP/ICMP checksums.
    The result is in 0..0xFFFF and is 0 only when every input is zero.
    """
    if len(data) & 1:
        data = bytes(data) + b"\0"
    s = (int.from_bytes(data, "big") + initial) % _M
    if s == 0 and (initial or any(data)):
        return _M
    return s


def ones_add(*words: int) -> int:
    """One's complement sum of already-folded 16-bit values."""
    s = sum(words) % _M
    if s == 0 and any(words):
        return _M
    return s


def internet_checksum(data: bytes, initial: int = 0) -> int:
    """The checksum field value for `data` (checksum field zeroed) plus a partial sum."""
    return ~ones_sum(data, initial) & _M


def verify(data: bytes, initial: int = 0) -> bool:
    """True when `data` (checksum field included) plus `initial` sums to one's complement zero."""
    return ones_sum(data, initial) == _M


def ipv4_pseudo_header_sum(src: bytes, dst: bytes, protocol: int, length: int) -> int:
    """Partial sum of the IPv4 pseudo-header of UDP/TCP (RFC 768, RFC 793).

    src, dst: 4 bytes each; length: the transport length (header + payload).
    """
    return ones_add(int.from_bytes(src + dst, "big") % _M, protocol, length)


def ipv6_pseudo_header_sum(src: bytes, dst: bytes, next_header: int, length: int) -> int:
    """Partial sum of the IPv6 pseudo-header of UDP and ICMPv6 (RFC 8200 section 8.1, RFC 4443 section 2.3).

    src, dst: 16 bytes each; length: the upper-layer packet length. The 32-bit
    length and the 24 zero bits before the next header fold into plain words.
    """
    return ones_add(int.from_bytes(src + dst, "big") % _M, length >> 16, length & _M, next_header)


def checksum_tweak(partial_sum: int, target: int) -> int:
    """The 16-bit word that, added to data summing to `partial_sum`, makes its checksum `target`.

    caracal's trick: the probe's checksum field carries information (the
    timestamp for UDP, the flow id for ICMP echo), yet the packet must stay
    valid. The checksum field holds `target`; the packet verifies when the sum
    of everything else is ~target, so two payload bytes (word-aligned) take
    the difference. `partial_sum` covers the pseudo-header (if any), the
    header with the checksum field skipped and the payload without these two
    bytes. Subtraction in one's complement is addition of the complement.
    """
    return ((~target & _M) - partial_sum) % _M


def probe_id(instance_id: int, dst_ipv4: bytes, src_port: int, ttl: int) -> int:
    """The IPv4 identification of a probe: caracal's per-instance integrity value.

    `(instance_id + destination + source port + ttl) mod 65535`, complemented.
    The residue is at most 65534, so the complement is never 0 (an IP ID of 0
    would look like "unset" to some middleboxes and kernels).

    Byte order and width follow the reference engine so that both agents
    validate each other's replies: the destination address is the 32-bit
    integer read *little-endian* from its four network-order bytes, and the
    sum wraps at 2**32 (the engine adds in unsigned 32-bit arithmetic; the
    wrap only matters for destinations such as x.y.254.255 or x.y.255.255,
    whose little-endian value is within 2**17 of 2**32).
    """
    total = (instance_id + int.from_bytes(dst_ipv4, "little") + src_port + ttl) & 0xFFFFFFFF
    return ~(total % _M) & _M
