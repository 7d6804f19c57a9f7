"""Kafka records on the probes topic, to what this agent must do (sans-I/O).

A record (wire.md): key = measurement id, value = framed `Probe` messages,
one header per target agent, key = agent id, value = JSON `{"src_ip",
"measurement_id", "end_of_measurement"}` (+ `"cancel": true` for the
gateway's cancellation records, whose value is empty). `classify` returns
what to do, or raises `MessageError` naming the field or the probe at fault:
the consumer counts and logs it and goes on with the next record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from nxthdr.saimiris.probe import Probe, ProbeError, decode_probes

MAX_HEADER_BYTES = 4096


class MessageError(ValueError):
    """A record addressed to this agent cannot be acted on. `kind` is the metric label."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Header:
    src_ip: str
    measurement_id: str
    end_of_measurement: bool
    cancel: bool = False


@dataclass(frozen=True)
class Ignore:
    """Not addressed to this agent."""


@dataclass(frozen=True)
class Cancel:
    header: Header


@dataclass(frozen=True)
class Probes:
    header: Header
    probes: list[Probe]


def _text(b: bytes | None) -> str | None:
    if b is None:
        return None
    try:
        return bytes(b).decode("utf-8")
    except UnicodeDecodeError:
        return None


def our_header(headers, agent_id: str) -> bytes | None:
    """The value of the first header whose key is `agent_id`; None when the record is not for us."""
    for key, value in headers or ():
        if isinstance(key, bytes):
            key = _text(key)
        if key == agent_id:
            return b"" if value is None else bytes(value)
    return None


def parse_header(value: bytes, record_key: bytes | None) -> Header:
    if len(value) > MAX_HEADER_BYTES:
        raise MessageError("header", f"header value: longer than {MAX_HEADER_BYTES} bytes")
    text = _text(value)
    if text is None:
        raise MessageError("header", "header value: not UTF-8")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise MessageError("header", f"header value: not JSON ({e})") from None
    if not isinstance(doc, dict):
        raise MessageError("header", f"header value: expected a JSON object, got {type(doc).__name__}")
    src = doc.get("src_ip")
    if not isinstance(src, str) or not src:
        raise MessageError("header", f"header field src_ip: expected an address string, got {src!r:.80}")
    mid = doc.get("measurement_id")
    if mid is None:
        mid = _text(record_key)  # the record key is the measurement id too
    if not isinstance(mid, str) or not mid or len(mid) > 256:
        raise MessageError("header", f"header field measurement_id: expected a non-empty string, got {mid!r:.80}")
    end = doc.get("end_of_measurement", False)
    if not isinstance(end, bool):
        raise MessageError("header", f"header field end_of_measurement: expected a boolean, got {end!r:.80}")
    cancel = doc.get("cancel", False)
    if not isinstance(cancel, bool):
        raise MessageError("header", f"header field cancel: expected a boolean, got {cancel!r:.80}")
    return Header(src, mid, end, cancel)


# Probes one record may carry. The gateway and the client split at message_max_bytes (about 20,000 probes
# per record); a record far above that is refused before decoding, so a small compressed record cannot make
# the agent build millions of probes (48 bytes on the wire, several hundred in memory, each).
MAX_PROBES_PER_RECORD = 100_000
_MIN_PROBE_MESSAGE = 48  # framing, root pointer, one data word, one pointer, 16 address bytes


def classify(key: bytes | None, value: bytes | None, headers, agent_id: str) -> Ignore | Cancel | Probes:
    """What a record means for `agent_id`. Raises MessageError (only) when it is addressed to us but broken."""
    raw = our_header(headers, agent_id)
    if raw is None:
        return Ignore()
    header = parse_header(raw, key)
    if header.cancel:
        return Cancel(header)
    if value is not None and len(value) > MAX_PROBES_PER_RECORD * _MIN_PROBE_MESSAGE:
        raise MessageError("probes", f"measurement {header.measurement_id}: record of {len(value)} bytes holds "
                                     f"more than {MAX_PROBES_PER_RECORD} probes (split it)")
    try:
        probes = decode_probes(value or b"")
    except ProbeError as e:
        raise MessageError("probes", f"measurement {header.measurement_id}: {e}") from None
    return Probes(header, probes)
