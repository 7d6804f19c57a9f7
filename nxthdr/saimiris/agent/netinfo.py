"""Interfaces and their addresses, read from the kernel without extra tools (no iproute2, no netlink library)."""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct

SIOCGIFADDR = 0x8915


def default_interface() -> str:
    """The interface of the IPv4 default route, else of the IPv6 one. Raises OSError when there is none."""
    try:
        with open("/proc/net/route", encoding="ascii") as f:
            next(f, None)
            for line in f:
                fields = line.split()
                if len(fields) >= 8 and fields[1] == "00000000" and fields[7] == "00000000":
                    return fields[0]
    except OSError:
        pass
    try:
        with open("/proc/net/ipv6_route", encoding="ascii") as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 10 and fields[0] == "0" * 32 and fields[1] == "00" and fields[9] != "lo":
                    return fields[9]
    except OSError:
        pass
    raise OSError("no default route: set the interface of each caracat instance")


def ipv4_address(interface: str) -> ipaddress.IPv4Address | None:
    """The primary IPv4 address of `interface`, None when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            out = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", interface.encode()[:15]))
        except OSError:
            return None
    return ipaddress.IPv4Address(out[20:24])


def ipv6_address(interface: str) -> ipaddress.IPv6Address | None:
    """The first global-scope, non-tentative IPv6 address of `interface`, None when it has none."""
    try:
        with open("/proc/net/if_inet6", encoding="ascii") as f:
            for line in f:
                fields = line.split()
                if len(fields) < 6 or fields[5] != interface:
                    continue
                scope, flags = int(fields[3], 16), int(fields[4], 16)
                if scope == 0 and not flags & 0x40:  # global, not IFA_F_TENTATIVE
                    return ipaddress.IPv6Address(bytes.fromhex(fields[0]))
    except OSError:
        pass
    return None


def interface_index(interface: str) -> int:
    """Raises OSError naming the interface when it does not exist."""
    try:
        return socket.if_nametoindex(interface)
    except OSError:
        raise OSError(f"interface {interface!r} does not exist") from None
