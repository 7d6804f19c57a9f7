"""BMP pipeline scenario: a peer announces prefixes to the IXP router, which streams
BMP (pre- and post-policy) to risotto on the core; the rows must show every
prefix announced in both views, and synthetic withdraws once the session drops.

Machines: `peer` (GoBGP, announces), `ixp` (the monitored router, GoBGP, BMP to
the core), `core` (risotto). Routers are driven with the `gobgp` CLI on its
default API port. How rows are read is the caller's: `clickhouse_rows` runs the
same SQL on ClickHouse in the VM test and, through `nxthdr query --url`, on the
appliance's embedded store in the namespace test.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
from dataclasses import dataclass
from typing import Callable

from .machine import Machine, wait_for


@dataclass(frozen=True)
class UpdateRow:
    """The fields of a stored Update row the scenario looks at."""

    prefix: str  # "10.10.0.0/24", IPv4 without the mapped form
    peer: str
    post_policy: bool
    announced: bool
    synthetic: bool


RowsReader = Callable[[], list[UpdateRow]]


@dataclass(frozen=True)
class Route:
    prefix: str
    nexthop: str  # the peer's address on the session that carries it

    @property
    def family(self) -> str:
        return "ipv6" if ":" in self.prefix else "ipv4"


@dataclass(frozen=True)
class BmpPipeline:
    peer: Machine
    ixp: Machine
    core: Machine
    sessions: tuple[str, ...]  # the peer's addresses, as the ixp router's neighbors
    routes: tuple[Route, ...]
    bmp_port: int = 4000
    metrics_port: int = 8080
    risotto_unit: str = "risotto.service"
    router_unit: str = "gobgpd.service"
    timeout: int = 120


def prefix_text(addr: str, length: int) -> str:
    """A row's prefix as text: IPv4-mapped addresses back to IPv4."""
    a = ipaddress.ip_address(addr)
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None:
        a = a.ipv4_mapped
    return f"{a}/{length}"


def _views(rows: list[UpdateRow], prefix: str, *, announced: bool, synthetic: bool) -> set[bool]:
    """The policy views (False = pre, True = post) in which `prefix` has such a row."""
    return {r.post_policy for r in rows if r.prefix == prefix and r.announced == announced
            and r.synthetic == synthetic}


def _seen(rows: RowsReader, prefix: str) -> Callable[[], str]:
    def details() -> str:
        mine = [r for r in rows() if r.prefix == prefix]
        return f"rows of {prefix} so far ({len(mine)}):\n" + "\n".join(map(str, mine[-20:]))

    return details


def run(t: BmpPipeline, rows: RowsReader) -> None:
    t.core.wait_for_unit(t.risotto_unit)
    t.core.wait_for_open_port(t.bmp_port)
    for router in (t.peer, t.ixp):
        router.wait_for_unit(t.router_unit)
    for session in t.sessions:
        t.ixp.wait_until_succeeds(f"gobgp neighbor {shlex.quote(session)} | grep -qi 'BGP state = established'",
                                  timeout=t.timeout)

    for route in t.routes:
        t.peer.succeed(f"gobgp global rib -a {route.family} add {shlex.quote(route.prefix)}"
                       f" nexthop {shlex.quote(route.nexthop)}")

    # Every prefix arrives announced, before and after the router's import policy.
    for route in t.routes:
        wait_for(lambda: _views(rows(), route.prefix, announced=True, synthetic=False) == {False, True},
                 t.timeout, f"{route.prefix} announced pre- and post-policy", details=_seen(rows, route.prefix))
    t.core.wait_until_succeeds(
        f"curl -sf http://127.0.0.1:{t.metrics_port}/metrics | grep -E '^risotto_peer_established\\{{.*\\}} 1'",
        timeout=t.timeout)
    before = rows()
    assert not any(r.synthetic for r in before), "synthetic withdraws before any session went down"

    # The sessions go down (BMP Peer Down). Each prefix must end withdrawn in both
    # views exactly once: by the router's own Route Monitoring withdraw where it sends
    # one (GoBGP does for post-policy), otherwise by risotto's synthetic withdraw.
    for session in t.sessions:
        t.ixp.succeed(f"gobgp neighbor {shlex.quote(session)} disable")

    def after() -> list[UpdateRow]:
        return rows()[len(before):]

    for route in t.routes:
        wait_for(lambda: _views(after(), route.prefix, announced=False, synthetic=True)
                 | _views(after(), route.prefix, announced=False, synthetic=False) == {False, True},
                 t.timeout, f"withdraws of {route.prefix} pre- and post-policy", details=_seen(rows, route.prefix))
    t.core.wait_until_succeeds(
        f"! curl -sf http://127.0.0.1:{t.metrics_port}/metrics | grep -E '^risotto_peer_established\\{{.*\\}} 1'",
        timeout=t.timeout)
    final = after()
    assert any(r.synthetic for r in final), f"no synthetic withdraw after the sessions went down: {final}"
    for route in t.routes:
        for post in (False, True):
            n = sum(1 for r in final if r.prefix == route.prefix and r.post_policy == post and not r.announced)
            assert n == 1, f"{route.prefix} withdrawn {n} times in the {'post' if post else 'pre'}-policy view"


def clickhouse_rows(core: Machine, database: str = "bmp",
                    query_command: str = "clickhouse-client --query") -> RowsReader:
    """Rows as the VM test reads them: from ClickHouse's bmp.updates on the core."""
    query = (f"SELECT toString(prefix_addr) AS addr, prefix_len, toString(peer_addr) AS peer, is_post_policy,"
             f" announced, synthetic FROM {database}.updates WHERE NOT is_loc_rib ORDER BY time_received_ns"
             f" FORMAT JSONEachRow")

    def read() -> list[UpdateRow]:
        out = core.succeed(f"{query_command} {shlex.quote(query)}")
        rows = []
        for line in out.splitlines():
            r = json.loads(line)
            rows.append(UpdateRow(prefix_text(r["addr"], int(r["prefix_len"])), r["peer"], bool(r["is_post_policy"]),
                                  bool(r["announced"]), bool(r["synthetic"])))
        return rows

    return read
