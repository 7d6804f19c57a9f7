"""`saimiris client --results`: a measurement's replies read back from the embedded ClickHouse store.

The replies are real `Reply` messages inserted through the store's own path
(the Null input table and the view, as the appliance does); the selection by
agent, source address and time window runs on the ClickHouse engine (chdb).
The gateway-driven form runs end to end in tests/saimiris/agent/test_gateway.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import ipaddress
import json

import pytest

from nxthdr.saimiris import client, results
from nxthdr.saimiris.reply import Reply, encode_reply
from nxthdr.storage.store import Store

# Rows are stamped relative to the run (an hour ago, to the minute): the
# storage tables' TTL deletes rows older than the retention, so a fixed date
# would expire and empty the table on a later day.
T0 = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).replace(second=0, microsecond=0)


def iso(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def A(text: str) -> bytes:
    return ipaddress.ip_address(text).packed if ":" in text else ipaddress.IPv4Address(text).packed.rjust(16, b"\0")


def reply(agent: str, src: str, hop: str, ttl: int, at: dt.datetime, rtt: int = 123) -> Reply:
    src16 = ipaddress.ip_address(src)
    src16 = src16.packed if src16.version == 6 else ipaddress.IPv6Address(f"::ffff:{src}").packed
    return Reply(time_received_ns=int(at.timestamp()) * 10**9, agent_id=agent, reply_src_addr=A(hop),
                 reply_dst_addr=src16, reply_id=0, reply_size=56, reply_ttl=64, reply_quoted_ttl=1,
                 reply_protocol=58, reply_icmp_type=3, reply_icmp_code=0, reply_mpls_labels=(),
                 probe_src_addr=src16, probe_dst_addr=A("2001:db8:ff::1"), probe_id=0, probe_size=12,
                 probe_ttl=ttl, probe_protocol=17, probe_src_port=24000, probe_dst_port=33434, rtt=rtt)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("results-store")
    store = Store(d, pipelines=("saimiris",))
    store.open()
    rows = [
        # the measurement: agent-a from 2001:db8:a::5 and agent-b from 192.0.2.5
        reply("agent-a", "2001:db8:a::5", "2001:db8:1::1", 1, T0 + dt.timedelta(seconds=1), rtt=11),
        reply("agent-a", "2001:db8:a::5", "2001:db8:2::1", 2, T0 + dt.timedelta(seconds=2), rtt=22),
        reply("agent-b", "192.0.2.5", "2001:db8:3::1", 1, T0 + dt.timedelta(seconds=3), rtt=33),
        # not the measurement: another source of agent-a, another agent with agent-b's source, too early
        reply("agent-a", "2001:db8:a::6", "2001:db8:9::1", 1, T0 + dt.timedelta(seconds=1)),
        reply("agent-c", "192.0.2.5", "2001:db8:9::2", 1, T0 + dt.timedelta(seconds=1)),
        reply("agent-a", "2001:db8:a::5", "2001:db8:9::3", 1, T0 - dt.timedelta(hours=1)),
    ]
    assert store.insert_messages("saimiris", [encode_reply(r) for r in rows]) == len(rows)
    store.close()
    return d


def run_client(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = client.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_results_select_the_measurements_agents_sources_and_window(data_dir):
    code, out, err = run_client("--results", "m1", "--agent", "agent-a:2001:db8:a::5", "--agent", "agent-b:192.0.2.5",
                                "--since", iso(T0 - dt.timedelta(minutes=1)), "--until", iso(T0 + dt.timedelta(minutes=5)),
                                "-d", str(data_dir), "-f", "json")
    assert code == 0, err
    got = [(r["agent_id"], r["probe_src_addr"], r["ttl"], r["reply_from"], r["rtt_ms"]) for r in json.loads(out)]
    assert got == [("agent-a", "2001:db8:a::5", 1, "2001:db8:1::1", 1.1),
                   ("agent-a", "2001:db8:a::5", 2, "2001:db8:2::1", 2.2),
                   ("agent-b", "::ffff:192.0.2.5", 1, "2001:db8:3::1", 3.3)]
    assert {r["protocol"] for r in json.loads(out)} == {"UDP"}


def test_results_as_a_table_and_with_a_limit(data_dir):
    code, out, _ = run_client("--results", "m1", "--agent", "agent-a:2001:db8:a::5", "--since", str(int(T0.timestamp()) - 60),
                              "-d", str(data_dir), "--limit", "1")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["received", "agent_id", "probe_src_addr"] and lines[-1] == "(1 row)"


@pytest.mark.parametrize("argv, message", [
    (["--results", "m", "-d", "D"], "--agent ID:SRC_IP"),
    (["--results", "m", "--agent", "a:2001:db8::1"], "--clickhouse-url"),
    (["--results", "m", "--agent", "a:2001:db8::1", "-d", "D", "--since", "yesterday"], "neither an ISO 8601"),
    (["--results", "m", "--agent", "a:not-an-ip", "-d", "D"], "not an IP address"),
    (["--results", "m", "--brokers", "k:9092", "-d", "D"], "drop --brokers"),
])
def test_results_argument_errors(argv, message, monkeypatch):
    monkeypatch.delenv("NXTHDR_QUERY_URL", raising=False)
    monkeypatch.delenv("NXTHDR_DATA_DIR", raising=False)
    code, _, err = run_client(*argv)
    assert code != 0 and message in err, err


def test_selection_from_the_gateways_status():
    status = {"measurement_complete": True, "started_at": T0.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
              "last_updated": (T0 + dt.timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
              "agents": [{"agent_id": "vlt'01", "src_ip": "2001:db8::1"}]}
    sel = results.from_status(status)
    assert sel.targets == (("vlt'01", "2001:db8::1"),)
    assert sel.since == T0 - dt.timedelta(seconds=results.CLOCK_SKEW_S)
    assert sel.until == T0 + dt.timedelta(minutes=2, seconds=results.LATE_REPLIES_S)
    assert "'vlt\\'01'" in results.sql(sel)  # quoted, not pasted
    assert results.from_status(dict(status, measurement_complete=False)).until is None
    with pytest.raises(ValueError, match="unexpected measurement status"):
        results.from_status({"agents": []})
