"""Probing scenario: a measurement submitted through the gateway's API reaches the
agent (through Kafka), the agent sends one UDP probe per TTL towards a target
two routers away, and the replies it captures (through Kafka into the store)
name each hop: time exceeded from each router, port unreachable from the
target. The gateway then reports the measurement complete with every probe sent.

Machines: `client` (where `saimiris client` runs and the gateway answers),
`agent` (the probing agent). The routers and the target only forward and
answer. How replies are read is the caller's: `clickhouse_rows` runs the same
SQL on ClickHouse in the VM test and, through `nxthdr query --url`, on the
appliance's embedded store in the namespace test.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Callable

from .machine import Machine, wait_for

ICMP_TIME_EXCEEDED, ICMP_DEST_UNREACHABLE = 11, 3
ICMP6_DEST_UNREACHABLE, ICMP6_TIME_EXCEEDED = 1, 3


@dataclass(frozen=True)
class ReplyRow:
    """The fields of a stored reply the scenario looks at."""

    agent_id: str
    reply_src: str  # IPv4 without the mapped form
    probe_dst: str
    probe_ttl: int
    probe_src_port: int
    icmp_type: int


RepliesReader = Callable[[], list[ReplyRow]]


@dataclass(frozen=True)
class Probing:
    client: Machine
    agent: Machine
    agent_id: str
    src_addr: str  # the address the agent probes from
    target: str
    hops: tuple[str, ...]  # who answers the probe of TTL 1, 2, ...: the routers, then the target
    gateway_url: str  # as the client machine reaches it
    client_command: str = "saimiris client"
    agent_unit: str = "saimiris-agent.service"
    src_port: int = 24000  # probes use src_port + ttl: replies of this run are told apart by it
    dst_port: int = 33434
    timeout: int = 120

    @property
    def ipv6(self) -> bool:
        return ":" in self.target


def _get(t: Probing, path: str) -> dict:
    out = t.client.succeed(f"curl -sf {shlex.quote(t.gateway_url + path)}")
    value = json.loads(out)
    assert isinstance(value, dict), f"GET {path}: {out}"
    return value


def _mine(t: Probing, rows: list[ReplyRow]) -> dict[int, ReplyRow]:
    """This run's replies by probe TTL."""
    out: dict[int, ReplyRow] = {}
    for r in rows:
        ttl = r.probe_src_port - t.src_port
        if r.agent_id == t.agent_id and r.probe_dst == t.target and 1 <= ttl <= len(t.hops) and ttl == r.probe_ttl:
            out.setdefault(ttl, r)
    return out


def run(t: Probing, replies: RepliesReader) -> None:
    t.agent.wait_for_unit(t.agent_unit)

    # The agent registers with the gateway and reports its health on its own.
    def healthy() -> bool:
        status, out = t.client.execute(f"curl -sf {shlex.quote(f'{t.gateway_url}/api/agent/{t.agent_id}')}")
        return status == 0 and json.loads(out).get("healthy") is True

    wait_for(healthy, t.timeout, f"agent {t.agent_id} registered and healthy at the gateway")

    proto = "UDP"
    csv = "".join(f"{t.target},{t.src_port + ttl},{t.dst_port},{ttl},{proto}\n" for ttl in range(1, len(t.hops) + 1))
    measurement = t.client.succeed(
        f"printf %s {shlex.quote(csv)} | {t.client_command} --gateway {shlex.quote(t.gateway_url)}"
        f" --agent {shlex.quote(f'{t.agent_id}:{t.src_addr}')}").strip()
    assert measurement, "the client printed no measurement id"

    def answered() -> dict[int, ReplyRow]:
        got = _mine(t, replies())
        return got if len(got) == len(t.hops) else {}

    def details() -> str:
        return f"replies of this run so far: {sorted(_mine(t, replies()).items())}"

    got = wait_for(answered, t.timeout, f"a reply to each of the {len(t.hops)} probes towards {t.target}",
                   details=details)
    exceeded = ICMP6_TIME_EXCEEDED if t.ipv6 else ICMP_TIME_EXCEEDED
    unreachable = ICMP6_DEST_UNREACHABLE if t.ipv6 else ICMP_DEST_UNREACHABLE
    for ttl, hop in enumerate(t.hops, start=1):
        r = got[ttl]
        assert r.reply_src == hop, f"TTL {ttl}: reply from {r.reply_src}, expected hop {hop} ({r})"
        last = ttl == len(t.hops)
        assert r.icmp_type == (unreachable if last else exceeded), f"TTL {ttl}: ICMP type {r.icmp_type} ({r})"

    # The agent reports what it sent; the gateway closes the measurement.
    def complete() -> dict:
        m = _get(t, f"/api/measurement/{measurement}/status")
        return m if m.get("status") == "complete" else {}

    m = wait_for(complete, t.timeout, f"measurement {measurement} complete at the gateway")
    agents = {a["agent_id"]: a for a in m["agents"]}
    assert agents[t.agent_id]["sent_probes"] == len(t.hops), f"gateway's view of the measurement: {m}"


def unmap(addr: str) -> str:
    """IPv4-mapped IPv6 text (as ClickHouse prints IPv6 columns) back to IPv4."""
    return addr.removeprefix("::ffff:") if "." in addr else addr


def clickhouse_rows(core: Machine, database: str = "saimiris",
                    query_command: str = "clickhouse-client --query") -> RepliesReader:
    """Replies as the VM test reads them: from the store's saimiris.replies on the core."""
    query = (f"SELECT agent_id, toString(reply_src_addr) AS src, toString(probe_dst_addr) AS dst, probe_ttl,"
             f" probe_src_port, reply_icmp_type FROM {database}.replies ORDER BY time_received_ns"
             f" FORMAT JSONEachRow")

    def read() -> list[ReplyRow]:
        out = core.succeed(f"{query_command} {shlex.quote(query)}")
        return [ReplyRow(r["agent_id"], unmap(r["src"]), unmap(r["dst"]), int(r["probe_ttl"]),
                         int(r["probe_src_port"]), int(r["reply_icmp_type"]))
                for r in map(json.loads, out.splitlines())]

    return read
