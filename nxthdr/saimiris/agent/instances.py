"""Which instance, and which source address, a measurement uses (sans-I/O).

The header's `src_ip` picks the instance whose prefix contains it, and that
exact address is the source; otherwise the first instance without prefixes
sends from its interface's address; otherwise the probes are dropped (the
caller counts them). Which addresses are ours also decides which captured
replies are kept.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from nxthdr.core.addr import V4_MAPPED
from nxthdr.saimiris.agent.config import InstanceConfig


@dataclass(frozen=True)
class Source:
    """Where a message's probes go out: the instance and its source per family (16 bytes, or None)."""

    instance: InstanceConfig
    v4: bytes | None
    v6: bytes | None

    def for_probe(self, is_ipv4: bool) -> bytes | None:
        return self.v4 if is_ipv4 else self.v6


class NoInstance(ValueError):
    """No instance may send from this source address."""


class InstanceTable:
    """The agent's instances and their interface addresses (16-byte forms)."""

    def __init__(self, instances: list[InstanceConfig],
                 interface_addresses: dict[str, tuple[bytes | None, bytes | None]]) -> None:
        """interface_addresses: instance name -> (IPv4 as mapped 16 bytes or None, IPv6 or None)."""
        self.instances = instances
        self.addresses = interface_addresses
        self._owners: dict[bytes, InstanceConfig | None] = {}

    def select(self, src_ip: str) -> Source:
        """The source for a message whose header says `src_ip`. Raises NoInstance."""
        try:
            ip = ipaddress.ip_address(src_ip)
        except ValueError:
            raise NoInstance(f"src_ip is not an IP address: {src_ip!r}") from None
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        for inst in self.instances:
            net = inst.src_ipv4_prefix if ip.version == 4 else inst.src_ipv6_prefix
            if net is not None and ip in net:
                packed = V4_MAPPED + ip.packed if ip.version == 4 else ip.packed
                return Source(inst, packed if ip.version == 4 else None, packed if ip.version == 6 else None)
        for inst in self.instances:
            if not inst.has_prefixes:
                v4, v6 = self.addresses.get(inst.name, (None, None))
                if v4 is None and v6 is None:
                    continue
                return Source(inst, v4, v6)
        raise NoInstance(f"no instance has a prefix containing {src_ip} and none sends from its interface address")

    def owner(self, addr16: bytes) -> InstanceConfig | None:
        """The instance a probe source address (16 bytes) belongs to, for replies (cached: per-reply path)."""
        try:
            return self._owners[addr16]
        except KeyError:
            pass
        if len(self._owners) > 65536:  # a cache, not a table: bounded against address scans
            self._owners.clear()
        found = self._owners[addr16] = self._find_owner(addr16)
        return found

    def _find_owner(self, addr16: bytes) -> InstanceConfig | None:
        for inst in self.instances:
            v4, v6 = self.addresses.get(inst.name, (None, None))
            if not inst.has_prefixes and addr16 in (v4, v6):
                return inst
        if addr16[:12] == V4_MAPPED:
            ip = ipaddress.IPv4Address(addr16[12:])
            for inst in self.instances:
                if inst.src_ipv4_prefix is not None and ip in inst.src_ipv4_prefix:
                    return inst
        else:
            ip6 = ipaddress.IPv6Address(addr16)
            for inst in self.instances:
                if inst.src_ipv6_prefix is not None and ip6 in inst.src_ipv6_prefix:
                    return inst
        return None
