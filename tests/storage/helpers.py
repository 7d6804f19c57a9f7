"""What the collectors emit for the shipped recordings, produced by the collectors' own code."""

from __future__ import annotations

import functools
import ipaddress
import time
from pathlib import Path

from nxthdr.bmp.decoder import NEED_DATA, BmpDecoder
from nxthdr.core.addr import to16
from nxthdr.core.metrics import Metrics
from nxthdr.core.sinks import CollectingSink
from nxthdr.risotto.processor import Processor
from nxthdr.sflow import decode_datagram, encode_datagram

DATA = Path(__file__).resolve().parents[2] / "nxthdr" / "data"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@functools.cache
def bmp_messages() -> tuple[bytes, ...]:
    """Update messages risotto emits for every shipped BMP recording (sessions closed at the end)."""
    sink = CollectingSink()
    p = Processor(sink, Metrics("t"))
    for i, f in enumerate(sorted((DATA / "bmp").glob("*.bmp"))):
        s = p.open_session(to16(f"192.0.2.{i + 1}"), 40000 + i)
        dec = BmpDecoder()
        dec.receive_data(f.read_bytes())
        while (e := dec.next_event()) is not NEED_DATA:
            p.handle(s, e)
        p.close_session(s)
    return tuple(sink.messages)


def sflow_datagrams(path: Path) -> list[bytes]:
    from nxthdr.demo import sflow_datagrams as read

    return read(path)


FLOW_TIME = time.time_ns() // 10**9 * 10**9 + 123_456_789


@functools.cache
def flow_messages() -> tuple[bytes, ...]:
    out = []
    for d in sflow_datagrams(DATA / "sflow" / "lab-mix.sflow"):
        out += encode_datagram(decode_datagram(d), FLOW_TIME, "192.0.2.200", 6343)
    return tuple(out)


def ip(b) -> str:
    """16-byte address as ClickHouse prints an IPv6 column (IPv4-mapped in dotted form)."""
    a = ipaddress.IPv6Address(bytes(b) if b else bytes(16))
    return f"::ffff:{a.ipv4_mapped}" if a.ipv4_mapped is not None else str(a)
