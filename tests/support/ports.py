"""Free loopback ports for the services and programs a test starts.

Asking the kernel for port 0 hands out a port from the ephemeral range, the
same range it draws from for every outgoing connection on the machine: on a
busy machine a client socket can take that port between our probe and the
server's bind ("Address already in use"). So ports are drawn at random from
below the ephemeral range, where the kernel never assigns one by itself, are
never handed out twice by one process, and are checked free for TCP and UDP
on both loopback families. A collision with another test process can still
happen; fixtures that start a server therefore retry with new ports
(tests/services/kafka.py does).
"""

from __future__ import annotations

import random
import socket

_handed: set[int] = set()
_rng = random.Random()


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            try:
                with socket.socket(family, kind) as s:
                    s.bind((host, port))
            except OSError as e:
                # A machine without IPv6 on loopback still has usable IPv4 ports.
                if family == socket.AF_INET6 and e.errno in (99, 97):  # EADDRNOTAVAIL, EAFNOSUPPORT
                    continue
                return False
    return True


def free_port(*_ignored: object) -> int:
    """A port no socket holds now, outside the kernel's ephemeral range.

    Extra positional arguments (a socket kind) are accepted for the callers
    that used to pass one: every port returned is free for TCP and UDP.
    """
    high = min(_ephemeral_low(), 65536) - 1
    low = 10000 if high > 20000 else 1025
    for _ in range(2000):
        port = _rng.randint(low, high)
        if port in _handed:
            continue
        if _bindable(port):
            _handed.add(port)
            return port
    raise RuntimeError(f"no free port in {low}-{high} after 2000 tries")
