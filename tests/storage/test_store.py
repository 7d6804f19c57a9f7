"""Collector output → RowBinary → the Null input tables → the views → the storage tables, in chdb.

Every stored value is compared with what pycapnp (the reference reader, not our
row writer) reads from the message the collector produced.
"""

from __future__ import annotations

import datetime
import json
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nxthdr.core.capnp_codec import encode_message, load_schema, struct_layout
from nxthdr.saimiris.reply import MplsLabel, Reply, encode_reply
from nxthdr.storage.rowbinary import ConversionError, split_stream
from nxthdr.storage.store import DataDirBusy, Store
from tests.storage.helpers import FLOW_TIME, bmp_messages, flow_messages, ip


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = Store(tmp_path_factory.mktemp("store"))
    s.open()
    yield s
    s.close()


def rows(store: Store, sql: str) -> list[dict]:
    # split("\n"), not splitlines(): text may hold other Unicode line breaks, which JSON leaves unescaped.
    return [json.loads(line) for line in store.query(sql, "JSONEachRow").decode().split("\n") if line]


def ns_text(ns: int) -> str:
    t = datetime.datetime.fromtimestamp(ns // 10**9, datetime.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S") + f".{ns % 10**9:09d}"


def test_bmp_updates_are_stored_field_by_field(store):
    msgs = bmp_messages()
    store.query("TRUNCATE TABLE bmp.updates")
    assert store.insert_messages("bmp", list(msgs)) == len(msgs)
    got = rows(store, "SELECT * EXCEPT (extended_communities), "
                      "arrayMap(x -> (x.1, x.2, hex(x.3)), extended_communities) AS ext FROM bmp.updates "
                      "SETTINGS output_format_json_quote_64bit_integers = 0, session_timezone = 'UTC'")
    Update = load_schema("update.capnp").Update
    want = []
    for m in msgs:
        with Update.from_bytes(m) as u:
            want.append(u.to_dict())
    assert len(got) == len(want)
    key = lambda r: (r["time_received_ns"], r["router_addr"], r["peer_addr"], r["prefix_addr"], r["prefix_len"],
                     r["announced"], r["is_post_policy"], r["is_loc_rib"], r["path_id"])
    wkey = lambda u: (ns_text(u["timeReceivedNs"]), ip(u["routerAddr"]), ip(u["peerAddr"]), ip(u["prefixAddr"]),
                      u["prefixLen"], u.get("announced", False), u.get("isPostPolicy", False),
                      u.get("isLocRib", False), u.get("pathId", 0))
    by_key = {key(r): r for r in got}
    synthetic = 0
    for u in want:
        r = by_key[wkey(u)]
        assert r["time_bmp_header_ns"] == ns_text(u.get("timeBmpHeaderNs", 0))
        assert r["date"] == ns_text(u["timeReceivedNs"])[:10]
        assert r["peer_asn"] == u.get("peerAsn", 0)
        assert r["peer_bgp_id"] == str(__import__("ipaddress").IPv4Address(u.get("peerBgpId", 0)))
        assert r["synthetic"] == u.get("synthetic", False)
        synthetic += r["synthetic"]
        assert r["origin"] == u.get("origin", "")
        assert r["as_path"] == u.get("asPath", [])
        assert r["next_hop"] == ip(u.get("nextHop"))
        assert r["multi_exit_disc"] == u.get("multiExitDisc", 0)
        assert r["local_preference"] == u.get("localPreference", 0)
        assert [tuple(c) for c in r["communities"]] == [(c["asn"], c["value"]) for c in u.get("communities", [])]
        assert [tuple(c) for c in r["large_communities"]] == [
            (c["globalAdmin"], c["localDataPart1"], c["localDataPart2"]) for c in u.get("largeCommunities", [])]
        assert [tuple(c) for c in r["ext"]] == [(c["typeHigh"], c["typeLow"], bytes(c["value"]).hex().upper())
                                                for c in u.get("extendedCommunities", [])]
        assert r["mp_reach_afi"] == u.get("mpReachAfi", 0) and r["mp_unreach_afi"] == u.get("mpUnreachAfi", 0)
        assert r["peer_type"] == u.get("peerType", 0)
    assert synthetic > 0  # the recordings end with Peer Down / session end: synthetic withdraws are stored


def test_flow_records_carry_estimated_traffic(store):
    msgs = list(flow_messages())
    store.query("TRUNCATE TABLE flows.records")
    layout = struct_layout("sflow.capnp", "SFlowFlowRecord")
    # A sample without a sampling rate stands for no known traffic: the view drops it.
    zero = encode_message(layout, {"timeReceivedNs": 1, "samplingRate": 0, "length": 100})
    assert store.insert_messages("flows", msgs + [zero]) == len(msgs) + 1
    got = rows(store, "SELECT * FROM flows.records SETTINGS output_format_json_quote_64bit_integers = 0, "
                      "session_timezone = 'UTC'")
    assert len(got) == len(msgs)
    Rec = load_schema("sflow.capnp").SFlowFlowRecord
    want = []
    for m in msgs:
        with Rec.from_bytes(m) as r:
            want.append(r.to_dict())
    k = lambda src, dst, seq, pl: (src, dst, seq, pl)
    stored = sorted(k(r["src_addr"], r["dst_addr"], r["sample_sequence_num"], r["packet_length"]) for r in got)
    assert stored == sorted(k(ip(w["srcIp"]), ip(w["dstIp"]), w["sampleSequenceNumber"], w["length"]) for w in want)
    for r in got:
        assert r["bytes"] == r["packet_length"] * r["sampling_rate"] and r["packets"] == r["sampling_rate"] >= 1
        assert r["time_received_ns"] == ns_text(FLOW_TIME)
        assert r["exporter_address"] == "::ffff:192.0.2.200" and r["sampler_address"] == "::ffff:192.0.2.77"
        assert r["sampler_port"] == 6343
    assert {r["protocol"] for r in got} == {1, 6, 17, 58}


def A(text: str) -> bytes:
    from nxthdr.core.addr import to16

    return to16(text)


NOW = time.time_ns()

# Timestamps around now: rows older than the retention are dropped by the TTL as they are written.
replies = st.builds(
    Reply, time_received_ns=st.integers(NOW - 86400 * 10**9, NOW + 86400 * 10**9), agent_id=st.text(max_size=20),
    reply_src_addr=st.sampled_from([A("192.0.2.1"), A("2001:db8::1")]), reply_dst_addr=st.just(A("198.51.100.7")),
    reply_id=st.integers(0, 65535), reply_size=st.integers(0, 65535), reply_ttl=st.integers(0, 255),
    reply_quoted_ttl=st.integers(0, 255), reply_protocol=st.sampled_from([1, 58]),
    reply_icmp_type=st.integers(0, 255), reply_icmp_code=st.integers(0, 255),
    reply_mpls_labels=st.lists(st.builds(MplsLabel, label=st.integers(0, 2**20 - 1), exp=st.integers(0, 7),
                                         s_bit=st.booleans(), ttl=st.integers(0, 255)), max_size=3).map(tuple),
    probe_src_addr=st.just(A("2001:db8::2")), probe_dst_addr=st.just(A("192.0.2.9")), probe_id=st.integers(0, 65535),
    probe_size=st.integers(0, 65535), probe_ttl=st.integers(0, 255), probe_protocol=st.sampled_from([1, 6, 17, 58]),
    probe_src_port=st.integers(0, 65535), probe_dst_port=st.integers(0, 65535), rtt=st.integers(0, 65535))


@settings(max_examples=30, deadline=None)
@given(st.lists(replies, min_size=1, max_size=5))
def test_replies_are_stored(store, batch):
    store.query("TRUNCATE TABLE saimiris.replies")
    msgs = [encode_reply(r) for r in batch]
    assert store.insert_messages("saimiris", msgs) == len(msgs)
    got = rows(store, "SELECT * FROM saimiris.replies ORDER BY time_received_ns "
                      "SETTINGS output_format_json_quote_64bit_integers = 0, session_timezone = 'UTC'")
    Rep = load_schema("reply.capnp").Reply
    want = []
    for m in msgs:
        with Rep.from_bytes(m) as r:
            want.append(r.to_dict())
    want.sort(key=lambda w: w["timeReceivedNs"])
    assert len(got) == len(want)
    for r, w in zip(sorted(got, key=lambda r: (r["time_received_ns"], r["agent_id"], r["rtt"])),
                    sorted(want, key=lambda w: (ns_text(w["timeReceivedNs"]), w.get("agentId", ""), w.get("rtt", 0)))):
        assert r["time_received_ns"] == ns_text(w["timeReceivedNs"])
        assert r["agent_id"] == w.get("agentId", "")
        assert r["reply_src_addr"] == ip(w["replySrcAddr"]) and r["probe_dst_addr"] == ip(w["probeDstAddr"])
        assert r["rtt"] == w.get("rtt", 0) and r["probe_ttl"] == w.get("probeTtl", 0)
        assert [tuple(x) for x in r["reply_mpls_labels"]] == [
            (x.get("label", 0), x.get("exp", 0), int(x.get("sBit", False)), x.get("ttl", 0))
            for x in w.get("replyMplsLabel", [])]


def test_data_persists_and_the_directory_has_one_owner(store, tmp_path):
    # chdb runs one engine per process, on one path: the shared store steps aside meanwhile.
    store.close()
    try:
        _persists(tmp_path)
    finally:
        store.open()


def _persists(tmp_path):
    a = Store(tmp_path)
    a.open()
    try:
        a.insert_messages("bmp", list(bmp_messages()))
        with pytest.raises(DataDirBusy):
            Store(tmp_path).open()
    finally:
        a.close()
    b = Store(tmp_path)
    b.open()
    try:
        assert int(b.query("SELECT count() FROM bmp.updates")) == len(bmp_messages())
    finally:
        b.close()


def test_multi_segment_message_takes_the_slow_path(store):
    """A message in two segments (valid Cap'n Proto; other writers produce them) is read through pycapnp."""
    m = flow_messages()[0]
    words = struct.unpack_from("<I", m, 4)[0]
    two = struct.pack("<III", 1, words, 0) + b"\0" * 4 + m[8:]
    w = store.writers["flows"]
    assert w.row(two) == w.row(m)


def test_split_stream():
    msgs = list(flow_messages()[:5])
    assert split_stream(b"".join(msgs)) == msgs
    with pytest.raises(ConversionError):
        split_stream(b"".join(msgs)[:-3])


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600), st.sampled_from(["bmp", "flows", "saimiris"]))
def test_fuzz_garbage_is_a_conversion_error(store, data, pipeline):
    try:
        store.writers[pipeline].row(data)
    except ConversionError:
        pass


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 255), st.sampled_from(["bmp", "flows"]))
def test_fuzz_corrupted_messages_are_conversion_errors(store, pos, value, pipeline):
    src = bmp_messages() if pipeline == "bmp" else flow_messages()
    m = bytearray(src[pos % len(src)])
    m[pos % len(m)] = value
    try:
        row = store.writers[pipeline].row(bytes(m))
    except ConversionError:
        return
    assert isinstance(row, bytes)


def test_without_chdb_the_appliance_says_how_to_get_it(tmp_path):
    # chdb is an optional extra (nixpkgs has none). Uninstalling it is not
    # possible in the test, so the subprocess hides it from the import system
    # (a stand-in for "not installed"): the appliance must refuse with advice.
    import subprocess
    import sys

    cfg = tmp_path / "appliance.yaml"
    cfg.write_text(f"storage: {{data_dir: {str(tmp_path / 'data')!r}}}\nbmp: {{enable: false}}\n"
                   "sflow: {enable: false}\nmetrics: {address: '127.0.0.1:0'}\nquery: {enable: false}\n")
    code = ("import sys; sys.modules['chdb'] = None; sys.modules['chdb.session'] = None\n"
            "from nxthdr.appliance.cli import main\n"
            f"sys.exit(main(['-c', {str(cfg)!r}]))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1, res.stderr
    assert "nxthdr[embedded]" in res.stderr


def test_store_sink_reports_delivery_in_emission_order(store):
    """risotto's state file trusts `delivered()`: only messages the store settled count."""
    import asyncio

    from nxthdr.core.metrics import Metrics
    from nxthdr.storage.sink import StoreSink

    store.query("TRUNCATE TABLE bmp.updates")
    sink = StoreSink(store, "bmp", Metrics("t"), batch_rows=3, max_buffer=4)
    msgs = list(bmp_messages())[:5]
    assert sink.delivered() == 0
    for m in msgs:
        sink.emit(m)
    assert sink.delivered() == 0  # four buffered, the fifth dropped: nothing settled before the first
    asyncio.run(sink.flush())
    assert sink.delivered() == 5
    assert int(rows(store, "SELECT count() AS n FROM bmp.updates")[0]["n"]) == 4
