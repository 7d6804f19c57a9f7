"""Contract between the Kafka tables and the `.capnp` files, read from the files themselves.

ClickHouse's CapnProto reader maps columns to fields BY NAME and checks types.
Every Kafka column must name a field with a type the reader accepts (its
documented matching table), and every field must have a column: a field added
to a schema without its column would be silently lost. No field is excluded
today; EXCLUDED is where a deliberate exclusion would be written, with why.
"""

from __future__ import annotations

import re

import pytest

from nxthdr.clickhouse.tables import DATABASES, SPECS, objects
from nxthdr.core.capnp_codec import load_schema

# (database, field) -> why the Kafka table does not read it. Empty on purpose.
EXCLUDED: dict[tuple[str, str], str] = {}

# Cap'n Proto type -> ClickHouse column types the CapnProto reader accepts for it
# (ClickHouse "CapnProto" format documentation, data types matching).
COMPATIBLE = {
    "bool": {"UInt8", "Bool"},
    "uint8": {"UInt8"},
    "uint16": {"UInt16"},
    "uint32": {"UInt32", "IPv4"},
    "uint64": {"UInt64"},
    "int8": {"Int8"}, "int16": {"Int16"}, "int32": {"Int32"}, "int64": {"Int64"},
    "float32": {"Float32"}, "float64": {"Float64"},
    "text": {"String"},
    "data": {"String", "FixedString(16)", "IPv6"},
}


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
    return out + [cur.strip()]


def check(field_type, struct_schema_of, ch_type: str, where: str) -> list[str]:
    """Problems of reading a capnp value of `field_type` into a column of `ch_type`."""
    kind = field_type.which()
    if kind == "list":
        m = re.fullmatch(r"Array\((.*)\)", ch_type)
        if not m:
            return [f"{where}: List needs an Array column, not {ch_type}"]
        return check(field_type.list.elementType, struct_schema_of, m.group(1), where + "[]")
    if kind == "struct":
        m = re.fullmatch(r"Tuple\((.*)\)", ch_type)
        if not m:
            return [f"{where}: struct needs a Tuple column, not {ch_type}"]
        node = struct_schema_of(field_type.struct.typeId)
        fields = list(node.struct.fields)
        elems = _split(m.group(1))
        if len(elems) != len(fields):
            return [f"{where}: Tuple of {len(elems)} for a struct of {len(fields)} fields"]
        out = []
        for f, e in zip(fields, elems):
            out += check(f.slot.type, struct_schema_of, e, f"{where}.{f.name}")
        return out
    if ch_type not in COMPATIBLE.get(kind, set()):
        return [f"{where}: capnp {kind} cannot be read into {ch_type}"]
    return []


@pytest.mark.parametrize("name", DATABASES)
def test_kafka_columns_and_capnp_fields_match(name):
    spec = SPECS[name]
    module = load_schema(spec.capnp_file)
    root = getattr(module, spec.capnp_struct).schema
    nodes = {}

    def collect(s):
        nodes[s.node.id] = s.node
        for f in s.node.struct.fields:
            t = f.slot.type
            if t.which() == "list" and t.list.elementType.which() == "struct":
                collect(s.fields[f.name].schema.elementType)

    collect(root)
    fields = {f.name: f for f in root.node.struct.fields}
    cols = {c.name: c.type for c in objects(name).input_columns}

    assert not set(cols) - set(fields), f"columns without a Cap'n Proto field: {set(cols) - set(fields)}"
    missing = {f for f in fields if f not in cols and (name, f) not in EXCLUDED}
    assert not missing, f"Cap'n Proto fields without a Kafka column: {missing}"
    problems = []
    for col, typ in cols.items():
        problems += check(fields[col].slot.type, nodes.__getitem__, typ, f"{name}.{col}")
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_wrong_type():
    spec = SPECS["bmp"]
    root = getattr(load_schema(spec.capnp_file), spec.capnp_struct).schema
    f = {x.name: x for x in root.node.struct.fields}
    comm = root.fields["communities"].schema.elementType.node
    lookup = {comm.id: comm}.__getitem__
    assert check(f["peerAsn"].slot.type, lookup, "UInt16", "x")
    assert check(f["routerAddr"].slot.type, lookup, "IPv4", "x")
    assert check(f["communities"].slot.type, lookup, "Array(Tuple(UInt32))", "x")
    assert not check(f["communities"].slot.type, lookup, "Array(Tuple(UInt32, UInt16))", "x")


@pytest.mark.parametrize("name", DATABASES)
def test_every_input_column_reaches_the_storage_table(name):
    """Each camelCase column is read by the view (so no field stops at the Kafka table)."""
    o = objects(name)
    for c in o.input_columns:
        assert re.search(rf"\b{c.name}\b", o.view_select), f"{name}: the view never reads {c.name}"
