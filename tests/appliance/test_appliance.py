"""`nxthdr appliance` end to end: BMP over TCP and sFlow over UDP on loopback, into chdb, read with `nxthdr query`.

Expected values come from the recordings' manifests (what the routers were
told, what crossed the wire beside the sFlow agent), not from the collectors.
"""

from __future__ import annotations

import collections
import datetime
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.appliance.helpers import (ENV, REPO, ApplianceProcess, bmp_manifest, count, query, query_json, replay_bmp,
                                     send_sflow, sflow_manifest)
from tests.support.wait import wait_until

A = "replaceRegexpOne(toString({0}), '^::ffff:', '')"


def expected_synthetic(entry: dict) -> dict[str, set[str]]:
    """Per peer: what it announced and had not withdrawn when it went down (its synthetic withdraws)."""
    live: dict[str, set[str]] = collections.defaultdict(set)
    for e in entry["events"]:
        if e["action"] == "announce":
            live[e["peer"]].add(e["prefix"])
        elif e["action"] == "withdraw":
            live[e["peer"]].discard(e["prefix"])
    return live


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """An appliance that received every shipped BMP recording and the sFlow capture."""
    data = tmp_path_factory.mktemp("appliance") / "data"
    app = ApplianceProcess(data).start()
    started = time.time_ns()
    try:
        sources = replay_bmp(app.bmp_port)
        send_sflow(app.sflow_port)
        want_flows = sflow_manifest()["flow_samples"]
        wait_until(lambda: count(data, "flows.records") == want_flows, 30, "the flow records", details=app.logs)
        wait_until(lambda: "risotto_bmp_sessions 0.0" in app.metrics(), 30, "the BMP sessions to close")
        wait_until(lambda: count(data, "bmp.updates") > 0 and 'storage_queue_depth{database="bmp"} 0.0'
                   in app.metrics(), 30, "the BMP rows")
        yield app, sources, started
    finally:
        if app.proc is not None:
            app.kill()


def test_flows_match_what_crossed_the_wire(loaded):
    app, _, started = loaded
    got = query_json(app.data_dir, f"""
        SELECT {A.format('src_addr')} AS src, {A.format('dst_addr')} AS dst, protocol, sum(packets) AS packets,
               sum(bytes) AS bytes, min(time_received_ns) AS first, any({A.format('sampler_address')}) AS agent,
               any({A.format('exporter_address')}) AS exporter, max(sampling_rate) AS rate
        FROM flows.records GROUP BY src, dst, protocol""")
    m = sflow_manifest()
    wire = {(f["src"], f["dst"], f["protocol"]): (f["packets"], f["bytes"]) for f in m["wire"]}
    assert {(r["src"], r["dst"], r["protocol"]): (r["packets"], r["bytes"]) for r in got} == wire
    for r in got:
        assert r["agent"] == m["agent_address"] and r["exporter"] == "127.0.0.1" and r["rate"] == 1
        first = datetime.datetime.fromisoformat(r["first"]).replace(tzinfo=datetime.timezone.utc)
        assert abs(first.timestamp() - started / 1e9) < 120  # stamped by the collector when received


def test_bmp_rows_and_synthetic_withdraws(loaded):
    app, sources, _ = loaded
    manifest = bmp_manifest()
    by_recording = {name: src for src, name in sources.items()}
    got = query_json(app.data_dir, f"""
        SELECT {A.format('router_addr')} AS router, {A.format('peer_addr')} AS peer,
               concat({A.format('prefix_addr')}, '/', toString(prefix_len)) AS prefix,
               announced, synthetic, is_post_policy, is_loc_rib, peer_asn
        FROM bmp.updates""")
    for name in ("gobgp-all.bmp", "frr-pre-post.bmp"):
        router = by_recording[name]
        entry = manifest[name]
        # Prefixes an import policy rejects may not reach the router's BMP at all (FRR): left out.
        rejected = set(entry["router"].get("import_policy", {}).get("reject_prefixes", []))
        rows = [r for r in got if r["router"] == router]
        announced = {r["prefix"] for r in rows if r["announced"]}
        for e in entry["events"]:
            if e["action"] == "announce" and e["prefix"] not in rejected:
                assert e["prefix"] in announced
        for peer, live in expected_synthetic(entry).items():
            synth = {r["prefix"] for r in rows if r["synthetic"] and r["peer"] == peer and not r["is_post_policy"]
                     and not r["is_loc_rib"]}
            assert synth - rejected == live - rejected and live - rejected, (name, peer)
            assert all(r["peer_asn"] == 65010 for r in rows if r["peer"] == peer)
        assert all(not r["announced"] for r in rows if r["synthetic"])


def test_query_formats_and_errors(loaded):
    app, _, _ = loaded
    d = str(app.data_dir)
    sql = "SELECT protocol, count() AS samples FROM flows.records GROUP BY protocol ORDER BY protocol"
    table = query("-d", d, sql)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["protocol", "samples"] and set(lines[1]) == {"-", " "}
    assert [ln.split()[0] for ln in lines[2:-1]] == ["1", "6", "17", "58"] and lines[-1] == "(4 rows)"
    # Numbers are right-aligned: every data line has the same width as the header.
    assert len({len(ln) for ln in lines[:-1]}) == 1
    csv = query("-d", d, "-f", "csv", sql)
    assert csv.stdout.splitlines()[0] == '"protocol","samples"'
    rows = json.loads(query("-d", d, "-f", "json", sql).stdout)
    per_proto = collections.Counter()
    for f in sflow_manifest()["wire"]:
        per_proto[f["protocol"]] += f["packets"]
    assert {r["protocol"]: r["samples"] for r in rows} == per_proto
    # The endpoint can also be given explicitly.
    assert query("--url", app.url, "-f", "json", sql).stdout == query("-d", d, "-f", "json", sql).stdout
    bad = query("-d", d, "SELECT nope FROM flows.records")
    assert bad.returncode == 1 and "Code: 47" in bad.stderr and "nope" in bad.stderr
    missing = query("-d", d, "SELECT 1 FROM flows.nothing")
    assert missing.returncode == 1 and "Code: 60" in missing.stderr
    refused = query("-d", d, "DROP TABLE flows.records")
    assert refused.returncode == 2 and "refused" in refused.stderr
    assert count(app.data_dir, "flows.records") == sflow_manifest()["flow_samples"]


@pytest.mark.parametrize("sql", ["INSERT INTO flows.records (sequence_num) VALUES (1)", "DROP DATABASE flows",
                                 "SELECT 1; DROP DATABASE flows", "ALTER TABLE bmp.updates DELETE WHERE 1",
                                 "SELECT 1 INTO OUTFILE 'x'", "/* SELECT */ TRUNCATE TABLE bmp.updates"])
def test_endpoint_refuses_writes(loaded, sql):
    _refused(loaded, sql)


# Bypasses of the old string check (issue 11): the engine's readonly connection and ClickHouse's own
# parser stop them now, whatever the endpoint's first check thinks of the text.
@pytest.mark.parametrize("sql", ["SELECT '--', * FROM file('/etc/passwd', 'LineAsString')",
                                 "SELECT * FROM `file`('/etc/passwd', 'LineAsString')",
                                 "SELECT '--'; DROP TABLE bmp.updates",
                                 "SELECT '#', 1 SETTINGS readonly = 0"])
def test_endpoint_refuses_the_string_check_bypasses(loaded, sql):
    app, _, _ = loaded
    req = urllib.request.Request(app.url, data=sql.encode(), method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code in (400, 403), e.value.code
    assert b"root:" not in e.value.read()
    assert count(app.data_dir, "bmp.updates") > 0


def _refused(loaded, sql):
    app, _, _ = loaded
    req = urllib.request.Request(app.url, data=sql.encode(), method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 403 and "READONLY" in e.value.read().decode()
    assert count(app.data_dir, "flows.records") == sflow_manifest()["flow_samples"]


def test_endpoint_speaks_clickhouse_http(loaded):
    app, _, _ = loaded
    q = urllib.parse.quote("SELECT count() FROM flows.records")
    with urllib.request.urlopen(f"{app.url}?query={q}", timeout=10) as r:
        assert r.read().decode().strip() == str(sflow_manifest()["flow_samples"])
    with urllib.request.urlopen(f"{app.url}?query={q}&default_format=JSONCompact", timeout=10) as r:
        assert int(json.loads(r.read())["data"][0][0]) == sflow_manifest()["flow_samples"]
    import clickhouse_connect

    host, port = app.url.split("//")[1].rstrip("/").rsplit(":", 1)
    client = clickhouse_connect.get_client(host=host, port=int(port))
    assert client.query("SELECT count() FROM bmp.updates WHERE synthetic").result_rows[0][0] > 0
    text = app.metrics()
    assert 'appliance_query_requests_total{status="refused"}' in text
    assert "risotto_bmp_messages_total" in text and "pesto_sflow_records_total" in text


def test_sigterm_flushes_and_data_survives_a_restart(loaded):
    app, _, _ = loaded
    bmp, flows = count(app.data_dir, "bmp.updates"), count(app.data_dir, "flows.records")
    # Datagrams sent right before SIGTERM are still stored: the sinks flush on the way out.
    send_sflow(app.sflow_port)
    time.sleep(0.3)
    assert app.stop() == 0, app.logs()
    assert "signal received" in app.logs()
    assert (app.data_dir / "risotto-state.bin").exists() and not (app.data_dir / "endpoint.json").exists()
    # No appliance: `nxthdr query` opens the data directory itself.
    assert count(app.data_dir, "flows.records") == flows + sflow_manifest()["flow_samples"]
    app.start()
    assert count(app.data_dir, "bmp.updates") == bmp
    assert count(app.data_dir, "flows.records") == flows + sflow_manifest()["flow_samples"]
    # A second appliance on the same data directory is refused (one writer per directory).
    second = subprocess.run([sys.executable, "-m", "nxthdr", "appliance", "--storage-data-dir", str(app.data_dir),
                             "--bmp-address", "127.0.0.1:0", "--sflow-address", "127.0.0.1:0",
                             "--metrics-address", "127.0.0.1:0", "--query-address", "127.0.0.1:0"],
                            capture_output=True, text=True, timeout=60, cwd=REPO, env=ENV)
    assert second.returncode == 1 and "in use by another process" in second.stderr, second.stderr


def test_concurrent_queries_while_collectors_write(tmp_path):
    app = ApplianceProcess(tmp_path / "data").start()
    try:
        per_pass = sflow_manifest()["flow_samples"]
        passes = 20

        def sender():
            for _ in range(passes):
                send_sflow(app.sflow_port)
                time.sleep(0.1)

        t = threading.Thread(target=sender)
        t.start()
        seen, errors = [], []
        sql = b"SELECT count() FROM flows.records"
        deadline = time.monotonic() + 60
        while t.is_alive() or not seen or seen[-1] < passes * per_pass:
            assert time.monotonic() < deadline, seen[-5:]
            try:
                with urllib.request.urlopen(urllib.request.Request(app.url, data=sql), timeout=10) as r:
                    seen.append(int(r.read()))
            except urllib.error.URLError as e:
                errors.append(e)
        t.join()
        assert not errors
        assert seen == sorted(seen) and seen[-1] == passes * per_pass
        assert len(set(seen)) > 5  # queries really ran while rows were arriving
        assert 'appliance_storage_dropped_messages_total{database="flows",reason="buffer_full"} 0.0' in app.metrics()
    finally:
        assert app.stop() == 0
