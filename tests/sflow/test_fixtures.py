"""The recorded pmacct datagrams hold the traffic the recording script sent, as the decoder reads them."""

from __future__ import annotations

import ipaddress

from nxthdr.sflow import decode_datagram
from nxthdr.sflow.decoder import ExtendedSwitch, SampledHeader
from tests.sflow import traffic


def _ip(text: str) -> bytes:
    ip = ipaddress.ip_address(text)
    return (b"\0" * 10 + b"\xff\xff" + ip.packed) if ip.version == 4 else ip.packed


def test_every_recorded_flow_is_decoded(pmacct_datagrams, pmacct_manifest):
    packets = [s.packet for raw in pmacct_datagrams for s in decode_datagram(raw).flow_samples]
    assert all(p is not None for p in packets)
    for exp in pmacct_manifest["traffic"]:
        for want in [exp, *exp.get("also", [])]:
            assert any(traffic.matches(p, want, _ip) for p in packets), exp["name"]


def test_agent_behaviour_noted_in_manifest(pmacct_datagrams, pmacct_manifest):
    observed = pmacct_manifest["observed"]
    dgs = [decode_datagram(raw) for raw in pmacct_datagrams]
    assert len(dgs) == observed["datagrams"]
    samples = [s for d in dgs for s in d.flow_samples]
    assert {"1": len(samples)} == observed["sample_formats"]
    assert all(not s.expanded for s in samples)
    assert all(isinstance(s.records[0], ExtendedSwitch) and isinstance(s.records[1], SampledHeader) for s in samples)
    assert max(len(s.records[1].header) for s in samples) == observed["max_header_bytes"]
    # The truncated capture still reports the full IP length of the large datagram.
    assert any(s.packet.length > len(s.records[1].header) for s in samples)
    assert {str(d.agent_address) for d in dgs} == {pmacct_manifest["config"]["sfprobe_agentip"]}
