"""User source prefixes: an agent's IPv6 prefix /p plus a 32-bit user id gives the user's /(p+32).

The 32-bit user id is derived from the OIDC `sub` alone, so it is stable
across restarts and gateways without shared state: the first four bytes
(big-endian) of SHA-256 over the UTF-8 `sub`. It is written into the 32 bits
right after the agent prefix. A prefix longer than /96 leaves no room and
offers no user prefix. Collisions (two subs, one id) are detected by the
`users` table and refused rather than shared.
"""

from __future__ import annotations

import hashlib
import ipaddress

USER_ID_BITS = 32


def user_id(sub: str) -> int:
    return int.from_bytes(hashlib.sha256(sub.encode("utf-8")).digest()[:4], "big")


def user_prefix(agent_prefix: ipaddress.IPv6Network, uid: int) -> ipaddress.IPv6Network | None:
    p = agent_prefix.prefixlen
    if p + USER_ID_BITS > 128:
        return None
    base = int(agent_prefix.network_address) | (uid << (128 - p - USER_ID_BITS))
    return ipaddress.IPv6Network((base, p + USER_ID_BITS))


def user_prefixes(agent_prefixes: list[ipaddress.IPv6Network], uid: int) -> list[tuple[ipaddress.IPv6Network,
                                                                                          ipaddress.IPv6Network]]:
    out = []
    for prefix in agent_prefixes:
        mine = user_prefix(prefix, uid)
        if mine is not None:
            out.append((prefix, mine))
    return out
