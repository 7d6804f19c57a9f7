"""Reading a measurement's replies back from ClickHouse (`saimiris client --results`).

Replies carry no measurement id: agents match them to probes statelessly
(probing.md), so a measurement's replies are the rows of `saimiris.replies`
from its agents and source addresses within its time window. With the gateway,
both come from the measurement's status (agents, sources, start and last
update); without it, from `--agent ID:SRC_IP` and `--since`/`--until`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from nxthdr.clickhouse.tables import quote_string

# Replies still arrive after the last progress report: the agent waits for
# late replies and batches them to Kafka before ClickHouse reads them.
LATE_REPLIES_S = 120
# The gateway records the start when it publishes; agents' clocks may be a little behind.
CLOCK_SKEW_S = 60

COLUMNS = """\
    time_received_ns AS received,
    agent_id,
    probe_src_addr,
    probe_dst_addr,
    multiIf(probe_protocol = 1, 'ICMP', probe_protocol = 17, 'UDP', probe_protocol = 58, 'ICMPv6',
            toString(probe_protocol)) AS protocol,
    probe_src_port AS sport,
    probe_dst_port AS dport,
    probe_ttl AS ttl,
    reply_src_addr AS reply_from,
    reply_icmp_type AS icmp_type,
    reply_icmp_code AS icmp_code,
    round(rtt / 10, 1) AS rtt_ms,
    arrayMap(l -> l.1, reply_mpls_labels) AS mpls"""


@dataclass(frozen=True)
class Selection:
    """Which replies belong to a measurement."""

    targets: tuple[tuple[str, str], ...]  # (agent id, source address)
    since: dt.datetime
    until: dt.datetime | None = None


def parse_time(text: str) -> dt.datetime:
    """ISO 8601 (a trailing Z is UTC; no zone is UTC) or Unix seconds."""
    try:
        return dt.datetime.fromtimestamp(float(text), dt.timezone.utc)
    except ValueError:
        pass
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO 8601 time nor Unix seconds") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def from_status(status: dict) -> Selection:
    """The selection of a measurement from the gateway's `GET /api/measurement/{id}/status`."""
    try:
        targets = tuple((a["agent_id"], a["src_ip"]) for a in status["agents"])
        since = parse_time(status["started_at"]) - dt.timedelta(seconds=CLOCK_SKEW_S)
        finished = bool(status["measurement_complete"])
        until = parse_time(status["last_updated"]) + dt.timedelta(seconds=LATE_REPLIES_S) if finished else None
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"unexpected measurement status from the gateway: {e}") from None
    if not targets:
        raise ValueError("the measurement has no agents")
    return Selection(targets, since, until)


def _ns(t: dt.datetime) -> int:
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


def sql(sel: Selection, database: str = "saimiris", limit: int | None = None) -> str:
    """The query; every value is checked (addresses) or quoted (agent ids)."""
    if not database.isidentifier():
        raise ValueError(f"database {database!r} is not a plain name")
    conds = []
    for agent, src in sel.targets:
        addr = str(ipaddress.ip_address(src))  # refuses anything but an address
        conds.append(f"(agent_id = {quote_string(agent)} AND probe_src_addr = toIPv6({quote_string(addr)}))")
    where = ["(" + " OR ".join(conds) + ")",
             f"time_received_ns >= fromUnixTimestamp64Nano(toInt64({_ns(sel.since)}))"]
    if sel.until is not None:
        where.append(f"time_received_ns < fromUnixTimestamp64Nano(toInt64({_ns(sel.until)}))")
    text = (f"SELECT\n{COLUMNS}\nFROM {database}.replies\nWHERE " + "\n  AND ".join(where)
            + "\nORDER BY agent_id, probe_src_addr, probe_dst_addr, probe_protocol, probe_src_port, probe_dst_port, "
              "ttl, received")
    if limit:
        text += f"\nLIMIT {int(limit)}"
    return text
