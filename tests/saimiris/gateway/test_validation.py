"""Request validation: any JSON gives a submission or a BadRequest, never another exception."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from nxthdr.saimiris.gateway import validation as v
from nxthdr.saimiris.gateway.prefixes import user_id, user_prefix

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=6),
    max_leaves=30)
probe_like = st.lists(st.one_of(st.sampled_from(["2001:db8::1", "::ffff:1.2.3.4", "1.2.3.4", "x", ""]),
                                st.integers(-2, 70000), st.sampled_from(["udp", "icmpv6", "icmp", "UDP"]), json_values),
                      min_size=0, max_size=6)
bodies = st.fixed_dictionaries(
    {"metadata": st.lists(st.fixed_dictionaries({"id": st.text(max_size=5) | json_values,
                                                  "ip_address": st.sampled_from(["2001:db8::1", "::1", "1.2.3.4"])
                                                  | json_values}), max_size=3),
     "probes": st.lists(probe_like | json_values, max_size=5)}) | json_values


@settings(max_examples=200, deadline=None)
@given(bodies)
def test_any_body_is_a_submission_or_a_bad_request(body):
    try:
        sub = v.parse_submission(body, 1000)
    except v.BadRequest as e:
        assert str(e)
        return
    assert sub.probes and sub.targets
    for p in sub.probes:
        assert not p.is_ipv4 and p.protocol in ("udp", "icmpv6") and 1 <= p.ttl <= 255


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_parse_or_fail_cleanly(raw):
    try:
        v.parse_json(raw)
    except v.BadRequest:
        pass


def test_huge_integers_and_deep_nesting_are_bad_requests():
    for raw in (b"1" * 5000, b"[" * 100000 + b"]" * 100000, json.dumps({"a": "\ud800"}).encode()):
        try:
            v.parse_json(raw)
        except v.BadRequest:
            pass
    try:
        v.parse_submission({"metadata": [{"id": "a", "ip_address": "2001:db8::1"}], "probes": [[10**5000]]}, 10)
    except v.BadRequest as e:
        assert "Probe at index 0" in str(e)


def test_user_id_and_prefix_derivation():
    import hashlib
    import ipaddress

    assert user_id("alice") == int.from_bytes(hashlib.sha256(b"alice").digest()[:4], "big")
    uid = 0xDEADBEEF
    assert str(user_prefix(ipaddress.IPv6Network("2001:db8:1::/48"), uid)) == "2001:db8:1:dead:beef::/80"
    assert str(user_prefix(ipaddress.IPv6Network("2001:db8::/32"), uid)) == "2001:db8:dead:beef::/64"
    assert str(user_prefix(ipaddress.IPv6Network("2001:db8::/96"), uid)) == "2001:db8::dead:beef/128"
    assert user_prefix(ipaddress.IPv6Network("2001:db8::/97"), uid) is None


def test_times():
    assert v.parse_time("1970-01-02", "x") == 86400000
    assert v.parse_time("1970-01-01T01:00:00+01:00", "x") == 0
    assert v.parse_time("1970-01-01 00:00:01", "x") == 1000
    assert v.iso(1500) == "1970-01-01T00:00:01.500Z"
    for bad in ("", "today", "9999-12-31T23:59:59-23:59", "2025-02-30"):
        try:
            v.parse_time(bad, "since")
            assert bad == "9999-12-31T23:59:59-23:59"  # representable on some platforms
        except v.BadRequest as e:
            assert str(e).startswith("since:")
