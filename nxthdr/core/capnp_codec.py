"""Cap'n Proto encoding without building pycapnp objects.

pycapnp is the reference reader (tests decode everything we write with it) but
building one message per prefix or per flow sample through it costs tens of
microseconds. The collectors instead write the wire format directly: a single
segment in unpacked stream framing, with the struct layout (data words, pointer
count, field offsets) read from the `.capnp` files through pycapnp's schema
introspection, so the offsets are never typed by hand.

Layout of every message we write:
    framing (8 bytes) | root pointer | data section | pointer section | objects...
Objects (Data, Text, lists) follow the pointer section in field order.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, field
from typing import Any

import capnp

from nxthdr.resources import schema_path

capnp.remove_import_hook()

_SCALAR_FORMATS = {
    "int8": "b",
    "int16": "h",
    "int32": "i",
    "int64": "q",
    "uint8": "B",
    "uint16": "H",
    "uint32": "I",
    "uint64": "Q",
    "float32": "f",
    "float64": "d",
    "enum": "H",
}
_SCALAR_SIZES = {k: struct.calcsize("<" + v) for k, v in _SCALAR_FORMATS.items()}
# List element size codes of the encoding spec.
_ELEMENT_SIZE_CODE = {"bool": 1, "int8": 2, "uint8": 2, "int16": 3, "uint16": 3, "enum": 3,
                      "int32": 4, "uint32": 4, "float32": 4, "int64": 5, "uint64": 5, "float64": 5}


@functools.cache
def load_schema(filename: str) -> Any:
    """Load one of the shipped `.capnp` files with pycapnp."""
    return capnp.load(str(schema_path(filename)), imports=[])


@dataclass(frozen=True)
class Slot:
    name: str
    kind: str  # scalar type name, "bool", "data", "text" or "list"
    offset: int  # bytes into the data section (scalars), bit (bool) or pointer index
    element: str | None = None  # list element kind
    element_layout: "StructLayout | None" = None  # list of structs


@dataclass(frozen=True)
class StructLayout:
    name: str
    data_words: int
    pointer_count: int
    slots: tuple[Slot, ...]
    by_name: dict[str, Slot] = field(compare=False, repr=False, default_factory=dict)

    @property
    def words(self) -> int:
        return self.data_words + self.pointer_count


def layout_of(struct_schema: Any) -> StructLayout:
    """Read the layout of a struct from a pycapnp struct schema."""
    node = struct_schema.node
    slots = []
    for f in node.struct.fields:
        t = f.slot.type
        kind = t.which()
        if kind == "bool":
            slots.append(Slot(f.name, "bool", f.slot.offset))
        elif kind in _SCALAR_FORMATS:
            slots.append(Slot(f.name, kind, f.slot.offset * _SCALAR_SIZES[kind]))
        elif kind in ("data", "text"):
            slots.append(Slot(f.name, kind, f.slot.offset))
        elif kind == "list":
            elem = t.list.elementType.which()
            if elem == "struct":
                sub = struct_schema.fields[f.name].schema.elementType
                slots.append(Slot(f.name, "list", f.slot.offset, "struct", layout_of(sub)))
            else:
                slots.append(Slot(f.name, "list", f.slot.offset, elem))
        else:
            raise TypeError(f"unsupported field type {kind} for {f.name}")
    layout = StructLayout(node.displayName, node.struct.dataWordCount, node.struct.pointerCount, tuple(slots))
    layout.by_name.update({s.name: s for s in slots})
    return layout


@functools.cache
def struct_layout(filename: str, struct_name: str) -> StructLayout:
    return layout_of(getattr(load_schema(filename), struct_name).schema)


# -- pointer words ---------------------------------------------------------------------------

def struct_pointer(offset_words: int, data_words: int, pointer_count: int) -> int:
    return ((offset_words << 2) & 0xFFFFFFFF) | (data_words << 32) | (pointer_count << 48)


def list_pointer(offset_words: int, size_code: int, count: int) -> int:
    return 1 | ((offset_words << 2) & 0xFFFFFFFF) | (size_code << 32) | (count << 35)


def frame_single_segment(segment: bytes) -> bytes:
    """Unpacked stream framing of a one-segment message."""
    return struct.pack("<II", 0, len(segment) // 8) + segment


def _pad8(b: bytes) -> bytes:
    r = len(b) % 8
    return b if r == 0 else b + b"\0" * (8 - r)


class ObjectArea:
    """Appends objects after a struct and computes the pointers to them.

    `base_word` is the word index (within the segment) where the area starts.
    """

    __slots__ = ("base_word", "chunks", "words")

    def __init__(self, base_word: int) -> None:
        self.base_word = base_word
        self.chunks: list[bytes] = []
        self.words = 0

    def _append(self, blob: bytes) -> int:
        start = self.base_word + self.words
        self.chunks.append(blob)
        self.words += len(blob) // 8
        return start

    def add_bytes(self, pointer_word: int, payload: bytes, text: bool = False) -> int:
        if text:
            payload = payload + b"\0"
        start = self._append(_pad8(payload))
        return list_pointer(start - pointer_word - 1, 2, len(payload))

    def add_scalar_list(self, pointer_word: int, kind: str, values: Any) -> int:
        if kind == "bool":
            bits = 0
            for i, v in enumerate(values):
                if v:
                    bits |= 1 << i
            blob = bits.to_bytes((len(values) + 7) // 8, "little")
        else:
            blob = struct.pack("<%d%s" % (len(values), _SCALAR_FORMATS[kind]), *values)
        start = self._append(_pad8(blob))
        return list_pointer(start - pointer_word - 1, _ELEMENT_SIZE_CODE[kind], len(values))

    def add_blob_list(self, pointer_word: int, kind: str, values: list) -> int:
        """List(Text) or List(Data): a list of pointers, each to its byte list."""
        n = len(values)
        first = self.base_word + self.words
        nested = ObjectArea(first + n)
        ptrs = []
        for i, v in enumerate(values):
            payload = v.encode() if kind == "text" else bytes(v)
            ptrs.append(nested.add_bytes(first + i, payload, text=(kind == "text")))
        self._append(struct.pack("<%dQ" % n, *ptrs))
        for c in nested.chunks:
            self._append(c)
        return list_pointer(first - pointer_word - 1, 6, n)

    def add_struct_list(self, pointer_word: int, layout: StructLayout, items: list[dict]) -> int:
        n = len(items)
        tag_word = self.base_word + self.words
        element_words = layout.words
        tag = struct_pointer(n, layout.data_words, layout.pointer_count)
        self._append(struct.pack("<Q", tag))
        # Reserve the elements, then place each element's objects after all of them.
        first = self.base_word + self.words
        bodies = []
        nested = ObjectArea(first + n * element_words)
        for i, item in enumerate(items):
            struct_word = first + i * element_words
            bodies.append(encode_struct_body(layout, item, struct_word, nested))
        self._append(b"".join(bodies))
        for c in nested.chunks:
            self._append(c)
        return list_pointer(tag_word - pointer_word - 1, 7, n * element_words)


def encode_struct_body(layout: StructLayout, values: dict, struct_word: int, area: ObjectArea) -> bytes:
    """Data + pointer sections of one struct at `struct_word`; its objects go to `area`."""
    data = bytearray(layout.data_words * 8)
    pointers = [0] * layout.pointer_count
    ptr_base = struct_word + layout.data_words
    for slot in layout.slots:
        v = values.get(slot.name)
        if v is None:
            continue
        kind = slot.kind
        if kind == "bool":
            if v:
                data[slot.offset >> 3] |= 1 << (slot.offset & 7)
        elif kind in _SCALAR_FORMATS:
            struct.pack_into("<" + _SCALAR_FORMATS[kind], data, slot.offset, v)
        elif kind == "data":
            pointers[slot.offset] = area.add_bytes(ptr_base + slot.offset, bytes(v))
        elif kind == "text":
            pointers[slot.offset] = area.add_bytes(ptr_base + slot.offset, v.encode(), text=True)
        elif slot.element == "struct":
            pointers[slot.offset] = area.add_struct_list(ptr_base + slot.offset, slot.element_layout, list(v))
        elif slot.element in ("text", "data"):
            pointers[slot.offset] = area.add_blob_list(ptr_base + slot.offset, slot.element, list(v))
        else:
            pointers[slot.offset] = area.add_scalar_list(ptr_base + slot.offset, slot.element, list(v))
    return bytes(data) + struct.pack("<%dQ" % layout.pointer_count, *pointers)


def encode_message(layout: StructLayout, values: dict) -> bytes:
    """Encode one message (framed) from a dict of field values; absent fields are defaults.

    The generic path: a few microseconds per message. Hot paths use templates
    built on the same primitives (see nxthdr.risotto.update_writer).
    """
    area = ObjectArea(1 + layout.words)
    body = encode_struct_body(layout, values, 1, area)
    root = struct.pack("<Q", struct_pointer(0, layout.data_words, layout.pointer_count))
    return frame_single_segment(root + body + b"".join(area.chunks))


class FixedShapeWriter:
    """Writer for structs whose pointer fields are all fixed-size Data (e.g. 16-byte addresses).

    The pointer section is then a constant and a message is: constant prefix +
    one `struct.pack` of the data section + constant pointers + the Data payloads.
    """

    def __init__(self, layout: StructLayout, scalar_fields: list[str], data_fields: dict[str, int]) -> None:
        self.layout = layout
        self.scalar_fields = scalar_fields
        slots = layout.by_name
        bools = [slots[n] for n in scalar_fields if slots[n].kind == "bool"]
        if bools:
            raise TypeError("FixedShapeWriter does not pack Bool fields")
        # Format covering the data section with explicit padding between fields.
        order = sorted(scalar_fields, key=lambda n: slots[n].offset)
        fmt, pos = "<", 0
        for n in order:
            s = slots[n]
            if s.offset > pos:
                fmt += "%dx" % (s.offset - pos)
            fmt += _SCALAR_FORMATS[s.kind]
            pos = s.offset + _SCALAR_SIZES[s.kind]
        if layout.data_words * 8 > pos:
            fmt += "%dx" % (layout.data_words * 8 - pos)
        self._data = struct.Struct(fmt)
        self.data_order = order
        # Pointers: every pointer slot must be one of data_fields (fixed length).
        ptr_slots = [s for s in layout.slots if s.kind in ("data", "text", "list")]
        if {s.name for s in ptr_slots} != set(data_fields):
            raise TypeError("FixedShapeWriter needs every pointer field as a fixed-size Data")
        self.data_order_ptr = sorted(ptr_slots, key=lambda s: s.offset)
        ptr_base = 1 + layout.data_words
        obj_word = 1 + layout.words
        pointers = [0] * layout.pointer_count
        for s in self.data_order_ptr:
            size = data_fields[s.name]
            if size % 8:
                raise TypeError("fixed Data sizes must be whole words")
            pointers[s.offset] = list_pointer(obj_word - (ptr_base + s.offset) - 1, 2, size)
            obj_word += size // 8
        self.data_field_order = [s.name for s in self.data_order_ptr]
        segment_words = obj_word
        self.prefix = struct.pack("<IIQ", 0, segment_words, struct_pointer(0, layout.data_words, layout.pointer_count))
        self.pointers = struct.pack("<%dQ" % layout.pointer_count, *pointers)
        self.pack_data = self._data.pack

    def encode(self, scalars: tuple, datas: tuple) -> bytes:
        """`scalars` in `data_order`, `datas` in `data_field_order`."""
        return b"".join((self.prefix, self.pack_data(*scalars), self.pointers, *datas))
