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

# Objects in order: five 16-byte Data (their pointers are constants), origin
# text, asPath, clusterList, communities, extendedCommunities, largeCommunities.
_FIXED = ("prefixAddr", "routerAddr", "peerAddr", "nextHop", "nextHopLinkLocal")
_FIXED_PTRS = {name: list_pointer(_OBJ_WORD + 2 * i - _PTR[name] - 1, 2, 16) for i, name in enumerate(_FIXED)}
_AFTER_FIXED = _OBJ_WORD + 2 * len(_FIXED)
_ORDER = [sl.name for sl in sorted((sl for sl in LAYOUT.slots if sl.name in _PTR), key=lambda sl: sl.offset)]
_PACK_PTRS = struct.Struct("<%dQ" % LAYOUT.pointer_count).pack
_ORIGINS = {}
for _o in ("", "IGP", "EGP", "INCOMPLETE"):
    _raw = _o.encode() + b"\0"
    _ORIGINS[_o] = (_raw + b"\0" * (-len(_raw) % 8),
                    list_pointer(_AFTER_FIXED - _PTR["origin"] - 1, 2, len(_raw)))
_P_AS, _P_CL, _P_COMM, _P_EXT, _P_LARGE = (_PTR[n] + 1 for n in ("asPath", "clusterList", "communities",
                                                                   "extendedCommunities", "largeCommunities"))
_M32 = 0xFFFFFFFF
_TAG_COMM, _TAG_EXT, _TAG_LARGE = (struct_pointer(0, 1, 0), struct_pointer(0, 1, 1), struct_pointer(0, 2, 0))
_pack_q = struct.Struct("<Q").pack
_ATTR_SCALARS = struct.Struct("<IIIIIIB").pack


class Template:
    """Everything of a row that depends only on the UPDATE's attributes.

    Built on every attribute-cache miss (on real tables, for most prefixes), so
    the objects are packed directly, with the pointer arithmetic inline.
    """

    __slots__ = ("attrs", "head", "ptrs", "objs", "attr_id", "med", "local_pref", "otc", "agg_asn", "agg_id",
                 "originator", "reach_afi", "reach_safi", "unreach_afi", "unreach_safi", "atomic")

    def __init__(self, attrs: PathAttributes, next_hop: bytes, next_hop_ll: bytes,
                 reach: tuple[int, int], unreach: tuple[int, int]) -> None:
        self.attrs = attrs  # held so that a cache keyed by id(attrs) stays valid
        ptr = dict(_FIXED_PTRS)
        origin = _ORIGINS.get(attrs.origin)
        if origin is None:
            raw = attrs.origin.encode() + b"\0"
            origin = (raw + b"\0" * (-len(raw) % 8), list_pointer(_AFTER_FIXED - _PTR["origin"] - 1, 2, len(raw)))
        text, ptr["origin"] = origin
        chunks = [next_hop, next_hop_ll, text]
        w = _AFTER_FIXED + len(text) // 8
        # List(UInt32): element size code 4.
        path = attrs.as_path
        n = len(path)
        ptr["asPath"] = 1 | (((w - _P_AS) << 2) & _M32) | (4 << 32) | (n << 35)
        if n:
            chunks.append(struct.pack("<%dI%dx" % (n, 4 * (n & 1)), *path))
            w += (n + 1) >> 1
        cl = attrs.cluster_list
        n = len(cl)
        ptr["clusterList"] = 1 | (((w - _P_CL) << 2) & _M32) | (4 << 32) | (n << 35)
        if n:
            chunks.append(struct.pack("<%dI%dx" % (n, 4 * (n & 1)), *cl))
            w += (n + 1) >> 1
        # Composite lists (code 7): a tag word, then the elements.
        comms = attrs.communities
        n = len(comms)
        ptr["communities"] = 1 | (((w - _P_COMM) << 2) & _M32) | (7 << 32) | (n << 35)
        chunks.append(_pack_q(_TAG_COMM | (n << 2)))
        if n:
            chunks.append(struct.pack("<" + "IH2x" * n, *[x for c in comms for x in c]))
        w += 1 + n
        ext = attrs.extended_communities
        n = len(ext)
        ptr["extendedCommunities"] = 1 | (((w - _P_EXT) << 2) & _M32) | (7 << 32) | ((2 * n) << 35)
        chunks.append(_pack_q(_TAG_EXT | (n << 2)))
        if n:
            payload_word = w + 1 + 2 * n
            payloads = []
            for i, c in enumerate(ext):
                value = c.value
                ptr_word = w + 2 + 2 * i
                chunks.append(struct.pack("<BB6xQ", c.type_high, c.type_low,
                                          list_pointer(payload_word - ptr_word - 1, 2, len(value))))
                padded = value + b"\0" * (-len(value) % 8)
                payloads.append(padded)
                payload_word += len(padded) // 8
            chunks.extend(payloads)
            w = payload_word
        else:
            w += 1
        large = attrs.large_communities
        n = len(large)
        ptr["largeCommunities"] = 1 | (((w - _P_LARGE) << 2) & _M32) | (7 << 32) | ((2 * n) << 35)
        chunks.append(_pack_q(_TAG_LARGE | (n << 2)))
        if n:
            chunks.append(struct.pack("<" + "III4x" * n, *[x for c in large for x in c]))
        w += 1 + 2 * n
        self.head = struct.pack("<II", 0, w) + _ROOT
        self.ptrs = _PACK_PTRS(*[ptr[name] for name in _ORDER])
        self.objs = objs = b"".join(chunks)
        self.med = med = attrs.med
        self.local_pref = lp = attrs.local_pref
        self.otc = otc = attrs.only_to_customer
        self.agg_asn = agg_asn = attrs.aggregator_asn
        self.agg_id = agg_id = attrs.aggregator_bgp_id
        self.originator = originator = attrs.originator_id
        self.atomic = atomic = ATOMIC if attrs.atomic_aggregate else 0
        self.reach_afi, self.reach_safi = column_afi(reach[0]), column_safi(reach[1])
        self.unreach_afi, self.unreach_safi = column_afi(unreach[0]), column_safi(unreach[1])
        # A stable identity of the attributes, used by curation to tell an identical
        # re-announcement from an attribute change; it survives restarts (state file).
        self.attr_id = int.from_bytes(hashlib.blake2b(
            _ATTR_SCALARS(med, lp, otc, agg_asn, agg_id, originator, atomic) + self.ptrs + objs,
            digest_size=8).digest(), "little")


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
