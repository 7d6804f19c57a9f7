"""Byte-level packet construction for the saimiris tests, independent of the code under test.

Nothing here imports nxthdr.saimiris: headers are laid out field by field and
the checksum is the textbook RFC 1071 loop, so a shared mistake cannot make a
test pass.
"""

from __future__ import annotations

import ipaddress


def a4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def a6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


def mapped(text: str) -> bytes:
    """16-byte IPv4-mapped form of an IPv4 address."""
    return bytes(10) + b"\xff\xff" + a4(text)


def u16(v: int) -> bytes:
    return bytes((v >> 8 & 0xFF, v & 0xFF))


def u32(v: int) -> bytes:
    return bytes((v >> 24 & 0xFF, v >> 16 & 0xFF, v >> 8 & 0xFF, v & 0xFF))


def rfc1071(data: bytes) -> int:
    """Checksum field value for `data`: one's complement of the folded one's complement sum."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def verifies(data: bytes) -> bool:
    """A region with its checksum field in place verifies when its checksum computes to 0."""
    return rfc1071(data) == 0


def pseudo4(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    return src + dst + b"\0" + bytes((proto,)) + u16(length)


def pseudo6(src: bytes, dst: bytes, next_header: int, length: int) -> bytes:
    return src + dst + u32(length) + b"\0\0\0" + bytes((next_header,))


def ipv4(src: bytes, dst: bytes, proto: int, payload: bytes, *, ttl: int = 64, ident: int = 0,
         frag: int = 0, total_length: int | None = None) -> bytes:
    total = 20 + len(payload) if total_length is None else total_length
    header = bytearray(bytes((0x45, 0)) + u16(total) + u16(ident) + u16(frag) + bytes((ttl, proto)) + b"\0\0"
                       + src + dst)
    header[10:12] = u16(rfc1071(bytes(header)))
    return bytes(header) + payload


def ipv6(src: bytes, dst: bytes, next_header: int, payload: bytes, *, hlim: int = 64,
         payload_length: int | None = None) -> bytes:
    plen = len(payload) if payload_length is None else payload_length
    return u32(0x60000000) + u16(plen) + bytes((next_header, hlim)) + src + dst + payload


def icmp4(icmp_type: int, code: int, rest: bytes, body: bytes) -> bytes:
    """ICMPv4 message; `rest` is the 4 bytes after the checksum."""
    message = bytearray(bytes((icmp_type, code)) + b"\0\0" + rest + body)
    message[2:4] = u16(rfc1071(bytes(message)))
    return bytes(message)


def icmp6(src: bytes, dst: bytes, icmp_type: int, code: int, rest: bytes, body: bytes) -> bytes:
    """ICMPv6 message, checksum over the pseudo-header (RFC 4443 section 2.3)."""
    message = bytearray(bytes((icmp_type, code)) + b"\0\0" + rest + body)
    message[2:4] = u16(rfc1071(pseudo6(src, dst, 58, len(message)) + bytes(message)))
    return bytes(message)


def mpls_entry(label: int, exp: int, s: int, ttl: int) -> bytes:
    return u32(label << 12 | exp << 9 | s << 8 | ttl)


def extension(*objects: bytes, checksum: bool = True) -> bytes:
    """RFC 4884 extension structure: version 2 header, then the objects."""
    structure = bytearray(b"\x20\x00\x00\x00" + b"".join(objects))
    if checksum:
        structure[2:4] = u16(rfc1071(bytes(structure)))
    return bytes(structure)


def mpls_object(*entries: bytes) -> bytes:
    """RFC 4950 MPLS label stack object: class 1, c-type 1."""
    body = b"".join(entries)
    return u16(4 + len(body)) + b"\x01\x01" + body


def pad(data: bytes, size: int = 128) -> bytes:
    return data + bytes(max(0, size - len(data)))
