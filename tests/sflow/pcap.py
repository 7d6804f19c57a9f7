"""Wrap sFlow datagrams in Ethernet/IPv4/UDP and write a classic pcap file, for tshark.

The collector receives datagrams as UDP payloads; tshark needs whole frames, so
each datagram gets a synthetic Ethernet + IPv4 + UDP wrapper (libpcap format,
link type 1). UDP checksum 0 (absent) keeps tshark from flagging anything.
"""

from __future__ import annotations

import struct
from pathlib import Path

SFLOW_PORT = 6343


def _ipv4_checksum(hdr: bytes) -> int:
    s = sum(struct.unpack("!10H", hdr))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def wrap(datagram: bytes, src_port: int = 40000, dst_port: int = SFLOW_PORT) -> bytes:
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(datagram), 0) + datagram
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                     bytes((127, 0, 0, 1)), bytes((127, 0, 0, 1)))
    ip = ip[:10] + struct.pack("!H", _ipv4_checksum(ip)) + ip[12:]
    return b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00" + ip + udp


def write_pcap(path: Path, datagrams: list[bytes]) -> None:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)]
    for i, d in enumerate(datagrams):
        frame = wrap(d)
        out.append(struct.pack("<IIII", 1_700_000_000 + i, 0, len(frame), len(frame)) + frame)
    Path(path).write_bytes(b"".join(out))


def read_framed(blob: bytes) -> list[bytes]:
    """Datagrams from the fixture file format: each one prefixed by its length (4 bytes, big endian)."""
    out, pos = [], 0
    while pos < len(blob):
        (n,) = struct.unpack_from("!I", blob, pos)
        out.append(blob[pos + 4:pos + 4 + n])
        pos += 4 + n
    return out


def frame_datagrams(datagrams: list[bytes]) -> bytes:
    return b"".join(struct.pack("!I", len(d)) + d for d in datagrams)
