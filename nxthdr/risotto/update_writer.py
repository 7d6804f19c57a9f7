"""Fast encoding of `Update` messages (schemas/update.capnp), one per prefix.

All rows of one BGP UPDATE share their attributes, so everything that depends
only on the attributes (pointer section, AS path, communities, next hop...) is
encoded once into a `Template`; a row is then one `struct.pack` of the data
section and a join of seven byte strings. Objects follow the pointer section in
this order: prefixAddr, routerAddr, peerAddr, then the attribute objects, so the
pointers depend only on the attribute objects' sizes.

The byte layout comes from the schema through pycapnp's introspection; tests
decode every message with pycapnp and compare every field.
"""

from __future__ import annotations

import hashlib
import struct

from nxthdr.bgp.types import AFI_BGP_LS, AFI_IPV4, AFI_IPV6, PathAttributes, ZERO16
from nxthdr.core.capnp_codec import list_pointer, struct_layout, struct_pointer

LAYOUT = struct_layout("update.capnp", "Update")
_S = LAYOUT.by_name

# Scalars packed per row, in data-section order (bools are packed into their byte).
_ROW_FIELDS = ("timeReceivedNs", "timeBmpHeaderNs", "routerPort", "prefixLen", "peerBgpId", "peerAsn",
               "multiExitDisc", "localPreference", "onlyToCustomer", "aggregatorAsn", "aggregatorBgpId",
               "originatorId", "mpReachAfi", "mpReachSafi", "mpUnreachSafi", "mpUnreachAfi", "peerType",
               "pathId", "peerDistinguisher")
_BOOLS = ("isPostPolicy", "isAdjRibOut", "announced", "synthetic", "atomicAggregate", "isLocRib")
_BOOL_BYTE = _S["isPostPolicy"].offset >> 3
assert all(_S[b].offset >> 3 == _BOOL_BYTE for b in _BOOLS), "Update bools must share one byte"
BIT = {b: 1 << (_S[b].offset & 7) for b in _BOOLS}
POST_POLICY, ADJ_RIB_OUT, ANNOUNCED, SYNTHETIC, ATOMIC, LOC_RIB = (BIT[b] for b in _BOOLS)

_FMT = {"uint8": "B", "uint16": "H", "uint32": "I", "uint64": "Q"}


def _row_struct() -> tuple[struct.Struct, list[str]]:
    entries = sorted([(_S[n].offset, n, _FMT[_S[n].kind], struct.calcsize(_FMT[_S[n].kind])) for n in _ROW_FIELDS]
                     + [(_BOOL_BYTE, "_bools", "B", 1)])
    fmt, pos, order = "<", 0, []
    for off, name, f, size in entries:
        if off < pos:
            raise AssertionError(f"overlapping fields at {name}")
        if off > pos:
            fmt += "%dx" % (off - pos)
        fmt += f
        pos = off + size
        order.append(name)
    fmt += "%dx" % (LAYOUT.data_words * 8 - pos)
    return struct.Struct(fmt), order


ROW, ROW_ORDER = _row_struct()
# The row packer takes its arguments in this order; asserted so that a schema
# change that moves fields fails loudly instead of writing garbage.
assert ROW_ORDER == ["timeReceivedNs", "timeBmpHeaderNs", "routerPort", "prefixLen", "_bools", "peerBgpId",
                     "peerAsn", "multiExitDisc", "localPreference", "onlyToCustomer", "aggregatorAsn",
                     "aggregatorBgpId", "originatorId", "mpReachAfi", "mpReachSafi", "mpUnreachSafi",
                     "mpUnreachAfi", "peerType", "pathId", "peerDistinguisher"], ROW_ORDER
pack_row = ROW.pack

_DATA_WORDS = LAYOUT.data_words
_PTR_WORD = 1 + _DATA_WORDS  # segment word of pointer 0 (word 0 is the root pointer)
_OBJ_WORD = _PTR_WORD + LAYOUT.pointer_count
_ROOT = struct.pack("<Q", struct_pointer(0, LAYOUT.data_words, LAYOUT.pointer_count))
_KEPT_AFI = (AFI_IPV4, AFI_IPV6, AFI_BGP_LS)


def column_afi(afi: int) -> int:
    """AFI as written to the mp*Afi columns: 1, 2, 16388 kept, others 0 (like the reference)."""
    return afi if afi in _KEPT_AFI else 0


def column_safi(safi: int) -> int:
    return safi if safi in (1, 2) else 0


# Pointer words of the Update struct, and the layouts of the nested structs.
_PTR = {sl.name: _PTR_WORD + sl.offset for sl in LAYOUT.slots if sl.kind in ("data", "text", "list")}
_COMM = _S["communities"].element_layout
_EXT = _S["extendedCommunities"].element_layout
_LARGE = _S["largeCommunities"].element_layout
assert (_COMM.data_words, _COMM.pointer_count) == (1, 0) and _COMM.by_name["value"].offset == 4
assert (_EXT.data_words, _EXT.pointer_count) == (1, 1) and _EXT.by_name["typeLow"].offset == 1
assert (_LARGE.data_words, _LARGE.pointer_count) == (2, 0) and _LARGE.by_name["localDataPart2"].offset == 8
_ORIGIN_TEXT = {o: o.encode() + b"\0" * (8 - len(o) % 8) for o in ("", "IGP", "EGP", "INCOMPLETE")}
_COMM_TAG = {}
_pack_q = struct.Struct("<Q").pack


def _words(n_bytes: int) -> int:
    return (n_bytes + 7) // 8


class Template:
    """Everything of a row that depends only on the UPDATE's attributes.

    Built on every attribute-cache miss (for some tables, once per prefix), so
    the objects are packed directly rather than through the generic writer.
    """

    __slots__ = ("attrs", "head", "ptrs", "objs", "attr_id", "med", "local_pref", "otc", "agg_asn", "agg_id",
                 "originator", "reach_afi", "reach_safi", "unreach_afi", "unreach_safi", "atomic")

    def __init__(self, attrs: PathAttributes, next_hop: bytes, next_hop_ll: bytes,
                 reach: tuple[int, int], unreach: tuple[int, int]) -> None:
        self.attrs = attrs  # held so that a cache keyed by id(attrs) stays valid
        pointers = [0] * LAYOUT.pointer_count
        chunks = []
        w = _OBJ_WORD
        # prefixAddr, routerAddr, peerAddr: 16 bytes each, written per row.
        for name in ("prefixAddr", "routerAddr", "peerAddr"):
            pointers[_S[name].offset] = list_pointer(w - _PTR[name] - 1, 2, 16)
            w += 2
        for name, value in (("nextHop", next_hop), ("nextHopLinkLocal", next_hop_ll)):
            pointers[_S[name].offset] = list_pointer(w - _PTR[name] - 1, 2, 16)
            chunks.append(value)
            w += 2
        origin = attrs.origin
        text = _ORIGIN_TEXT.get(origin)
        if text is None:
            raw = origin.encode()
            text = raw + b"\0" * (8 - len(raw) % 8)
        pointers[_S["origin"].offset] = list_pointer(w - _PTR["origin"] - 1, 2, len(origin.encode()) + 1)
        chunks.append(text)
        w += len(text) // 8
        for name, values in (("asPath", attrs.as_path), ("clusterList", attrs.cluster_list)):
            n = len(values)
            pointers[_S[name].offset] = list_pointer(w - _PTR[name] - 1, 4, n)
            if n:
                blob = struct.pack("<%dI" % n, *values)
                if n & 1:
                    blob += b"\0\0\0\0"
                chunks.append(blob)
                w += _words(4 * n)
        comms = attrs.communities
        n = len(comms)
        pointers[_S["communities"].offset] = list_pointer(w - _PTR["communities"] - 1, 7, n)
        chunks.append(_pack_q(struct_pointer(n, 1, 0)))
        if n:
            chunks.append(struct.pack("<" + "IH2x" * n, *[x for c in comms for x in c]))
        w += 1 + n
        ext = attrs.extended_communities
        n = len(ext)
        pointers[_S["extendedCommunities"].offset] = list_pointer(w - _PTR["extendedCommunities"] - 1, 7, 2 * n)
        chunks.append(_pack_q(struct_pointer(n, 1, 1)))
        first = w + 1
        payload_word = first + 2 * n
        payloads = []
        for i, c in enumerate(ext):
            value = c.value
            ptr_word = first + 2 * i + 1
            chunks.append(struct.pack("<BB6xQ", c.type_high, c.type_low,
                                      list_pointer(payload_word - ptr_word - 1, 2, len(value))))
            padded = value + b"\0" * (-len(value) % 8)
            payloads.append(padded)
            payload_word += len(padded) // 8
        chunks.extend(payloads)
        w = payload_word
        large = attrs.large_communities
        n = len(large)
        pointers[_S["largeCommunities"].offset] = list_pointer(w - _PTR["largeCommunities"] - 1, 7, 2 * n)
        chunks.append(_pack_q(struct_pointer(n, 2, 0)))
        if n:
            chunks.append(struct.pack("<" + "III4x" * n, *[x for c in large for x in c]))
        w += 1 + 2 * n
        self.head = struct.pack("<II", 0, w) + _ROOT
        self.ptrs = struct.pack("<%dQ" % LAYOUT.pointer_count, *pointers)
        self.objs = b"".join(chunks)
        self.med = attrs.med
        self.local_pref = attrs.local_pref
        self.otc = attrs.only_to_customer
        self.agg_asn = attrs.aggregator_asn
        self.agg_id = attrs.aggregator_bgp_id
        self.originator = attrs.originator_id
        self.atomic = ATOMIC if attrs.atomic_aggregate else 0
        self.reach_afi, self.reach_safi = column_afi(reach[0]), column_safi(reach[1])
        self.unreach_afi, self.unreach_safi = column_afi(unreach[0]), column_safi(unreach[1])
        # A stable identity of the attributes, used by curation to tell an identical
        # re-announcement from an attribute change; it survives restarts (state file).
        h = hashlib.blake2b(_ATTR_SCALARS(self.med, self.local_pref, self.otc, self.agg_asn, self.agg_id,
                                          self.originator, self.atomic), digest_size=8)
        h.update(self.ptrs)
        h.update(self.objs)
        self.attr_id = int.from_bytes(h.digest(), "little")


_ATTR_SCALARS = struct.Struct("<IIIIIIB").pack


class UpdateWriter:
    """Builds templates (cached per attributes object) and rows."""

    def __init__(self, cache_size: int = 65536) -> None:
        self._cache: dict[tuple, Template] = {}
        self._cache_size = cache_size
        self._interned: dict[int, int] = {}
        self.withdraw_template = Template(PathAttributes(), ZERO16, ZERO16, (0, 0), (0, 0))

    def template(self, attrs: PathAttributes, next_hop: bytes, next_hop_ll: bytes,
                 reach: tuple[int, int], unreach: tuple[int, int]) -> Template:
        key = (id(attrs), next_hop, next_hop_ll, reach, unreach)
        t = self._cache.get(key)
        if t is None or t.attrs is not attrs:
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            t = Template(attrs, next_hop, next_hop_ll, reach, unreach)
            # Share one int object per distinct attribute set: the state stores it per prefix.
            t.attr_id = self.intern(t.attr_id)
            self._cache[key] = t
        return t

    def intern(self, attr_id: int) -> int:
        got = self._interned.get(attr_id)
        if got is None:
            if len(self._interned) >= 1 << 20:
                self._interned.clear()
            self._interned[attr_id] = got = attr_id
        return got


def encode_row(t: Template, time_received_ns: int, time_header_ns: int, router_port: int, router16: bytes,
               peer16: bytes, peer_bgp_id: int, peer_asn: int, peer_type: int, distinguisher: int,
               prefix16: bytes, prefix_len: int, flags: int, path_id: int) -> bytes:
    """One framed Update message. `flags`: POST_POLICY | ADJ_RIB_OUT | ANNOUNCED | SYNTHETIC | LOC_RIB."""
    data = pack_row(time_received_ns, time_header_ns, router_port, prefix_len, flags | t.atomic, peer_bgp_id,
                    peer_asn, t.med, t.local_pref, t.otc, t.agg_asn, t.agg_id, t.originator, t.reach_afi,
                    t.reach_safi, t.unreach_safi, t.unreach_afi, peer_type, path_id, distinguisher)
    return b"".join((t.head, data, t.ptrs, prefix16, router16, peer16, t.objs))
