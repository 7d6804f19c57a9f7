"""Running pesto in a test and reading back what it produced."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time

from tests.support.configs import program_config
from nxthdr.core.capnp_codec import load_schema

# Manifest keys (tests/fixtures/sflow/*.json) → SFlowFlowRecord fields.
RECORD_FIELDS = {"src": "srcIp", "dst": "dstIp", "protocol": "protocol", "src_port": "srcPort",
                 "dst_port": "dstPort", "tcp_flags": "tcpFlags", "tos": "tos", "length": "length",
                 "icmp_type": "icmpType", "icmp_code": "icmpCode", "ttl": "ipTtl", "vlan": "vlan",
                 "inner_vlan": "innerVlan", "fragment_offset": "fragmentOffset"}


def ip16(text: str) -> bytes:
    ip = ipaddress.ip_address(text)
    return (b"\0" * 10 + b"\xff\xff" + ip.packed) if ip.version == 4 else ip.packed


def pesto_config(tmp_path=None, **over) -> dict:
    """Defaults, loopback ports chosen by the kernel, Kafka off, file output on; `section__key=value` overrides."""
    base = {"sflow": {"address": "127.0.0.1:0", "receive_buffer": 4 << 20}, "metrics": {"address": "127.0.0.1:0"},
            "kafka": {"disable": True}}
    if tmp_path is not None:
        base["file_output"] = str(tmp_path / "records.bin")
    return program_config("pesto", base, over)


def read_records(data: bytes) -> list[dict]:
    if not data:
        return []
    return [m.to_dict() for m in load_schema("sflow.capnp").SFlowFlowRecord.read_multiple_bytes(data)]


def record_matches(rec: dict, expectation: dict) -> bool:
    for key, want in expectation.items():
        if key in ("name", "also", "truncated"):
            continue
        field = RECORD_FIELDS[key]
        if key in ("src", "dst"):
            want = ip16(want)
        if rec[field] != want:
            return False
    return True


def send(port: int, datagrams, host: str = "127.0.0.1", family: int = socket.AF_INET,
         source_port: int = 0) -> tuple[str, int]:
    """Send the datagrams from one socket; returns its (address, port)."""
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host if family == socket.AF_INET else "::1", source_port))
        for d in datagrams:
            s.sendto(d, (host, port))
        return s.getsockname()[:2]


def counter(app, name: str, **labels) -> float:
    """A sample of the collector's registry, as Prometheus would scrape it (0 when absent)."""
    return app.metrics.registry.get_sample_value(name, labels or None) or 0.0


async def wait_for(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")
