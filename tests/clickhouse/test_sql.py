"""Every statement of clickhouse-tables/ on chdb, the real ClickHouse engine.

chdb (4.4, ClickHouse 26.9) cannot create a Kafka engine table at all: CREATE
fails with "Shutdown was called" whatever the format (its Kafka background
machinery is not started in-process), and it has no CapnProto format. So the
Kafka DDL is checked with ClickHouse's own parser (formatQuery) and its column
list is created for real as the Null input table; everything downstream (view,
storage table, TTL) runs for real.
"""

from __future__ import annotations

import datetime
import ipaddress
import time

import pytest

from nxthdr.clickhouse import tables
from nxthdr.clickhouse.tables import DATABASES, KafkaParams, TemplateError, objects
from tests.clickhouse.rows import insert


def create(engine, prefix, name, **kw):
    o = objects(name, database=prefix + name, input="null", **kw)
    for st in o.statements():
        engine.run(st)
    return o


# Rows must be recent: MergeTree drops rows already past their TTL when they are inserted.
NOW_S = int(time.time()) - 3600
NOW_NS = NOW_S * 10**9


def v4(a: str) -> bytes:
    return ipaddress.IPv6Address("::ffff:" + a).packed


def v6(a: str) -> bytes:
    return ipaddress.IPv6Address(a).packed


@pytest.mark.parametrize("name", DATABASES)
def test_every_statement_runs_and_the_tables_are_what_the_templates_say(engine, prefix, name):
    o = create(engine, prefix, name, retention_days=9)
    db = o.database
    cols = engine.rows(f"SELECT table, name, type FROM system.columns WHERE database = '{db}' ORDER BY position")
    of = lambda t: [(r["name"], r["type"]) for r in cols if r["table"] == t]  # noqa: E731
    assert of("from_kafka") == [(c.name, c.type) for c in o.input_columns]
    assert of(o.storage_table) == [(c.name, c.type) for c in o.storage_columns]
    t = engine.rows(f"SELECT name, engine, engine_full, sorting_key, partition_key, comment FROM system.tables "
                    f"WHERE database = '{db}'")
    by = {r["name"]: r for r in t}
    assert by["from_kafka"]["engine"] == "Null"
    assert by["from_kafka_mv"]["engine"] == "MaterializedView"
    assert by["from_kafka_mv"]["comment"] == o.view_fingerprint
    st = by[o.storage_table]
    assert st["engine"] == "MergeTree" and st["partition_key"] == "date"
    assert "(" + st["sorting_key"] + ")" == o.order_by == {
        "bmp": "(time_received_ns, router_addr, peer_addr, prefix_addr, prefix_len)",
        "flows": "(time_received_ns, src_addr, dst_addr)",
        "saimiris": "(time_received_ns, agent_id, probe_protocol, probe_src_addr, probe_dst_addr, "
                    "probe_src_port, probe_dst_port, probe_ttl)"}[name]
    assert "TTL date + toIntervalDay(9)" in st["engine_full"]
    # Running everything again changes nothing (IF NOT EXISTS everywhere).
    for s in o.statements():
        engine.run(s)


@pytest.mark.parametrize("name", DATABASES)
def test_kafka_ddl_parses_with_the_engine_parser(engine, name):
    o = objects(name, kafka=KafkaParams(brokers="k1:9092,k2:9092", extra_settings={
        "kafka_security_protocol": "sasl_plaintext", "kafka_sasl_password": "it's \\ secret"}))
    formatted = engine.scalar(f"SELECT formatQuery({tables.quote_string(o.create_input)})")
    assert "ENGINE = Kafka" in formatted
    assert "kafka_format = 'CapnProto'" in formatted
    assert f"kafka_schema = '{o.spec.format_schema}'" in formatted
    assert "kafka_broker_list = 'k1:9092,k2:9092'" in formatted
    assert "kafka_sasl_password = 'it\\'s \\\\ secret'" in formatted
    # The settings as the planner reads them back from the server's own text.
    from nxthdr.clickhouse.migrate import kafka_settings
    engine_full = formatted[formatted.index("ENGINE = ") + len("ENGINE = "):]
    assert kafka_settings(engine_full) == o.kafka_settings


def test_values_cannot_escape_their_literals(engine):
    hostile = "x', kafka_format = 'JSONEachRow"
    o = objects("flows", kafka=KafkaParams(topic=hostile))
    formatted = engine.scalar(f"SELECT formatQuery({tables.quote_string(o.create_input)})")
    from nxthdr.clickhouse.migrate import kafka_settings
    got = kafka_settings(formatted[formatted.index("ENGINE = ") + len("ENGINE = "):])
    assert got["kafka_topic_list"] == tables.quote_string(hostile)  # one literal, read back intact
    assert got["kafka_format"] == "'CapnProto'"
    with pytest.raises(TemplateError):
        objects("bmp", database="bmp; DROP DATABASE x")
    with pytest.raises(TemplateError):
        objects("bmp", kafka=KafkaParams(extra_settings={"max_threads": 1}))
    with pytest.raises(TemplateError):
        objects("bmp", retention_days=0)
    with pytest.raises(TemplateError):
        tables.render("{{ nope }}", {"nope": 1})
    with pytest.raises(TemplateError):
        tables.render("{{ topic }}", {})


def test_bmp_view_maps_every_field(engine, prefix):
    o = create(engine, prefix, "bmp")
    row = {
        "timeReceivedNs": NOW_NS + 123_456_789, "timeBmpHeaderNs": NOW_NS - 10**9 + 1000,
        "routerAddr": v4("192.0.2.1"), "routerPort": 40001, "peerAddr": v6("2001:db8::2"),
        "peerBgpId": int(ipaddress.IPv4Address("10.0.0.2")), "peerAsn": 65010,
        "prefixAddr": v4("198.51.100.0"), "prefixLen": 24, "isPostPolicy": 1, "isAdjRibOut": 0,
        "announced": 1, "synthetic": 0, "origin": "IGP", "asPath": [65010, 4200000000],
        "nextHop": v4("10.0.0.2"), "multiExitDisc": 20, "localPreference": 250, "onlyToCustomer": 65010,
        "atomicAggregate": 1, "aggregatorAsn": 65020, "aggregatorBgpId": int(ipaddress.IPv4Address("10.9.9.9")),
        "communities": [(65010, 1), (65002, 999)], "extendedCommunities": [(0, 2, b"\xfd\xf2\x00\x00\x00\x64")],
        "largeCommunities": [(65002, 9, 9)], "originatorId": int(ipaddress.IPv4Address("10.1.1.1")),
        "clusterList": [167837953], "mpReachAfi": 1, "mpReachSafi": 1, "mpUnreachAfi": 2, "mpUnreachSafi": 1,
        "pathId": 7, "peerDistinguisher": 2**63 + 5, "peerType": 3, "nextHopLinkLocal": v6("fe80::1"),
        "isLocRib": 1,
    }
    insert(engine, f"{o.database}.from_kafka", o.input_columns, [row])
    r = engine.rows(f"SELECT *, toString(time_received_ns) AS tr, toString(time_bmp_header_ns) AS th, "
                    f"toTypeName(time_received_ns) AS tt, hex(extended_communities[1].3) AS ext "
                    f"FROM {o.database}.updates")[0]
    assert r["tt"] == "DateTime64(9)"
    assert r["tr"].endswith(".123456789") and r["th"].endswith(".000001000")
    assert r["date"] == datetime.datetime.fromtimestamp(NOW_S, datetime.timezone.utc).date().isoformat()
    assert r["router_addr"] == "::ffff:192.0.2.1" and r["peer_addr"] == "2001:db8::2"
    assert r["prefix_addr"] == "::ffff:198.51.100.0" and r["prefix_len"] == 24
    assert r["peer_bgp_id"] == "10.0.0.2" and r["aggregator_bgp_id"] == "10.9.9.9"
    assert r["originator_id"] == "10.1.1.1"
    assert (r["is_post_policy"], r["is_adj_rib_out"], r["announced"], r["synthetic"]) == (True, False, True, False)
    assert r["as_path"] == [65010, 4200000000] and r["origin"] == "IGP"
    assert r["communities"] == [[65010, 1], [65002, 999]]
    assert r["large_communities"] == [[65002, 9, 9]]
    assert r["ext"] == "FDF200000064"
    assert (r["multi_exit_disc"], r["local_preference"], r["only_to_customer"]) == (20, 250, 65010)
    assert r["atomic_aggregate"] is True and r["aggregator_asn"] == 65020
    assert r["cluster_list"] == [167837953]
    assert (r["mp_reach_afi"], r["mp_reach_safi"], r["mp_unreach_afi"], r["mp_unreach_safi"]) == (1, 1, 2, 1)
    assert r["path_id"] == 7 and int(r["peer_distinguisher"]) == 2**63 + 5 and r["peer_type"] == 3
    assert r["next_hop_link_local"] == "fe80::1" and r["is_loc_rib"] is True and r["next_hop"] == "::ffff:10.0.0.2"


def test_flows_view_estimates_traffic_and_drops_zero_rate_samples(engine, prefix):
    o = create(engine, prefix, "flows")
    base = {"timeReceivedNs": NOW_NS + 1, "agentAddr": v4("192.0.2.77"), "agentPort": 6343,
            "exporterAddr": v6("2001:db8::77"), "nextHop": bytes(16)}
    rows = [
        {**base, "samplingRate": 1000, "length": 1500, "srcIp": v4("10.0.0.1"), "dstIp": v4("10.0.0.2"),
         "protocol": 6, "srcPort": 443, "dstPort": 50000, "etype": 0x0800, "tcpFlags": 0x18, "vlan": 100,
         "datagramSequenceNumber": 42, "sampleSequenceNumber": 7, "ipTtl": 64, "srcAs": 65001, "dstAs": 65002},
        {**base, "samplingRate": 4096, "length": 40 + 1200, "srcIp": v6("2001:db8::1"), "dstIp": v6("2001:db8::2"),
         "protocol": 58, "etype": 0x86DD, "icmpType": 128},
        {**base, "samplingRate": 0, "length": 99, "srcIp": v4("10.9.9.9"), "dstIp": v4("10.9.9.8")},
        {**base, "samplingRate": 4_000_000_000, "length": 65535, "srcIp": v4("10.0.0.3"), "dstIp": v4("10.0.0.4")},
    ]
    insert(engine, f"{o.database}.from_kafka", o.input_columns, rows)
    got = engine.rows(f"SELECT * FROM {o.database}.records ORDER BY src_addr")
    assert len(got) == 3, "the samplingRate = 0 row must be dropped"
    by = {r["src_addr"]: r for r in got}
    a = by["::ffff:10.0.0.1"]
    assert (int(a["bytes"]), int(a["packets"]), int(a["sampling_rate"]), a["packet_length"]) == (1_500_000, 1000, 1000, 1500)
    assert a["sampler_address"] == "::ffff:192.0.2.77" and a["sampler_port"] == 6343
    assert a["exporter_address"] == "2001:db8::77" and a["next_hop"] == "::"
    assert (a["dst_addr"], a["src_port"], a["dst_port"], a["protocol"], a["etype"]) == ("::ffff:10.0.0.2", 443, 50000, 6, 2048)
    assert (a["sequence_num"], a["sample_sequence_num"], a["tcp_flags"], a["vlan"], a["ip_ttl"]) == (42, 7, 0x18, 100, 64)
    assert (a["src_as"], a["dst_as"]) == (65001, 65002)
    b = by["2001:db8::1"]
    assert (int(b["bytes"]), int(b["packets"]), b["etype"], b["icmp_type"]) == (1240 * 4096, 4096, 0x86DD, 128)
    c = by["::ffff:10.0.0.3"]
    assert int(c["bytes"]) == 65535 * 4_000_000_000, "no 32-bit overflow in the estimate"


def test_saimiris_view_keeps_the_mpls_stack(engine, prefix):
    o = create(engine, prefix, "saimiris")
    row = {"timeReceivedNs": NOW_NS, "agentId": "vltcdg01", "replySrcAddr": v4("203.0.113.1"),
           "replyDstAddr": v6("2001:db8::10"), "replyId": 0, "replySize": 96, "replyTtl": 250, "replyQuotedTtl": 1,
           "replyProtocol": 1, "replyIcmpType": 11, "replyIcmpCode": 0,
           "replyMplsLabel": [(24001, 0, 0, 254), (16, 5, 1, 1)], "probeSrcAddr": v6("2001:db8::10"),
           "probeDstAddr": v4("198.51.100.9"), "probeId": 1234, "probeSize": 64, "probeTtl": 3, "probeProtocol": 17,
           "probeSrcPort": 24000, "probeDstPort": 33434, "rtt": 125}
    insert(engine, f"{o.database}.from_kafka", o.input_columns, [row])
    r = engine.rows(f"SELECT * FROM {o.database}.replies")[0]
    assert r["reply_mpls_labels"] == [[24001, 0, 0, 254], [16, 5, 1, 1]]
    assert r["agent_id"] == "vltcdg01" and r["rtt"] == 125 and r["reply_src_addr"] == "::ffff:203.0.113.1"
    assert (r["probe_dst_addr"], r["probe_src_port"], r["probe_dst_port"], r["probe_ttl"]) == \
        ("::ffff:198.51.100.9", 24000, 33434, 3)


def test_ttl_expires_old_days(engine, prefix):
    o = create(engine, prefix, "saimiris", retention_days=2)
    now = engine.scalar("SELECT toUnixTimestamp(now())")
    rows = [{"timeReceivedNs": (now - days * 86400) * 10**9, "agentId": f"a{days}"} for days in (0, 1, 5, 30)]
    insert(engine, f"{o.database}.from_kafka", o.input_columns, rows)
    engine.run(f"OPTIMIZE TABLE {o.database}.replies FINAL")
    kept = sorted(r["agent_id"] for r in engine.rows(f"SELECT agent_id FROM {o.database}.replies"))
    assert kept == ["a0", "a1"]


def test_sql_is_found_from_the_source_checkout_and_shipped_as_package_data():
    d = tables.tables_dir()
    assert sorted(p.name for p in d.iterdir() if p.is_dir()) == sorted(DATABASES)
    import tomllib
    from pathlib import Path
    py = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    st = py["tool"]["setuptools"]
    assert st["package-dir"]["nxthdr.clickhouse_tables"] == "clickhouse-tables"
    assert "*/*.sql" in st["package-data"]["nxthdr.clickhouse_tables"]
    assert {"nxthdr.clickhouse", "nxthdr.clickhouse_tables"} <= set(st["packages"])
