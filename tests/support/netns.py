"""Network namespaces and veth links for multi-host test topologies.

Every namespace gets a unique name (prefix + pid + counter) so parallel runs and
leftovers of a killed run never collide; `Topology.close()` deletes what it made.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import random
import shutil
import subprocess
from dataclasses import dataclass, field

_counter = itertools.count()


def run(*cmd: str, check: bool = True, capture: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, capture_output=capture, input=input)


def netns_available() -> bool:
    """True when this process may create network namespaces (root with iproute2)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    name = f"nxprobe{os.getpid()}"
    ok = run("ip", "netns", "add", name, check=False).returncode == 0
    if ok:
        run("ip", "netns", "del", name, check=False)
    return ok


@dataclass
class Namespace:
    name: str

    def cmd(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(*self.cmd(*args), check=check)

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.cmd(*args), **kwargs)

    def sysctl(self, key: str, value: str) -> None:
        self.run("sysctl", "-qw", f"{key}={value}")


@dataclass(frozen=True)
class Uplink:
    """A veth between a namespace and the root namespace, with one IPv4 /30 and one IPv6 /64.

    Addresses carry no prefix length; the root side is where a collector in the
    test process listens, the namespace side is what the router connects from.
    """

    ns_if: str
    root_if: str
    ns_v4: str
    root_v4: str
    ns_v6: str
    root_v6: str


def _random_uplink_subnets() -> tuple[ipaddress.IPv4Network, ipaddress.IPv6Network]:
    # The root namespace is shared with whatever else runs on the machine, so the
    # subnets are random: a /30 in 198.18.0.0/15 (RFC 2544 benchmarking range,
    # never routed) and a /64 in a random ULA /48 (RFC 4193).
    v4 = ipaddress.IPv4Network((int(ipaddress.IPv4Address("198.18.0.0")) + 4 * random.randrange(1 << 15), 30))
    v6 = ipaddress.IPv6Network(((0xFD << 120) | (random.getrandbits(56) << 64), 64))
    return v4, v6


@dataclass
class Topology:
    """A set of namespaces joined by veth pairs. Use as a context manager."""

    prefix: str = "nx"
    namespaces: list[Namespace] = field(default_factory=list)
    _links: int = 0

    def add(self, role: str) -> Namespace:
        name = f"{self.prefix}-{role}-{os.getpid()}-{next(_counter)}"
        run("ip", "netns", "add", name)
        ns = Namespace(name)
        self.namespaces.append(ns)
        ns.run("ip", "link", "set", "lo", "up")
        return ns

    def link(self, a: Namespace, a_addrs: list[str], b: Namespace | None, b_addrs: list[str]) -> tuple[str, str]:
        """Join `a` and `b` (None: the root namespace) with a veth pair; returns the interface names."""
        n = next(_counter)
        ia, ib = f"nxa{os.getpid() % 100000}{n}"[:15], f"nxb{os.getpid() % 100000}{n}"[:15]
        run("ip", "link", "add", ia, "type", "veth", "peer", "name", ib)
        run("ip", "link", "set", ia, "netns", a.name)
        if b is not None:
            run("ip", "link", "set", ib, "netns", b.name)
        for ns, ifname, addrs in ((a, ia, a_addrs), (b, ib, b_addrs)):
            prefix = ns.cmd() if ns is not None else []
            for addr in addrs:
                family = "-6" if ":" in addr else "-4"
                run(*prefix, "ip", family, "addr", "add", addr, "dev", ifname, *(["nodad"] if ":" in addr else []))
            run(*prefix, "ip", "link", "set", ifname, "up")
        return ia, ib

    def uplink(self, ns: Namespace) -> Uplink:
        """Join `ns` to the root namespace on fresh random subnets (see `Uplink`)."""
        v4, v6 = _random_uplink_subnets()
        ns_v4, root_v4 = str(v4[2]), str(v4[1])
        ns_v6, root_v6 = str(v6[2]), str(v6[1])
        ns_if, root_if = self.link(ns, [f"{ns_v4}/30", f"{ns_v6}/64"], None, [f"{root_v4}/30", f"{root_v6}/64"])
        return Uplink(ns_if, root_if, ns_v4, root_v4, ns_v6, root_v6)

    def close(self) -> None:
        for ns in reversed(self.namespaces):
            # Killing the processes first lets the namespace (and its veths) go away.
            pids = run("ip", "netns", "pids", ns.name, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            run("ip", "netns", "del", ns.name, check=False)
        self.namespaces.clear()

    def __enter__(self) -> "Topology":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
