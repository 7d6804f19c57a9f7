"""Addresses as the collectors store them: always 16 bytes, IPv4 as IPv4-mapped IPv6."""

from __future__ import annotations

import ipaddress
import socket

V4_MAPPED = b"\0" * 10 + b"\xff\xff"
ZERO16 = b"\0" * 16


def to16(text_or_bytes: str | bytes) -> bytes:
    """An address (text, 4 or 16 bytes) as 16 bytes."""
    if isinstance(text_or_bytes, bytes):
        if len(text_or_bytes) == 4:
            return V4_MAPPED + text_or_bytes
        if len(text_or_bytes) == 16:
            return text_or_bytes
        raise ValueError(f"address of {len(text_or_bytes)} bytes")
    ip = ipaddress.ip_address(text_or_bytes.split("%", 1)[0])
    return V4_MAPPED + ip.packed if ip.version == 4 else ip.packed


def label(addr16: bytes) -> str:
    """The one text form used in metric labels and logs: dotted IPv4 for mapped addresses."""
    if addr16[:12] == V4_MAPPED:
        return socket.inet_ntop(socket.AF_INET, addr16[12:])
    return socket.inet_ntop(socket.AF_INET6, addr16)


def from_sockaddr(host: str) -> bytes:
    """16 bytes from a socket peer address (which may be IPv4-mapped text on a dual-stack socket)."""
    return to16(host)
