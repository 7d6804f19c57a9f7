"""The collector as operators run it: datagrams over UDP, records in the file sink, metrics, health."""

from __future__ import annotations

import asyncio
import collections
import json
import socket
import struct
import time
import urllib.request

import pytest

from nxthdr.pesto.app import build
from nxthdr.sflow import SFlowError, decode_datagram, encode_datagram
from tests.pesto.helpers import counter, ip16, pesto_config, read_records, record_matches, send, wait_for


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_datagrams_to_records_in_the_file(tmp_path, pmacct_datagrams, pmacct_manifest):
    async def scenario():
        app = build(pesto_config(tmp_path))
        await app.supervisor.start()
        try:
            src = send(app.listener.bound_port, pmacct_datagrams)
            await wait_for(lambda: counter(app, "pesto_sflow_datagrams_total", status="success")
                           == len(pmacct_datagrams))
            status, text = await asyncio.to_thread(http_get, app.metrics_server.bound_port, "/metrics")
            health = await asyncio.to_thread(http_get, app.metrics_server.bound_port, "/health")
        finally:
            await app.supervisor.stop()
        return src, status, text, health

    (src_host, src_port), status, text, (hstatus, hbody) = asyncio.run(scenario())
    rows = read_records((tmp_path / "records.bin").read_bytes())
    nsamples = sum(len(decode_datagram(d).flow_samples) for d in pmacct_datagrams)
    assert len(rows) == nsamples
    for exp in pmacct_manifest["traffic"]:
        for want in [exp, *exp.get("also", [])]:
            assert any(record_matches(r, want) for r in rows), f"no record for {exp['name']}: {want}"
    # Exporter = the UDP source (defect 7 of the reference); agentPort = its source port.
    assert {r["exporterAddr"] for r in rows} == {ip16(src_host)}
    assert {r["agentPort"] for r in rows} == {src_port}
    assert {r["agentAddr"] for r in rows} == {ip16(pmacct_manifest["config"]["sfprobe_agentip"])}
    # The same bytes the sans-I/O encoder makes, apart from the reception time.
    expected = [m for d in pmacct_datagrams for m in encode_datagram(decode_datagram(d), 0, src_host, src_port)]
    strip = lambda r: {k: v for k, v in r.items() if k != "timeReceivedNs"}  # noqa: E731
    assert [strip(r) for r in rows] == [strip(r) for r in read_records(b"".join(expected))]
    now = time.time_ns()
    assert all(now - 60e9 < r["timeReceivedNs"] <= now for r in rows)

    assert status == 200
    assert f'pesto_sflow_datagrams_total{{status="success"}} {len(pmacct_datagrams)}.0' in text
    assert f"pesto_sflow_samples_total {nsamples}.0" in text
    assert f'pesto_sflow_samples_received_total{{type="flow"}} {nsamples}.0' in text
    assert f"pesto_sflow_records_total {nsamples}.0" in text
    assert "pesto_kernel_receive_drops_total 0.0" in text
    assert 'pesto_sflow_exporter_datagrams_total{exporter="127.0.0.1",status="success"}' in text
    assert hstatus == 200 and json.loads(hbody)["status"] == "ok"


def _counter_sample_datagram() -> bytes:
    """One expanded counter sample (format 4) with an empty record list, IPv6 agent."""
    body = struct.pack("!IIII", 9, 0, 17, 0)
    return (struct.pack("!II", 5, 2) + ip16("2001:db8::7") + struct.pack("!IIII", 0, 1, 1000, 1)
            + struct.pack("!II", 4, len(body)) + body)


def test_malformed_datagrams_are_counted_and_the_listener_keeps_serving(tmp_path, pmacct_datagrams, caplog):
    bad = [b"", b"\0\0\0\x05", struct.pack("!II", 4, 1) + b"\0" * 20,  # truncated, bad version
           struct.pack("!II", 5, 9) + b"\0" * 40,  # bad address type
           pmacct_datagrams[0][:60]]  # cut inside a sample
    good = pmacct_datagrams[:2]
    expected = collections.Counter()
    for d in bad:
        with pytest.raises(SFlowError) as e:
            decode_datagram(d)
        expected[e.value.reason] += 2
    expected["truncated"] += 20

    async def scenario():
        app = build(pesto_config(tmp_path))
        await app.supervisor.start()
        try:
            port = app.listener.bound_port
            send(port, bad + good + bad + [_counter_sample_datagram()] + good + [b"\0\0\0\x05"] * 20)
            await wait_for(lambda: counter(app, "pesto_sflow_datagrams_total", status="success") == 5)
            await wait_for(lambda: counter(app, "pesto_sflow_datagrams_total", status="parse_error")
                           == 2 * len(bad) + 20)
            return {r: counter(app, "pesto_sflow_parse_errors_total", reason=r) for r in expected}, \
                counter(app, "pesto_sflow_samples_received_total", type="counter")
        finally:
            await app.supervisor.stop()

    reasons, counters = asyncio.run(scenario())
    assert reasons == expected and {"truncated", "bad_version", "bad_address_type"} <= set(expected)
    assert counters == 1
    rows = read_records((tmp_path / "records.bin").read_bytes())
    assert len(rows) == 2 * sum(len(decode_datagram(d).flow_samples) for d in good)
    # Logged with the reason, rate-limited per exporter and reason (a burst of 5 lines).
    reasons_logged = collections.Counter(r.nx_fields["reason"] for r in caplog.records
                                         if r.getMessage() == "malformed sFlow datagram")
    assert reasons_logged["truncated"] == 5 and set(reasons_logged) == set(expected)


def test_decoder_bug_is_contained(tmp_path, pmacct_datagrams, monkeypatch):
    import nxthdr.pesto.processor as proc_mod

    calls = {"n": 0}
    real = proc_mod.decode_datagram

    def flaky(data):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyError("bug")
        return real(data)

    monkeypatch.setattr(proc_mod, "decode_datagram", flaky)

    async def scenario():
        app = build(pesto_config(tmp_path))
        await app.supervisor.start()
        try:
            send(app.listener.bound_port, pmacct_datagrams[:3])
            await wait_for(lambda: counter(app, "pesto_sflow_datagrams_total", status="success") == 2)
            return counter(app, "pesto_sflow_parse_errors_total", reason="internal_error")
        finally:
            await app.supervisor.stop()

    assert asyncio.run(scenario()) == 1


def test_dual_stack_listener_takes_ipv4_and_ipv6_exporters(tmp_path, pmacct_datagrams):
    async def scenario():
        app = build(pesto_config(tmp_path, sflow__address="[::]:0"))
        await app.supervisor.start()
        try:
            port = app.listener.bound_port
            assert app.listener.socks[0].family == socket.AF_INET6
            assert app.listener.socks[0].getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
            v4 = send(port, pmacct_datagrams[:1])
            v6 = send(port, pmacct_datagrams[1:2], host="::1", family=socket.AF_INET6)
            await wait_for(lambda: counter(app, "pesto_sflow_datagrams_total", status="success") == 2)
        finally:
            await app.supervisor.stop()
        return v4, v6

    v4, v6 = asyncio.run(scenario())
    rows = read_records((tmp_path / "records.bin").read_bytes())
    # An IPv4 exporter on the dual-stack socket is stored IPv4-mapped, like on an IPv4 socket.
    assert {r["exporterAddr"] for r in rows} == {ip16("127.0.0.1"), ip16("::1")}
    assert {r["agentPort"] for r in rows} == {v4[1], v6[1]}


def test_start_and_stop_are_idempotent(tmp_path):
    async def scenario():
        app = build(pesto_config(tmp_path))
        for c in app.supervisor.components:
            await c.start()
            await c.start()
        port = app.listener.bound_port
        for c in reversed(app.supervisor.components):
            await c.stop()
            await c.stop()
        return port

    assert asyncio.run(scenario())
