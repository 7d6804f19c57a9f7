"""Curation state on disk: written atomically, read defensively.

Format (little endian), version 1:
    b"NXRISOT1"
    u32 attr_count, attr_count x u64          attribute ids, referenced by index
    u32 router_count, then per router:
        16s address, u32 peer_count, then per peer:
            B peer_type, Q distinguisher, 16s address, I asn, I bgp_id, Q header_ts_ns, B up,
            u16 table_count, then per table:
                B table_id, B stale, u32 n, n x (B len, item bytes), n x u32 attr index
    u32 crc32 of everything above

Dumping takes a snapshot (shallow dict copies, fast, on the event loop) and
serialises it in a worker thread; the file is written to `<path>.tmp`, fsynced
and renamed over the old one, so a crash leaves either the old or the new state.
A file that cannot be read is moved aside to `<path>.corrupted-<unix time>`.
"""

from __future__ import annotations

import array
import logging
import os
import struct
import time
import zlib

from nxthdr.core import logs
from nxthdr.risotto.rib import PeerRib, Rib, RouterRib

log = logging.getLogger("nxthdr.risotto.state")

MAGIC = b"NXRISOT1"
_PEER = struct.Struct("<BQ16sIIQB")


class StateError(ValueError):
    pass


Snapshot = list  # [(router address, [(PeerRib fields..., [(tid, stale, dict)])])]


def snapshot(rib: Rib, undo=()) -> Snapshot:
    """A copy of `rib` to serialise, with `undo` applied to the copy.

    `undo`: (router address, PeerRib, table id, item, value before) of the rows
    not delivered yet, newest first; `value before` None means the item was
    absent. Undone, the copy holds the state as of the delivered rows only, even
    for peers or routers that are gone from `rib` since (their withdraws were not
    delivered, so they are saved, and withdrawn again after a restart).
    """
    routers: dict = {}
    for r in rib.routers.values():
        peers = routers[r.address] = {}
        for p in r.peers.values():
            peers[p.key] = (p, {tid: dict(t) for tid, t in p.tables.items() if t},
                            {tid: dict(t) for tid, t in (p.stale or {}).items() if t})
    for address, p, tid, item, old in undo:
        peers = routers.setdefault(address, {})
        entry = peers.get(p.key)
        if entry is None:
            entry = peers[p.key] = (p, {}, {})
        _, tables, stale = entry
        if tid in stale:
            stale[tid].pop(item, None)
        if old is None:
            if tid in tables:
                tables[tid].pop(item, None)
        else:
            tables.setdefault(tid, {})[item] = old
    out = []
    for address, peers in routers.items():
        rows = []
        for p, tables, stale in peers.values():
            ts = [(tid, 0, t) for tid, t in tables.items() if t] + [(tid, 1, t) for tid, t in stale.items() if t]
            rows.append((p.peer_type, p.distinguisher, p.address, p.asn, p.bgp_id, p.header_ts_ns, p.up, ts))
        out.append((address, rows))
    return out


def serialise(snap: Snapshot) -> bytes:
    attr_index: dict[int, int] = {}
    body = bytearray()
    body += struct.pack("<I", len(snap))
    lens = [bytes((i,)) for i in range(256)]
    for address, peers in snap:
        body += address
        body += struct.pack("<I", len(peers))
        for ptype, dist, paddr, asn, bgp_id, ts, up, tables in peers:
            body += _PEER.pack(ptype, dist, paddr, asn, bgp_id, ts, 1 if up else 0)
            body += struct.pack("<H", len(tables))
            for tid, stale, table in tables:
                body += struct.pack("<BBI", tid, stale, len(table))
                idx = array.array("I")
                parts = []
                for item, attr in table.items():
                    parts.append(lens[len(item)])
                    parts.append(item)
                    i = attr_index.get(attr)
                    if i is None:
                        i = attr_index[attr] = len(attr_index)
                    idx.append(i)
                body += b"".join(parts)
                if idx.itemsize != 4:
                    raise AssertionError("array('I') must be 32-bit")
                body += idx.tobytes() if struct.pack("=I", 1) == struct.pack("<I", 1) else _byteswapped(idx)
    head = MAGIC + struct.pack("<I", len(attr_index)) + struct.pack("<%dQ" % len(attr_index), *attr_index)
    data = head + bytes(body)
    return data + struct.pack("<I", zlib.crc32(data))


def _byteswapped(a: array.array) -> bytes:
    b = array.array(a.typecode, a)
    b.byteswap()
    return b.tobytes()


def parse(data: bytes, now: float) -> Rib:
    if len(data) < len(MAGIC) + 8 or not data.startswith(MAGIC):
        raise StateError("not a risotto state file (bad magic)")
    body, (crc,) = data[:-4], struct.unpack("<I", data[-4:])
    if zlib.crc32(body) != crc:
        raise StateError("checksum mismatch (truncated or corrupted)")
    mv = memoryview(body)
    pos = len(MAGIC)
    try:
        (nattr,) = struct.unpack_from("<I", mv, pos)
        pos += 4
        attrs = list(struct.unpack_from("<%dQ" % nattr, mv, pos))
        pos += 8 * nattr
        rib = Rib()
        (nrouters,) = struct.unpack_from("<I", mv, pos)
        pos += 4
        for _ in range(nrouters):
            address = bytes(mv[pos:pos + 16])
            (npeers,) = struct.unpack_from("<I", mv, pos + 16)
            pos += 20
            router = RouterRib(address, restored_since=now)
            for _ in range(npeers):
                ptype, dist, paddr, asn, bgp_id, ts, up = _PEER.unpack_from(mv, pos)
                pos += _PEER.size
                (ntables,) = struct.unpack_from("<H", mv, pos)
                pos += 2
                p = PeerRib(ptype, dist, bytes(paddr), asn, bgp_id, ts, up=bool(up), needs_resync=True)
                for _ in range(ntables):
                    tid, stale, n = struct.unpack_from("<BBI", mv, pos)
                    pos += 6
                    items = []
                    for _ in range(n):
                        ln = body[pos]
                        items.append(body[pos + 1:pos + 1 + ln])
                        pos += 1 + ln
                    idx = array.array("I")
                    idx.frombytes(mv[pos:pos + 4 * n])
                    if struct.pack("=I", 1) != struct.pack("<I", 1):
                        idx.byteswap()
                    pos += 4 * n
                    table = dict(zip(items, (attrs[i] for i in idx)))
                    target = p.tables if not stale else (p.stale if p.stale is not None else {})
                    if stale and p.stale is None:
                        p.stale = target
                    target.setdefault(tid, {}).update(table)
                router.peers[p.key] = p
            rib.routers[address] = router
    except (struct.error, IndexError, ValueError) as e:
        raise StateError(f"malformed state: {e}") from None
    if pos != len(body):
        raise StateError("trailing bytes after the state")
    return rib


def write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp"
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        dfd = os.open(parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def load(path: str, now: float) -> Rib:
    """The state at `path`, or an empty one (a missing file is normal, an unreadable one is quarantined)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        logs.event(log, logging.INFO, "no curation state file, starting empty", path=path)
        return Rib()
    except OSError as e:
        return _quarantine(path, f"cannot read: {e.strerror}")
    try:
        rib = parse(data, now)
    except StateError as e:
        return _quarantine(path, str(e))
    logs.event(log, logging.INFO, "curation state loaded", path=path, routers=len(rib.routers),
               prefixes=rib.stored())
    return rib


def _quarantine(path: str, reason: str) -> Rib:
    aside = f"{path}.corrupted-{int(time.time())}"
    try:
        os.replace(path, aside)
    except OSError:
        aside = "(could not move it aside)"
    logs.event(log, logging.ERROR, "curation state unreadable, starting empty", path=path, reason=reason,
               moved_to=aside)
    return Rib()
