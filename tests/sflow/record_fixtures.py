"""Regenerate the sFlow fixtures from a real agent: pmacctd with the sfprobe plugin.

Run by hand, as root (network namespaces):

    python3 tests/sflow/record_fixtures.py

Writes `tests/fixtures/sflow/pmacct-sfprobe.bin` (every datagram prefixed by its
length, 4 bytes big endian) and `pmacct-sfprobe.json` (the traffic sent, its
expectations, and what the agent did). The datagrams are stored as received;
the tests cross-check their decoding against tshark, so nothing in the tests
depends on the exact content recorded here.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.sflow import traffic  # noqa: E402
from tests.sflow.agent import SfprobeLab, available  # noqa: E402
from tests.sflow.pcap import frame_datagrams  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sflow"
NAME = "pmacct-sfprobe"


def observe(datagrams: list[bytes]) -> dict:
    """Facts about the agent's output, read with a minimal XDR walk independent of the decoder."""
    sample_formats: Counter = Counter()
    record_formats: Counter = Counter()
    header_lengths: Counter = Counter()
    header_protocols: Counter = Counter()
    stripped: Counter = Counter()
    samples_per_datagram: Counter = Counter()
    interfaces: set = set()
    for d in datagrams:
        off = 12 if struct.unpack_from("!I", d, 4)[0] == 1 else 24
        n = struct.unpack_from("!I", d, off + 12)[0]
        samples_per_datagram[n] += 1
        off += 16
        for _ in range(n):
            fmt, length = struct.unpack_from("!II", d, off)
            sample_formats[fmt] += 1
            if fmt == 1:
                inp, outp, nrec = struct.unpack_from("!III", d, off + 8 + 20)
                interfaces.update((hex(inp), hex(outp)))
                roff = off + 8 + 32
                for _ in range(nrec):
                    rfmt, rlen = struct.unpack_from("!II", d, roff)
                    record_formats[rfmt] += 1
                    if rfmt == 1:
                        proto, _fl, strip, hlen = struct.unpack_from("!IIII", d, roff + 8)
                        header_protocols[proto] += 1
                        header_lengths[hlen] += 1
                        stripped[strip] += 1
                    roff += 8 + rlen
            off += 8 + length
    return {
        "datagrams": len(datagrams),
        "sample_formats": dict(sample_formats),
        "record_formats": dict(record_formats),
        "header_protocols": dict(header_protocols),
        "max_header_bytes": max(header_lengths) if header_lengths else 0,
        "payload_stripped": dict(stripped),
        "samples_per_datagram": dict(samples_per_datagram),
        "interfaces": sorted(interfaces),
    }


def record() -> None:
    reason = available()
    if reason:
        sys.exit(f"cannot record: {reason}")
    with SfprobeLab() as lab:
        expectations = traffic.generate(lab)
        time.sleep(0.5)
        datagrams = lab.drain(quiet=2.0, total=20.0)
        agent_ip, agent_subid = lab.agent_ip, lab.agent_subid
    version = subprocess.run(["pmacctd", "-V"], capture_output=True, text=True).stdout.splitlines()[0]
    FIXTURES.mkdir(parents=True, exist_ok=True)
    (FIXTURES / f"{NAME}.bin").write_bytes(frame_datagrams(datagrams))
    manifest = {
        "agent": version,
        "config": {"plugins": "sfprobe", "sampling_rate": 1, "sfprobe_agentip": agent_ip,
                   "sfprobe_agentsubid": agent_subid, "pcap_interface": "the sink end of the veth",
                   "sfprobe_receiver": "127.0.0.1:<ephemeral> in the sink namespace"},
        "traffic": expectations,
        "observed": observe(datagrams),
        "notes": [
            "pmacct 1.7.7 has no 'sfprobe_sampling_rate' key (it warns 'Unknown key' and ignores it); the rate is the "
            "global 'sampling_rate' key, 1 here, and it defaults to 1/1 anyway.",
            "Only compact flow samples (format 1) with two records each: extended switch (1001, VLANs 0) then "
            "sampled header (1, protocol Ethernet). No counter samples, no expanded samples.",
            "Sampled header: at most 128 bytes (pmacctd's default snaplen); frame_length = wire length + 4 with "
            "payload_stripped = 4 (an FCS it never had).",
            "The XDR padding after a sampled header is not zeroed (leftover buffer bytes); tshark shows them as an "
            "Ethernet trailer. Decoders must use the declared header length.",
            "Input and output interface are both 0x3fffffff (ifIndex unknown) without sfprobe_ifindex; source id "
            "class 0, index 1.",
            "pmacctd samples only frames it parses: untagged or 0x8100-tagged (one or two tags) IPv4/IPv6. Frames "
            "with an 0x88a8 or 0x9100 outer tag and non-IP frames (ARP) are not sampled at all.",
            "Samples are batched: one datagram carries several samples, flushed when the packet fills or after a "
            "short timer.",
        ],
    }
    (FIXTURES / f"{NAME}.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{len(datagrams)} datagrams, {manifest['observed']}")


if __name__ == "__main__":
    record()
