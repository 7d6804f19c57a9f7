"""Live: pmacctd sfprobe in namespaces samples known traffic; the decoded datagrams must show every flow.

Needs root, network namespaces and pmacctd. Outside CI it is skipped when they
are missing; in CI (the CI environment variable set) a missing piece fails.
"""

from __future__ import annotations

import ipaddress
import os
import time

import pytest

from nxthdr.core.capnp_codec import load_schema
from nxthdr.sflow import decode_datagram, encode_datagram
from tests.sflow import agent, traffic

pytestmark = pytest.mark.integration

_reason = agent.available()


def _ip(text: str) -> bytes:
    ip = ipaddress.ip_address(text)
    return (b"\0" * 10 + b"\xff\xff" + ip.packed) if ip.version == 4 else ip.packed


@pytest.fixture(scope="module")
def lab():
    if _reason:
        if os.environ.get("CI"):
            pytest.fail(f"live sFlow agent unavailable in CI: {_reason}")
        pytest.skip(_reason)
    with agent.SfprobeLab(agent_subid=42) as lab:
        yield lab


def test_pmacct_sfprobe_flows_decoded(lab):
    expectations = traffic.generate(lab)
    time.sleep(0.5)
    datagrams = lab.drain(quiet=2.0, total=20.0)
    assert datagrams
    decoded = [decode_datagram(d) for d in datagrams]
    assert {str(d.agent_address) for d in decoded} == {lab.agent_ip}
    assert {d.sub_agent_id for d in decoded} == {42}
    seqs = [d.sequence for d in decoded]
    assert seqs == sorted(seqs)
    packets = [s.packet for d in decoded for s in d.flow_samples if s.packet is not None]
    for exp in expectations:
        for want in [exp, *exp.get("also", [])]:
            assert any(traffic.matches(p, want, _ip) for p in packets), f"not sampled: {exp['name']}: {want}"
    # And through the encoder: as many records as IP samples, readable by pycapnp.
    msgs = [m for d in decoded for m in encode_datagram(d, time.time_ns(), "127.0.0.1", 6343)]
    assert len(msgs) == len(packets)
    got = list(load_schema("sflow.capnp").SFlowFlowRecord.read_multiple_bytes(b"".join(msgs)))
    assert {bytes(m.srcIp) for m in got} >= {_ip(agent.SRC4), _ip(agent.SINK4), _ip(agent.SRC6), _ip(agent.SINK6)}
