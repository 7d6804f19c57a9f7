"""Framed Cap'n Proto messages → ClickHouse RowBinary rows, without pycapnp objects.

The embedded store has no CapnProto input format (chdb is built without it),
so the messages the collectors emit are turned into RowBinary for the `Null`
input tables that stand where the Kafka tables stand on a server. The columns
of those tables are named like the Cap'n Proto fields (camelCase), so the plan
is read from the table itself (`DESCRIBE`) and the struct layout from the
`.capnp` file: nothing here repeats either.

Fast path: a single-segment message (what our collectors write, and what
capnp writers produce for small messages). For each (layout, columns) pair a
Python function is generated once: one `unpack_from` of the data section, a
few pointer reads, one `b"".join` of the row. Anything else (several
segments, far pointers) takes the slow path: pycapnp reads the message, and
our encoder rewrites it as one segment for the fast path.
"""

from __future__ import annotations

import re
import struct
from typing import Any, Callable, Iterable

from nxthdr.core.capnp_codec import _SCALAR_FORMATS, StructLayout, encode_message

# ClickHouse scalar type → struct format of its RowBinary encoding.
_CH_SCALARS = {"UInt8": "B", "UInt16": "H", "UInt32": "I", "UInt64": "Q", "Int8": "b", "Int16": "h",
               "Int32": "i", "Int64": "q", "Bool": "B", "Float32": "f", "Float64": "d", "IPv4": "I",
               "Date": "H", "DateTime": "I"}


class ConversionError(ValueError):
    """A message that cannot become a row of the table (wrong shape or size)."""


class _Fallback(Exception):
    pass


def varint(n: int) -> bytes:
    """LEB128 length prefix of RowBinary strings and arrays."""
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [bytes([i]) for i in range(0x80)]
_U64 = struct.Struct("<Q").unpack_from


def _target(m: bytes, pa: int, expect_kind: int) -> tuple[int, int] | None:
    """Follow the pointer at byte `pa`: (target byte offset, pointer word) or None when null."""
    p = _U64(m, pa)[0]
    if p == 0:
        return None
    if p & 3 != expect_kind:
        raise _Fallback  # far pointer (2) or unexpected kind
    off = (p & 0xFFFFFFFF) >> 2
    if off & 0x20000000:
        off -= 0x40000000
    t = pa + 8 + off * 8
    if t < 8 or t > len(m):
        raise ConversionError("pointer out of the segment")
    return t, p


def _bytes(m: bytes, pa: int, text: bool) -> bytes:
    got = _target(m, pa, 1)
    if got is None:
        return b""
    t, p = got
    if (p >> 32) & 7 != 2:
        raise ConversionError("Data/Text pointer to a list of non-bytes")
    n = p >> 35
    if t + n > len(m):
        raise ConversionError("Data/Text runs past the segment")
    if text and n:
        n -= 1  # the NUL terminator
    return m[t:t + n]


def _fixed(m: bytes, pa: int, size: int) -> bytes:
    b = _bytes(m, pa, False)
    if len(b) == size:
        return b
    if not b:
        return b"\0" * size  # absent address: ::
    raise ConversionError(f"Data of {len(b)} bytes where {size} are expected")


def _string(m: bytes, pa: int, text: bool) -> bytes:
    b = _bytes(m, pa, text)
    return varint(len(b)) + b


_SIZE_CODES = {"B": 2, "b": 2, "H": 3, "h": 3, "I": 4, "i": 4, "f": 4, "Q": 5, "q": 5, "d": 5}


def _scalar_list(m: bytes, pa: int, fmt: str) -> bytes:
    """List(UIntN) → Array(UIntN): both little-endian and packed, so the bytes are copied as they are."""
    got = _target(m, pa, 1)
    if got is None:
        return b"\0"
    t, p = got
    n = p >> 35
    if (p >> 32) & 7 != _SIZE_CODES[fmt]:
        raise ConversionError("list element size does not match the column")
    end = t + n * struct.calcsize(fmt)
    if end > len(m):
        raise ConversionError("list runs past the segment")
    return varint(n) + m[t:end]


def _struct_list(m: bytes, pa: int, element: Callable[[bytes, int, int, int], bytes]) -> bytes:
    got = _target(m, pa, 1)
    if got is None:
        return b"\0"
    t, p = got
    if (p >> 32) & 7 != 7:
        raise ConversionError("list of structs expected")
    tag = _U64(m, t)[0]
    n = (tag & 0xFFFFFFFF) >> 2
    dw, pc = (tag >> 32) & 0xFFFF, tag >> 48
    step = (dw + pc) * 8
    first = t + 8
    if first + n * step > len(m):
        raise ConversionError("list of structs runs past the segment")
    return varint(n) + b"".join([element(m, first + i * step, dw, pc) for i in range(n)])


_TYPE = re.compile(r"^(\w+)(?:\((.*)\))?$")


def _split_args(s: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _parse(t: str) -> tuple[str, list[str]]:
    m = _TYPE.match(t.strip())
    if not m:
        raise TypeError(f"cannot parse ClickHouse type {t!r}")
    name, args = m.group(1), _split_args(m.group(2) or "")
    if name in ("LowCardinality",):  # same RowBinary encoding as the inner type
        return _parse(args[0])
    return name, args


class _Gen:
    """Builds the source of one reader function (a struct at byte `s` with `dw` data, `pc` pointer words)."""

    def __init__(self) -> None:
        self.env: dict[str, Any] = {"_fixed": _fixed, "_string": _string, "_scalar_list": _scalar_list,
                                    "_struct_list": _struct_list, "ConversionError": ConversionError}
        self.n = 0

    def name(self, prefix: str, value: Any) -> str:
        self.n += 1
        key = f"{prefix}{self.n}"
        self.env[key] = value
        return key

    def struct_fn(self, layout: StructLayout, columns: list[tuple[str, str]]) -> str:
        """Function source `(m, s, dw, pc) -> bytes` writing `columns` (name, ClickHouse type) of one struct."""
        slots = layout.by_name
        data_fields = [sl for sl in layout.slots if sl.kind not in ("data", "text", "list")]
        # The data section as one struct: each scalar at its offset; bools as whole bytes, masked below.
        index: dict[str, int] = {}
        order: list[str] = []
        seen_bytes: dict[int, int] = {}
        fmt, pos = "<", 0
        for sl in sorted(data_fields, key=lambda x: (x.offset >> 3) if x.kind == "bool" else x.offset):
            off = sl.offset >> 3 if sl.kind == "bool" else sl.offset
            if sl.kind == "bool" and off in seen_bytes:
                index[sl.name] = seen_bytes[off]
                continue
            if off > pos:
                fmt += f"{off - pos}x"
            f = "B" if sl.kind == "bool" else _SCALAR_FORMATS[sl.kind]
            index[sl.name] = len(order)
            if sl.kind == "bool":
                seen_bytes[off] = len(order)
            order.append(sl.name)
            fmt += f
            pos = off + struct.calcsize("<" + f)
        data_bytes = layout.data_words * 8
        if data_bytes > pos:
            fmt += f"{data_bytes - pos}x"
        unpack = self.name("U", struct.Struct(fmt).unpack_from)
        npc = layout.pointer_count
        lines = [f"    if dw >= {layout.data_words}:",
                 f"        d = {unpack}(m, s)",
                 "    else:",
                 f"        d = {unpack}(bytes(m[s:s + dw * 8]).ljust({data_bytes}, b'\\0'))",
                 "    p = s + dw * 8"]
        if npc:
            # Every pointer word in one unpack; missing trailing pointers (older writers) read as null.
            punpack = self.name("Q", struct.Struct(f"<{npc}Q").unpack_from)
            lines += [f"    if pc >= {npc}:",
                      f"        q = {punpack}(m, p)",
                      "    else:",
                      f"        q = {punpack}(bytes(m[p:p + pc * 8]).ljust({npc * 8}, b'\\0'))"]
        parts: list[str] = []
        run_fmt, run_exprs = "", []

        def flush_run() -> None:
            nonlocal run_fmt, run_exprs
            if run_exprs:
                pk = self.name("P", struct.Struct("<" + run_fmt).pack)
                parts.append(f"{pk}({', '.join(run_exprs)})")
            run_fmt, run_exprs = "", []

        for col, chtype in columns:
            sl = slots.get(col)
            if sl is None:
                raise TypeError(f"column {col!r} has no field in Cap'n Proto struct {layout.name}")
            tname, args = _parse(chtype)
            if sl.kind not in ("data", "text", "list"):
                if tname not in _CH_SCALARS:
                    raise TypeError(f"column {col} {chtype}: cannot be read from a {sl.kind} field")
                expr = f"d[{index[col]}]"
                if sl.kind == "bool":
                    expr = f"(d[{index[col]}] >> {sl.offset & 7} & 1)"
                run_fmt += _CH_SCALARS[tname]
                run_exprs.append(expr)
                continue
            flush_run()
            k = sl.offset
            v, pa = f"v{k}", f"p + {8 * k}"
            lines.append(f"    {v} = q[{k}]")
            if sl.kind in ("data", "text") and tname in ("IPv6", "FixedString"):
                size = 16 if tname == "IPv6" else int(args[0])
                zeros = self.name("Z", b"\0" * size)
                # Inline the common case: a forward pointer to exactly `size` bytes.
                lines += [f"    if {v} & 3 == 1 and {v} >> 32 == {size << 3 | 2}:",
                          f"        t = {pa} + 8 + (({v} & 0xFFFFFFFF) >> 2) * 8",
                          f"        {v} = m[t:t + {size}]",
                          f"        if len({v}) != {size}:",
                          f"            {v} = _fixed(m, {pa}, {size})",
                          f"    elif {v} == 0:",
                          f"        {v} = {zeros}",
                          "    else:",
                          f"        {v} = _fixed(m, {pa}, {size})"]
                parts.append(v)
            elif sl.kind in ("data", "text") and tname == "String":
                parts.append(f"(_string(m, {pa}, {sl.kind == 'text'}) if {v} >> 35 else b'\\0')")
            elif sl.kind == "list" and tname == "Array":
                et, eargs = _parse(args[0])
                if sl.element == "struct":
                    if et != "Tuple":
                        raise TypeError(f"column {col} {chtype}: a list of structs needs Array(Tuple(...))")
                    sub = sl.element_layout
                    if len(eargs) > len(sub.slots):
                        raise TypeError(f"column {col}: more tuple elements than fields of {sub.name}")
                    # Tuple elements map to the struct's fields in ordinal order (like ClickHouse's reader).
                    sub_cols = [(sub.slots[i].name, _strip_name(a)) for i, a in enumerate(eargs)]
                    fn = self.compile(sub, sub_cols)
                    parts.append(f"(_struct_list(m, {pa}, {fn}) if {v} >> 35 else b'\\0')")
                else:
                    if sl.element not in _SCALAR_FORMATS or _CH_SCALARS.get(et) != _SCALAR_FORMATS[sl.element]:
                        raise TypeError(f"column {col} {chtype}: element type differs from List({sl.element})")
                    parts.append(f"(_scalar_list(m, {pa}, {_SCALAR_FORMATS[sl.element]!r}) if {v} >> 35 else b'\\0')")
            else:
                raise TypeError(f"column {col} {chtype}: cannot be read from a {sl.kind} field")
        flush_run()
        lines.append(f"    return b''.join(({', '.join(parts)},))")
        return "\n".join(lines)

    def compile(self, layout: StructLayout, columns: list[tuple[str, str]]) -> str:
        body = self.struct_fn(layout, columns)
        fname = self.name("F", None)
        src = f"def {fname}(m, s, dw, pc):\n{body}\n"
        exec(compile(src, f"<rowbinary {layout.name}>", "exec"), self.env)
        return fname


def _strip_name(tuple_arg: str) -> str:
    """`asn UInt32` (named tuple element) → `UInt32`."""
    parts = tuple_arg.split(None, 1)
    if len(parts) == 2 and not parts[0][0].isupper():
        return parts[1]
    return tuple_arg


class RowWriter:
    """RowBinary rows of one table from framed messages of one struct."""

    def __init__(self, layout: StructLayout, columns: list[tuple[str, str]], schema_struct: Any = None) -> None:
        self.layout = layout
        self.columns = columns
        self.schema_struct = schema_struct  # pycapnp struct type, for the slow path
        gen = _Gen()
        fn = gen.compile(layout, columns)
        self._struct = gen.env[fn]

    def row(self, m: bytes) -> bytes:
        """One framed message → one RowBinary row; raises ConversionError on a broken message."""
        try:
            return self._fast(m)
        except _Fallback:
            return self._fast(self._rewrite(m))
        except (struct.error, IndexError) as e:
            raise ConversionError(f"truncated message: {e}") from None

    def _fast(self, m: bytes) -> bytes:
        if len(m) < 16:
            raise ConversionError("message shorter than a framing header and a root pointer")
        if m[:4] != b"\0\0\0\0":
            raise _Fallback
        p = _U64(m, 8)[0]
        if p & 3:
            raise _Fallback
        off = (p & 0xFFFFFFFF) >> 2
        if off & 0x20000000:
            off -= 0x40000000
        s = 16 + off * 8
        dw, pc = (p >> 32) & 0xFFFF, p >> 48
        if s < 16 or s + (dw + pc) * 8 > len(m):
            raise ConversionError("root struct outside the segment")
        return self._struct(m, s, dw, pc)

    def _rewrite(self, m: bytes) -> bytes:
        if self.schema_struct is None:
            raise ConversionError("multi-segment message and no schema to read it")
        try:
            with self.schema_struct.from_bytes(m, traversal_limit_in_words=1 << 24) as msg:
                values = msg.to_dict()
            return encode_message(self.layout, values)
        except Exception as e:
            raise ConversionError(f"unreadable Cap'n Proto message: {e}") from None

    def rows(self, messages: Iterable[bytes], errors: list | None = None) -> bytes:
        """Rows of many messages; broken ones are skipped and appended to `errors` (or raised)."""
        out = []
        row = self.row
        for m in messages:
            try:
                out.append(row(m))
            except ConversionError as e:
                if errors is None:
                    raise
                errors.append(e)
        return b"".join(out)


def split_stream(data: bytes) -> list[bytes]:
    """Concatenated framed messages (a Kafka record value) → one bytes per message."""
    out, pos, n = [], 0, len(data)
    while pos < n:
        if pos + 4 > n:
            raise ConversionError("truncated framing header")
        nseg = struct.unpack_from("<I", data, pos)[0] + 1
        if nseg > 512:
            raise ConversionError(f"{nseg} segments: not a Cap'n Proto stream")
        head = 4 + 4 * nseg
        head += head % 8
        if pos + head > n:
            raise ConversionError("truncated segment table")
        sizes = struct.unpack_from(f"<{nseg}I", data, pos + 4)
        end = pos + head + 8 * sum(sizes)
        if end > n:
            raise ConversionError("truncated message")
        out.append(data[pos:end])
        pos = end
    return out
