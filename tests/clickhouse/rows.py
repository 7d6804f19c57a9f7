"""Test helpers: Cap'n Proto messages (read with pycapnp, an independent reader) to
rows of the camelCase input tables, inserted with SQL VALUES literals.

Deliberately simple and slow: the embedded store has its own fast RowBinary
writer; here the point is an independent path from the collectors' bytes to
the storage rows.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Iterable, Sequence

from nxthdr.clickhouse.tables import Column


def capnp_row(msg) -> dict[str, Any]:
    """Every field of a pycapnp struct reader, lists of structs as lists of tuples in field order."""
    out = {}
    for f in msg.schema.node.struct.fields:
        out[f.name] = _value(getattr(msg, f.name))
    return out


def _value(v):
    if isinstance(v, (bool, int, bytes, str)):
        return v
    if hasattr(v, "schema") and hasattr(v.schema, "node"):  # nested struct
        return tuple(_value(getattr(v, f.name)) for f in v.schema.node.struct.fields)
    return [_value(x) for x in v]  # list


def _bytes_literal(b: bytes) -> str:
    return "'" + "".join(f"\\x{x:02x}" for x in b) + "'"


def _split(args: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in args:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    return out + [cur.strip()] if cur.strip() else out


def literal(typ: str, v) -> str:
    m = re.match(r"^(\w+)(?:\((.*)\))?$", typ)
    name, args = m.group(1), m.group(2)
    if name == "Array":
        return "[" + ", ".join(literal(args, x) for x in v) + "]"
    if name == "Tuple":
        return "(" + ", ".join(literal(t, x) for t, x in zip(_split(args), v)) + ")"
    if name == "IPv6":
        return "'" + str(ipaddress.IPv6Address(bytes(v) if v else bytes(16))) + "'"
    if name == "IPv4":
        return "'" + str(ipaddress.IPv4Address(int(v))) + "'"
    if name in ("String", "FixedString"):
        return _bytes_literal(v if isinstance(v, bytes) else str(v).encode())
    if name.startswith(("UInt", "Int", "Bool")):
        return str(int(v))
    raise TypeError(f"no literal for {typ}")


def zero(typ: str) -> str:
    """The literal of an absent value (what the Cap'n Proto reader gives for an unset field)."""
    if typ.startswith("Array"):
        return "[]"
    if typ.startswith(("IPv6", "FixedString")):
        return literal(typ, bytes(16))
    if typ == "String":
        return "''"
    return literal(typ, 0)


def insert(engine, table: str, columns: Sequence[Column], rows: Iterable[dict]) -> int:
    """INSERT the rows (dicts keyed by column name; missing keys take the column default)."""
    rows = list(rows)
    if not rows:
        return 0
    present = set().union(*rows)
    names = [c.name for c in columns if c.name in present]
    types = {c.name: c.type for c in columns}
    values = ",\n".join("(" + ", ".join(literal(types[n], r[n]) if n in r else zero(types[n]) for n in names) + ")"
                        for r in rows)
    engine.run(f"INSERT INTO {table} ({', '.join(names)}) VALUES {values}")
    return len(rows)
