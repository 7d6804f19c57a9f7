"""Request bodies to typed values, or a 400 naming the field (or the probe index) and the reason.

Strict on purpose: unknown fields, wrong JSON types (a boolean is not a
number, 1.0 is not an integer) and out-of-range values are refused, so a
client's typo never silently changes a measurement.

Destinations are IPv6 only. IPv4-mapped (`::ffff:a.b.c.d`) and deprecated
IPv4-compatible (`::a.b.c.d`) addresses are IPv4 in disguise and are refused
the same way as dotted quads; so are addresses no probe can usefully reach
(unspecified, loopback, multicast, link-local).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from nxthdr.saimiris.probe import Probe, ProbeError

API_PROTOCOLS = {"udp": "udp", "icmpv6": "icmpv6"}
MAX_ID_LENGTH = 128


class BadRequest(Exception):
    """400 with this message."""


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise BadRequest("invalid JSON: the body is not UTF-8") from None
    except json.JSONDecodeError as e:
        raise BadRequest(f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:
        raise BadRequest("invalid JSON: nested too deeply") from None
    except ValueError as e:  # e.g. an integer literal longer than Python's digit limit
        raise BadRequest(f"invalid JSON: {show(str(e))}") from None


def show(value: Any, limit: int = 60) -> str:
    """A JSON rendering of a client value, cut short for messages."""
    try:
        text = json.dumps(value)
    except (ValueError, TypeError):
        text = type(value).__name__
    return text if len(text) <= limit else text[:limit] + "..."


_TYPES = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "integer": (lambda v: type(v) is int, "an integer"),
    "boolean": (lambda v: type(v) is bool, "a boolean"),
    "array": (lambda v: isinstance(v, list), "an array"),
    "object": (lambda v: isinstance(v, dict), "an object"),
}


def check_object(value: Any, where: str, required: dict[str, str], optional: dict[str, str] | None = None,
                 nullable: frozenset[str] = frozenset()) -> dict:
    """Check an object's keys and value types; `where` prefixes messages ("" for the body)."""
    optional = optional or {}
    label = where or "request body"
    if not isinstance(value, dict):
        raise BadRequest(f"{label}: must be a JSON object")
    for key in value:
        if key not in required and key not in optional:
            known = ", ".join(sorted([*required, *optional]))
            raise BadRequest(f"{_field(where, key)}: unknown field (expected {known})")
    for key, typ in {**required, **optional}.items():
        if key not in value:
            if key in required:
                raise BadRequest(f"{_field(where, key)}: missing")
            continue
        v = value[key]
        if v is None and key in nullable:
            continue
        ok, name = _TYPES[typ]
        if not ok(v):
            raise BadRequest(f"{_field(where, key)}: must be {name}, got {_json_type(v)}")
    return value


def _field(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    return "an object"


def check_id(value: str, what: str) -> str:
    if not value or len(value) > MAX_ID_LENGTH or not value.isprintable() or value.strip() != value:
        raise BadRequest(f"{what}: must be 1..{MAX_ID_LENGTH} printable characters without surrounding spaces")
    return value


def ipv6_unicast(text: str) -> ipaddress.IPv6Address:
    """A routable IPv6 address, or ValueError with the reason."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"not an IP address: {show(text)}") from None
    if addr.version == 4:
        raise ValueError(f"IPv4 address {text} is not supported (IPv6 only)")
    if addr.ipv4_mapped is not None:
        raise ValueError(f"IPv4-mapped address {text} is not supported (IPv6 only)")
    if addr in _IPV4_COMPATIBLE and int(addr) > 1:
        raise ValueError(f"IPv4-compatible address {text} is not supported (IPv6 only)")
    if addr.is_unspecified or addr.is_loopback or addr.is_multicast or addr.is_link_local:
        raise ValueError(f"{text} is not a unicast address that can be probed")
    if addr.scope_id:
        raise ValueError(f"{text}: zone indexes are not allowed")
    return addr


_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def parse_probe(item: Any, index: int) -> Probe:
    where = f"Probe at index {index}"
    if not isinstance(item, list) or len(item) != 5:
        raise BadRequest(f"{where}: expected [dst_addr, src_port, dst_port, ttl, protocol], got {_json_type(item)}"
                         + (f" of {len(item)} elements" if isinstance(item, list) else ""))
    dst, sport, dport, ttl, proto = item
    if not isinstance(dst, str):
        raise BadRequest(f"{where}: dst_addr must be a string, got {_json_type(dst)}")
    try:
        addr = ipv6_unicast(dst)
    except ValueError as e:
        raise BadRequest(f"{where}: dst_addr: {e}") from None
    for name, value, low, high in (("src_port", sport, 0, 65535), ("dst_port", dport, 0, 65535), ("ttl", ttl, 1, 255)):
        if type(value) is not int or not low <= value <= high:
            raise BadRequest(f"{where}: {name} must be an integer in {low}..{high}, got {show(value)}")
    if not isinstance(proto, str):
        raise BadRequest(f"{where}: protocol must be a string, got {_json_type(proto)}")
    protocol = API_PROTOCOLS.get(proto.lower())
    if protocol is None:
        hint = " (icmp is IPv4; use icmpv6)" if proto.lower() == "icmp" else ""
        raise BadRequest(f"{where}: protocol must be \"udp\" or \"icmpv6\", got {show(proto)}{hint}")
    try:
        return Probe(addr.packed, sport, dport, ttl, protocol)
    except ProbeError as e:  # defensive: the checks above should have caught everything
        raise BadRequest(f"{where}: {e}") from None


@dataclass(frozen=True)
class Target:
    agent_id: str
    src_ip: ipaddress.IPv6Address


@dataclass(frozen=True)
class Submission:
    targets: list[Target]
    probes: list[Probe]


def parse_submission(body: Any, max_probes: int) -> Submission:
    check_object(body, "", {"metadata": "array", "probes": "array"})
    metadata = body["metadata"]
    if not metadata:
        raise BadRequest("metadata: must list at least one agent")
    targets: list[Target] = []
    seen: set[str] = set()
    for i, entry in enumerate(metadata):
        where = f"metadata[{i}]"
        check_object(entry, where, {"id": "string", "ip_address": "string"})
        agent_id = check_id(entry["id"], f"{where}.id")
        if agent_id in seen:
            raise BadRequest(f"{where}.id: agent {show(agent_id)} is listed twice")
        seen.add(agent_id)
        try:
            src = ipv6_unicast(entry["ip_address"])
        except ValueError as e:
            raise BadRequest(f"{where}.ip_address: {e}") from None
        targets.append(Target(agent_id, src))
    raw = body["probes"]
    if not raw:
        raise BadRequest("probes: must contain at least one probe")
    if len(raw) > max_probes:
        raise BadRequest(f"probes: at most {max_probes} probes per submission, got {len(raw)}")
    return Submission(targets, [parse_probe(item, i) for i, item in enumerate(raw)])


# -- small values --------------------------------------------------------------------------

def parse_time(text: str, what: str) -> int:
    """RFC 3339, `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD` (UTC unless an offset is given) to Unix ms."""
    t = text.strip()
    try:
        if len(t) == 10:
            value = dt.datetime.strptime(t, "%Y-%m-%d")
        else:
            value = dt.datetime.fromisoformat(t.replace("Z", "+00:00").replace("z", "+00:00"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return int(value.timestamp() * 1000)
    except (ValueError, OverflowError):
        raise BadRequest(f"{what}: not a time: {show(text)} (expected RFC 3339, 'YYYY-MM-DD HH:MM:SS' or "
                         "'YYYY-MM-DD')") from None


def parse_bool(text: str, what: str) -> bool:
    low = text.strip().lower()
    if low in ("false", "0"):
        return False
    if low in ("true", "1"):
        return True
    raise BadRequest(f"{what}: expected true or false, got {show(text)}")


def iso(ms: int | float | None) -> str | None:
    if ms is None:
        return None
    text = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


# -- agent bodies --------------------------------------------------------------------------

INSTANCE_FIELDS = {
    "name": "string", "batch_size": "integer", "instance_id": "integer", "dry_run": "boolean",
    "min_ttl": "integer", "max_ttl": "integer", "integrity_check": "boolean", "interface": "string",
    "src_ipv4_prefix": "string", "src_ipv6_prefix": "string", "packets": "integer", "probing_rate": "integer",
    "rate_limiting_method": "string",
}
NULLABLE_INSTANCE_FIELDS = frozenset({"name", "min_ttl", "max_ttl", "interface", "src_ipv4_prefix", "src_ipv6_prefix"})


def parse_instance_configs(body: Any) -> list[dict]:
    if not isinstance(body, list):
        raise BadRequest("request body: must be a JSON array of prober instance configurations")
    if len(body) > 64:
        raise BadRequest("request body: at most 64 instances")
    out = []
    for i, inst in enumerate(body):
        where = f"[{i}]"
        check_object(inst, where, {}, INSTANCE_FIELDS, NULLABLE_INSTANCE_FIELDS)
        for key in ("src_ipv4_prefix", "src_ipv6_prefix"):
            text = inst.get(key)
            if text is None:
                continue
            try:
                net = ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise BadRequest(f"{where}.{key}: not a prefix: {show(text)}") from None
            if net.version != (4 if key == "src_ipv4_prefix" else 6):
                raise BadRequest(f"{where}.{key}: wrong address family: {show(text)}")
        for key, high in (("instance_id", 65535), ("min_ttl", 255), ("max_ttl", 255)):
            v = inst.get(key)
            if v is not None and not 0 <= v <= high:
                raise BadRequest(f"{where}.{key}: must be in 0..{high}, got {v}")
        for key in ("batch_size", "packets", "probing_rate"):
            v = inst.get(key)
            if v is not None and v < 0:
                raise BadRequest(f"{where}.{key}: must not be negative, got {v}")
        out.append(inst)
    return out


def parse_health(body: Any) -> dict:
    check_object(body, "", {"healthy": "boolean"}, {"last_check": "string", "message": "string"},
                 frozenset({"message", "last_check"}))
    if body.get("last_check") is not None:
        parse_time(body["last_check"], "last_check")
    if body.get("message") is not None and len(body["message"]) > 4096:
        raise BadRequest("message: at most 4096 characters")
    return {"healthy": body["healthy"], "last_check": body.get("last_check"), "message": body.get("message")}
