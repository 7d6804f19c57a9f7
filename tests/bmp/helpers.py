"""Shared helpers of the BMP/BGP codec tests."""

from __future__ import annotations

import ipaddress
import random

from nxthdr.bmp.decoder import BmpDecoder
from nxthdr.bmp.events import NEED_DATA


def v4(addr: str) -> bytes:
    """16-byte IPv4-mapped form of a dotted quad, computed independently of the codec."""
    return ipaddress.IPv6Address("::ffff:" + addr).packed


def v6(addr: str) -> bytes:
    return ipaddress.IPv6Address(addr).packed


def ip_int(addr: str) -> int:
    return int(ipaddress.IPv4Address(addr))


def feed(chunks, **decoder_args) -> list:
    decoder = BmpDecoder(**decoder_args)
    events = []
    for chunk in chunks:
        decoder.receive_data(chunk)
        while (event := decoder.next_event()) is not NEED_DATA:
            events.append(event)
    return events


def random_chunks(data: bytes, rng: random.Random, max_size: int = 97) -> list[bytes]:
    chunks = []
    i = 0
    while i < len(data):
        n = rng.randint(1, max_size)
        chunks.append(data[i : i + n])
        i += n
    return chunks


def decode_stream(stream: bytes, *, seed: int = 0, **decoder_args) -> list:
    """Events of `stream` fed whole, byte by byte and in random chunks: all three must agree."""
    whole = feed([stream], **decoder_args)
    bytewise = feed([stream[i : i + 1] for i in range(len(stream))], **decoder_args)
    chunked = feed(random_chunks(stream, random.Random(seed)), **decoder_args)
    assert bytewise == whole
    assert chunked == whole
    return whole


def decode_one(message: bytes, **decoder_args):
    events = decode_stream(message, **decoder_args)
    assert len(events) == 1, events
    return events[0]
