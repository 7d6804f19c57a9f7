"""Hypothesis: whatever the bytes, only SFlowError escapes, and the output is bounded by the input size."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nxthdr.sflow import SFlowError, decode_datagram, encode_datagram
from tests.sflow import cases
from tests.sflow.conftest import FIXTURES
from tests.sflow.pcap import read_framed

SEEDS = read_framed((FIXTURES / "pmacct-sfprobe.bin").read_bytes()) + list(cases.datagrams().values())
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(data: bytes) -> None:
    try:
        dg = decode_datagram(data)
    except SFlowError as e:
        assert e.reason
        return
    assert len(dg.flow_samples) + dg.counter_samples + dg.skipped_samples <= len(data) // 8
    msgs = encode_datagram(dg, 1, "192.0.2.1", 1)
    assert len(msgs) <= len(dg.flow_samples)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes(data):
    _check(data)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_behind_a_valid_header(tail):
    # Random bodies behind a plausible v5 header reach the sample and record parsers.
    _check(b"\0\0\0\x05\0\0\0\x01\xc0\0\x02\x01" + b"\0\0\0\0\0\0\0\x01\0\0\0\x01\0\0\0\x02" + tail)


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=12),
       st.integers(0, 10_000))
def test_mutated_fixtures(seed, flips, cut):
    buf = bytearray(seed)
    for pos, val in flips:
        buf[pos % len(buf)] = val
    _check(bytes(buf[: max(0, len(buf) - cut % (len(buf) + 1))]))
