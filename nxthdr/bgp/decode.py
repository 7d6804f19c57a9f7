"""Sans-I/O decoding of BGP-4 messages into the values of nxthdr.bgp.types.

References:
- RFC 4271 §4.1 message header, §4.2 OPEN, §4.3 UPDATE, §4.5 NOTIFICATION;
- RFC 5492 capabilities, RFC 9072 extended optional parameters length;
- RFC 4760 MP_REACH_NLRI / MP_UNREACH_NLRI, RFC 8950 IPv6 next hop for IPv4 NLRI;
- RFC 6793 4-octet AS numbers (AS4_PATH / AS4_AGGREGATOR merge, §4.2.3);
- RFC 7911 ADD-PATH (path identifier in front of each NLRI);
- RFC 1997, 4360, 5701, 8092 communities; RFC 4456 ORIGINATOR_ID / CLUSTER_LIST;
  RFC 9234 ONLY_TO_CUSTOMER;
- RFC 7606 revised error handling: a collector does not route, so instead of
  "treat-as-withdraw" a malformed UPDATE raises BgpError and the caller reports it;
  the attributes RFC 7606 says to discard (AGGREGATOR, ATOMIC_AGGREGATE with a
  bad length, a malformed AS4_PATH) are skipped and their type code recorded in
  `PathAttributes.unknown`.

Every function takes bytes (or anything bytes() accepts) and raises only
BgpError on malformed input.

Decoding is on the collector's hot path (one BMP Route Monitoring message per
prefix during a table dump), hence the precompiled struct unpackers, local
variables and the attribute cache: consecutive UPDATEs of a table dump mostly
share their path attributes byte for byte, so decoding them once and reusing the
immutable PathAttributes saves most of the work.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Collection
from typing import Union

from nxthdr.bgp.types import (
    AFI_IPV4,
    AFI_IPV6,
    EMPTY_ATTRIBUTES,
    SAFI_MULTICAST,
    SAFI_UNICAST,
    V4_MAPPED,
    ZERO16,
    BgpError,
    Capabilities,
    ExtendedCommunity,
    MpReach,
    MpUnreach,
    NlriBlock,
    Notification,
    Open,
    PathAttributes,
    Update,
)
from nxthdr.core.frozen import positional_constructor

# RFC 4271 §4.1 message types.
MSG_OPEN = 1
MSG_UPDATE = 2
MSG_NOTIFICATION = 3
MSG_KEEPALIVE = 4
MSG_ROUTE_REFRESH = 5  # RFC 2918

MARKER = b"\xff" * 16
HEADER_LEN = 19

# Path attribute type codes.
ATTR_ORIGIN = 1
ATTR_AS_PATH = 2
ATTR_NEXT_HOP = 3
ATTR_MED = 4
ATTR_LOCAL_PREF = 5
ATTR_ATOMIC_AGGREGATE = 6
ATTR_AGGREGATOR = 7
ATTR_COMMUNITIES = 8
ATTR_ORIGINATOR_ID = 9
ATTR_CLUSTER_LIST = 10
ATTR_MP_REACH = 14
ATTR_MP_UNREACH = 15
ATTR_EXT_COMMUNITIES = 16
ATTR_AS4_PATH = 17
ATTR_AS4_AGGREGATOR = 18
ATTR_IPV6_EXT_COMMUNITIES = 25
ATTR_LARGE_COMMUNITIES = 32
ATTR_ONLY_TO_CUSTOMER = 35

FLAG_OPTIONAL = 0x80
FLAG_TRANSITIVE = 0x40
FLAG_PARTIAL = 0x20
FLAG_EXTENDED_LENGTH = 0x10

# AS_PATH segment types (RFC 4271 §4.3, RFC 5065 confederations).
AS_SET = 1
AS_SEQUENCE = 2
AS_CONFED_SEQUENCE = 3
AS_CONFED_SET = 4
AS_TRANS = 23456  # RFC 6793

# Capability codes (IANA "Capability Codes").
CAP_MULTIPROTOCOL = 1
CAP_FOUR_OCTET_AS = 65
CAP_ADD_PATH = 69

# ADD-PATH send/receive field (RFC 7911 §4).
ADD_PATH_RECEIVE = 1
ADD_PATH_SEND = 2

AddPathSpec = Union[bool, None, Collection[tuple[int, int]], Callable[[int, int], bool]]

_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from
_OPEN_FIXED = struct.Struct(">BHHIB").unpack_from
# Unpackers for n consecutive 16- and 32-bit integers, indexed by n, built once:
# struct's own format cache would still cost a string format per call.
_N_U16 = [struct.Struct(">%dH" % n).unpack_from for n in range(256)]
_N_U32 = [struct.Struct(">%dI" % n).unpack_from for n in range(256)]

# NLRI families whose prefixes we parse: (AFI, SAFI) -> maximum prefix length.
_PARSED_FAMILIES = {
    (AFI_IPV4, SAFI_UNICAST): 32,
    (AFI_IPV4, SAFI_MULTICAST): 32,
    (AFI_IPV6, SAFI_UNICAST): 128,
    (AFI_IPV6, SAFI_MULTICAST): 128,
}

_make_block = positional_constructor(NlriBlock)
_make_update = positional_constructor(Update)
_make_mp_reach = positional_constructor(MpReach)
_make_mp_unreach = positional_constructor(MpUnreach)
_make_attributes = positional_constructor(PathAttributes)
_make_ext_community = positional_constructor(ExtendedCommunity)

# Empty NLRI blocks are immutable and very common (no withdrawn routes in an
# announcement): share one per (AFI, SAFI, ADD-PATH).
_EMPTY_BLOCKS: dict[tuple[int, int, bool], NlriBlock] = {}
_EMPTY_IPV4 = (NlriBlock(AFI_IPV4, SAFI_UNICAST, False, ()), NlriBlock(AFI_IPV4, SAFI_UNICAST, True, ()))


def _empty_block(afi: int, safi: int, add_path: bool) -> NlriBlock:
    key = (afi, safi, add_path)
    block = _EMPTY_BLOCKS.get(key)
    if block is None:
        block = NlriBlock(afi, safi, add_path, ())
        if len(_EMPTY_BLOCKS) < 1024:  # AFI/SAFI come from the wire: stay bounded
            _EMPTY_BLOCKS[key] = block
    return block


def _as_bytes(data: bytes | bytearray | memoryview) -> bytes:
    # NLRI items and cache keys are slices of the input: they must be hashable bytes.
    return data if type(data) is bytes else bytes(data)


# --------------------------------------------------------------------------
# Message header
# --------------------------------------------------------------------------


def split_message(data: bytes, offset: int = 0, end: int | None = None) -> tuple[int, int, int]:
    """Check the RFC 4271 §4.1 header of the BGP message at `offset`.

    Returns (message type, body start, message end). The message must fit before
    `end` (default: the end of `data`); bytes after it are the caller's business.
    """
    if end is None:
        end = len(data)
    if offset + HEADER_LEN > end:
        raise BgpError("BGP message shorter than its 19-byte header")
    if data[offset : offset + 16] != MARKER:
        raise BgpError("BGP marker is not all ones")
    length = (data[offset + 16] << 8) | data[offset + 17]
    if length < HEADER_LEN:
        raise BgpError(f"BGP message length {length} < 19")
    if offset + length > end:
        raise BgpError(f"BGP message length {length} overruns its container")
    return data[offset + 18], offset + HEADER_LEN, offset + length


def decode_message(data: bytes) -> Open | Update | Notification | int:
    """Decode one whole BGP message (header included) with default session options.

    OPEN, UPDATE (4-octet AS, no ADD-PATH) and NOTIFICATION are decoded; for
    other types (KEEPALIVE, ROUTE-REFRESH, ...) the type code is returned.
    """
    data = _as_bytes(data)
    msg_type, start, end = split_message(data)
    body = data[start:end]
    if msg_type == MSG_OPEN:
        return decode_open(body)
    if msg_type == MSG_UPDATE:
        return decode_update(body)
    if msg_type == MSG_NOTIFICATION:
        return decode_notification(body)
    return msg_type


# --------------------------------------------------------------------------
# OPEN (RFC 4271 §4.2, RFC 5492, RFC 9072)
# --------------------------------------------------------------------------


def decode_open(body: bytes) -> Open:
    """Decode the body (after the 19-byte header) of an OPEN message."""
    body = _as_bytes(body)
    n = len(body)
    if n < 10:
        raise BgpError("OPEN shorter than 10 bytes")
    version, asn, hold_time, bgp_id, opt_len = _OPEN_FIXED(body, 0)
    p = 10
    # RFC 9072: a non-extended length of 255 followed by a parameter type of 255
    # announces a 2-byte total length and 2-byte parameter lengths.
    extended = opt_len == 255 and n > 10 and body[10] == 255
    if extended:
        if n < 13:
            raise BgpError("OPEN extended optional parameters length truncated")
        opt_len = (body[11] << 8) | body[12]
        p = 13
    end = p + opt_len
    if end > n:
        raise BgpError("OPEN optional parameters overrun the message")

    four_octet_asn = None
    multiprotocol: set[tuple[int, int]] = set()
    add_path: dict[tuple[int, int], int] = {}
    codes: list[int] = []
    while p < end:
        if extended:
            if p + 3 > end:
                raise BgpError("OPEN optional parameter header truncated")
            ptype = body[p]
            plen = (body[p + 1] << 8) | body[p + 2]
            p += 3
        else:
            if p + 2 > end:
                raise BgpError("OPEN optional parameter header truncated")
            ptype = body[p]
            plen = body[p + 1]
            p += 2
        pend = p + plen
        if pend > end:
            raise BgpError("OPEN optional parameter overruns the parameters")
        if ptype == 2:  # Capabilities (RFC 5492); several such parameters may follow each other
            while p < pend:
                if p + 2 > pend:
                    raise BgpError("capability header truncated")
                code = body[p]
                clen = body[p + 1]
                v = p + 2
                cend = v + clen
                if cend > pend:
                    raise BgpError(f"capability {code} overruns its parameter")
                codes.append(code)
                if code == CAP_MULTIPROTOCOL:
                    if clen != 4:
                        raise BgpError("multiprotocol capability length is not 4")
                    multiprotocol.add(((body[v] << 8) | body[v + 1], body[v + 3]))
                elif code == CAP_FOUR_OCTET_AS:
                    if clen != 4:
                        raise BgpError("4-octet AS capability length is not 4")
                    four_octet_asn = _U32(body, v)[0]
                elif code == CAP_ADD_PATH:
                    if clen % 4:
                        raise BgpError("ADD-PATH capability length is not a multiple of 4")
                    for q in range(v, cend, 4):
                        add_path[((body[q] << 8) | body[q + 1], body[q + 2])] = body[q + 3] & 3
                p = cend
        p = pend
    caps = Capabilities(
        four_octet_asn=four_octet_asn,
        multiprotocol=frozenset(multiprotocol),
        add_path=add_path,
        codes=tuple(codes),
    )
    return Open(version=version, asn=asn, hold_time=hold_time, bgp_id=bgp_id, capabilities=caps)


# --------------------------------------------------------------------------
# NOTIFICATION (RFC 4271 §4.5)
# --------------------------------------------------------------------------


def decode_notification(body: bytes) -> Notification:
    """Decode the body (after the 19-byte header) of a NOTIFICATION message."""
    body = _as_bytes(body)
    if len(body) < 2:
        raise BgpError("NOTIFICATION shorter than 2 bytes")
    return Notification(code=body[0], subcode=body[1], data=body[2:])


# --------------------------------------------------------------------------
# NLRI (RFC 4271 §4.3, RFC 4760 §5, RFC 7911 §3)
# --------------------------------------------------------------------------


def _nlri_items(data: bytes, p: int, end: int, max_bits: int, add_path: bool) -> tuple[bytes, ...]:
    items = []
    append = items.append
    if add_path:
        while p < end:
            if p + 5 > end:
                raise BgpError("NLRI path identifier truncated")
            bits = data[p + 4]
            if bits > max_bits:
                raise BgpError(f"prefix length {bits} > {max_bits}")
            q = p + 5 + ((bits + 7) >> 3)
            if q > end:
                raise BgpError("NLRI prefix truncated")
            append(data[p:q])
            p = q
    else:
        while p < end:
            bits = data[p]
            if bits > max_bits:
                raise BgpError(f"prefix length {bits} > {max_bits}")
            q = p + 1 + ((bits + 7) >> 3)
            if q > end:
                raise BgpError("NLRI prefix truncated")
            append(data[p:q])
            p = q
    return tuple(items)


def _nlri_block(data: bytes, p: int, end: int, afi: int, safi: int, add_path: bool) -> NlriBlock:
    """Parse the prefixes between p and end.

    Robustness heuristic: routers (and BMP speakers relaying Adj-RIB-Out or
    Loc-RIB) do not always tell us correctly whether ADD-PATH applies. When the
    prefixes do not parse in the expected mode, try the other mode before giving
    up; the block records the mode that worked. When both parse, the expected
    mode wins.
    """
    if p >= end:
        return _empty_block(afi, safi, add_path)
    max_bits = 32 if afi == AFI_IPV4 else 128
    if not add_path:
        # Hot path (one prefix per UPDATE in most table dumps): the loop of
        # _nlri_items inlined; any problem falls through to the general code.
        items = []
        q = p
        while q < end:
            bits = data[q]
            r = q + 1 + ((bits + 7) >> 3)
            if bits > max_bits or r > end:
                break
            items.append(data[q:r])
            q = r
        else:
            return _make_block(afi, safi, False, tuple(items))
    try:
        return _make_block(afi, safi, add_path, _nlri_items(data, p, end, max_bits, add_path))
    except BgpError as first:
        try:
            return _make_block(afi, safi, not add_path, _nlri_items(data, p, end, max_bits, not add_path))
        except BgpError:
            raise first from None


def _uses_add_path(add_path: AddPathSpec, afi: int, safi: int) -> bool:
    if not add_path:  # None, False, empty collection: the common case first
        return False
    if add_path is True:
        return True
    if callable(add_path):
        return bool(add_path(afi, safi))
    return (afi, safi) in add_path


# --------------------------------------------------------------------------
# Path attributes (RFC 4271 §4.3, §5)
# --------------------------------------------------------------------------


class AttributeCache:
    """Bounded cache: raw path attribute bytes -> decoded PathAttributes.

    Keys are the attributes of an UPDATE without MP_REACH/MP_UNREACH (whose NLRI
    differ from one UPDATE to the next). The same bytes decode differently with
    2- and 4-octet AS numbers, hence one table per width. Eviction is FIFO
    (dicts keep insertion order): cheap, and a table dump walks its attribute
    sets roughly in order anyway.
    """

    __slots__ = ("max_size", "tables", "hits", "misses")

    def __init__(self, max_size: int = 8192) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        # tables[four_octet_as]: index 0 for 2-octet, 1 for 4-octet AS numbers.
        self.tables: tuple[dict[bytes, PathAttributes], dict[bytes, PathAttributes]] = ({}, {})
        self.hits = 0
        self.misses = 0

    def table(self, four_octet_as: bool) -> dict[bytes, PathAttributes]:
        return self.tables[1 if four_octet_as else 0]

    def store(self, table: dict[bytes, PathAttributes], key: bytes, value: PathAttributes) -> None:
        if len(table) >= self.max_size:
            del table[next(iter(table))]
        table[key] = value

    def __len__(self) -> int:
        return len(self.tables[0]) + len(self.tables[1])

    def clear(self) -> None:
        for table in self.tables:
            table.clear()


def _as_segments(data: bytes, p: int, end: int, four: bool) -> list[tuple[int, tuple[int, ...]]] | None:
    """AS_PATH segments, or None when the bytes do not parse with this AS width."""
    segments = []
    width = 4 if four else 2
    unpack = _N_U32 if four else _N_U16
    while p < end:
        if p + 2 > end:
            return None
        seg_type = data[p]
        count = data[p + 1]
        # An unknown segment type or an empty segment is how a wrong AS width
        # usually shows (RFC 7606 §7.2 calls both malformed).
        if seg_type < 1 or seg_type > 4 or count == 0:
            return None
        q = p + 2 + count * width
        if q > end:
            return None
        segments.append((seg_type, unpack[count](data, p + 2)))
        p = q
    return segments


def _path_length(segments: list[tuple[int, tuple[int, ...]]]) -> int:
    # RFC 4271 §9.1.2.2: an AS_SET counts as one, confederation segments as none.
    n = 0
    for seg_type, asns in segments:
        if seg_type == AS_SEQUENCE:
            n += len(asns)
        elif seg_type == AS_SET:
            n += 1
    return n


def _merge_as4_path(
    as_path: list[tuple[int, tuple[int, ...]]], as4_path: list[tuple[int, tuple[int, ...]]]
) -> list[tuple[int, tuple[int, ...]]]:
    """RFC 6793 §4.2.3: rebuild the 4-octet path of a route learnt over a 2-octet session."""
    # Confederation segments have no place in AS4_PATH (RFC 6793): dropped.
    as4_path = [s for s in as4_path if s[0] in (AS_SEQUENCE, AS_SET)]
    keep = _path_length(as_path) - _path_length(as4_path)
    if keep < 0:
        # The AS_PATH is shorter than AS4_PATH: a 2-octet speaker in between
        # aggregated or otherwise changed the path; AS4_PATH is stale.
        return as_path
    merged = []
    for seg_type, asns in as_path:
        if keep <= 0:
            break
        if seg_type == AS_SEQUENCE:
            if len(asns) > keep:
                asns = asns[:keep]
            keep -= len(asns)
        elif seg_type == AS_SET:
            keep -= 1
        merged.append((seg_type, asns))
    return merged + as4_path


def _sequence_members(segments: list[tuple[int, tuple[int, ...]]]) -> tuple[int, ...]:
    # The collector's asPath is the AS_SEQUENCE members in order (prepends kept);
    # like the reference, AS_SET and confederation members are dropped.
    if len(segments) == 1 and segments[0][0] == AS_SEQUENCE:
        return segments[0][1]
    out: list[int] = []
    for seg_type, asns in segments:
        if seg_type == AS_SEQUENCE:
            out.extend(asns)
    return tuple(out)


def _decode_attributes(data: bytes, spans: list[tuple[int, int, int]], four: bool) -> PathAttributes:
    """Decode the non-MP attributes given as (type code, value start, value end) spans."""
    origin = ""
    as_path_span = as4_path_span = None
    next_hop = ZERO16
    med = local_pref = originator_id = only_to_customer = 0
    atomic_aggregate = False
    aggregator: tuple[int, int] | None = None
    as4_aggregator: tuple[int, int] | None = None
    communities: tuple[tuple[int, int], ...] = ()
    extended: list[ExtendedCommunity] = []
    large: tuple[tuple[int, int, int], ...] = ()
    cluster_list: tuple[int, ...] = ()
    unknown: list[int] = []

    for code, v, e in spans:
        length = e - v
        if code == ATTR_ORIGIN:
            if length != 1 or data[v] > 2:
                raise BgpError("malformed ORIGIN")
            origin = ("IGP", "EGP", "INCOMPLETE")[data[v]]
        elif code == ATTR_AS_PATH:
            as_path_span = (v, e)
        elif code == ATTR_NEXT_HOP:
            if length != 4:
                raise BgpError("NEXT_HOP length is not 4")
            next_hop = V4_MAPPED + data[v:e]
        elif code == ATTR_MED:
            if length != 4:
                raise BgpError("MULTI_EXIT_DISC length is not 4")
            med = _U32(data, v)[0]
        elif code == ATTR_COMMUNITIES:
            if length & 3:
                raise BgpError("COMMUNITIES length is not a multiple of 4")
            if length == 4:
                communities = (_N_U16[2](data, v),)
            else:
                halves = _N_U16[length >> 1](data, v) if length <= 510 else struct.unpack_from(">%dH" % (length >> 1), data, v)
                it = iter(halves)
                communities = tuple(zip(it, it))
        elif code == ATTR_LOCAL_PREF:
            if length != 4:
                raise BgpError("LOCAL_PREF length is not 4")
            local_pref = _U32(data, v)[0]
        elif code == ATTR_ATOMIC_AGGREGATE:
            # RFC 7606 §7.6: a wrong length means "attribute discard", not failure.
            if length == 0:
                atomic_aggregate = True
            else:
                unknown.append(code)
        elif code == ATTR_AGGREGATOR:
            # The width follows the length rather than the session: RFC 7606 §7.7
            # discards an AGGREGATOR whose length matches neither.
            if length == 8:
                aggregator = (_U32(data, v)[0], _U32(data, v + 4)[0])
            elif length == 6:
                aggregator = (_U16(data, v)[0], _U32(data, v + 2)[0])
            else:
                unknown.append(code)
        elif code == ATTR_EXT_COMMUNITIES:
            if length & 7:
                raise BgpError("EXTENDED_COMMUNITIES length is not a multiple of 8")
            for q in range(v, e, 8):
                extended.append(_make_ext_community(data[q], data[q + 1], data[q + 2 : q + 8]))
        elif code == ATTR_IPV6_EXT_COMMUNITIES:
            if length % 20:
                raise BgpError("IPv6 extended communities length is not a multiple of 20")
            for q in range(v, e, 20):
                extended.append(_make_ext_community(data[q], data[q + 1], data[q + 2 : q + 20]))
        elif code == ATTR_LARGE_COMMUNITIES:
            if length % 12:
                raise BgpError("LARGE_COMMUNITIES length is not a multiple of 12")
            words = struct.unpack_from(">%dI" % (length >> 2), data, v)
            it = iter(words)
            large = tuple(zip(it, it, it))
        elif code == ATTR_ORIGINATOR_ID:
            if length != 4:
                raise BgpError("ORIGINATOR_ID length is not 4")
            originator_id = _U32(data, v)[0]
        elif code == ATTR_CLUSTER_LIST:
            if length & 3:
                raise BgpError("CLUSTER_LIST length is not a multiple of 4")
            cluster_list = struct.unpack_from(">%dI" % (length >> 2), data, v)
        elif code == ATTR_ONLY_TO_CUSTOMER:
            if length != 4:
                raise BgpError("ONLY_TO_CUSTOMER length is not 4")
            only_to_customer = _U32(data, v)[0]
        elif code == ATTR_AS4_PATH:
            as4_path_span = (v, e)
        elif code == ATTR_AS4_AGGREGATOR:
            if length == 8:
                as4_aggregator = (_U32(data, v)[0], _U32(data, v + 4)[0])
            else:
                unknown.append(code)
        else:
            unknown.append(code)

    # AS_PATH. Robustness heuristic: BMP speakers get the A flag (and so the AS
    # width) wrong, e.g. relaying a 2-octet session's path as is; when the path
    # does not parse with the expected width, try the other one.
    path_four = four
    if as_path_span is None:
        segments: list[tuple[int, tuple[int, ...]]] = []
    else:
        segments = _as_segments(data, as_path_span[0], as_path_span[1], four)
        if segments is None:
            path_four = not four
            segments = _as_segments(data, as_path_span[0], as_path_span[1], path_four)
            if segments is None:
                raise BgpError("AS_PATH does not parse with 2- or 4-octet AS numbers")

    if not path_four:
        # RFC 6793 §4.2.3: a route learnt over a 2-octet session carries its real
        # path in AS4_PATH and AS4_AGGREGATOR; they are ignored when the
        # AGGREGATOR is present and is not AS_TRANS.
        if aggregator is not None and aggregator[0] != AS_TRANS:
            pass
        else:
            if as4_path_span is not None:
                as4_segments = _as_segments(data, as4_path_span[0], as4_path_span[1], True)
                if as4_segments is None:
                    unknown.append(ATTR_AS4_PATH)  # malformed AS4_PATH: discarded, not fatal (RFC 6793)
                else:
                    segments = _merge_as4_path(segments, as4_segments)
            if as4_aggregator is not None and aggregator is not None:
                aggregator = as4_aggregator

    # Positional, in PathAttributes' field order.
    return _make_attributes(
        origin,
        _sequence_members(segments) if segments else (),
        next_hop,
        med,
        local_pref,
        atomic_aggregate,
        aggregator[0] if aggregator else 0,
        aggregator[1] if aggregator else 0,
        communities,
        tuple(extended),
        large,
        originator_id,
        cluster_list,
        only_to_customer,
        tuple(unknown),
    )


def _mp_next_hop(data: bytes, v: int, length: int) -> tuple[bytes, bytes]:
    # RFC 4760 §3 / RFC 2545 §3 / RFC 8950: the length tells the form.
    if length == 4:
        return V4_MAPPED + data[v : v + 4], ZERO16
    if length == 16:
        return data[v : v + 16], ZERO16
    if length == 32:
        return data[v : v + 16], data[v + 16 : v + 32]
    if length == 0:
        return ZERO16, ZERO16
    raise BgpError(f"MP_REACH next hop length {length} is not 4, 16 or 32")


def _decode_mp_reach(data: bytes, v: int, e: int, add_path: AddPathSpec) -> MpReach:
    if e - v < 5:
        raise BgpError("MP_REACH_NLRI shorter than 5 bytes")
    afi = (data[v] << 8) | data[v + 1]
    safi = data[v + 2]
    nh_len = data[v + 3]
    if (afi, safi) not in _PARSED_FAMILIES:
        # Families we do not decode (VPN, EVPN, flowspec, BGP-LS...): keep
        # AFI/SAFI, never fail on their content.
        return _make_mp_reach(afi, safi, ZERO16, ZERO16, _empty_block(afi, safi, False))
    p = v + 4 + nh_len
    if p + 1 > e:  # next hop, then one reserved byte (RFC 4760 §3)
        raise BgpError("MP_REACH_NLRI next hop overruns the attribute")
    next_hop, link_local = _mp_next_hop(data, v + 4, nh_len)
    nlri = _nlri_block(data, p + 1, e, afi, safi, _uses_add_path(add_path, afi, safi))
    return _make_mp_reach(afi, safi, next_hop, link_local, nlri)


def _decode_mp_unreach(data: bytes, v: int, e: int, add_path: AddPathSpec) -> MpUnreach:
    if e - v < 3:
        raise BgpError("MP_UNREACH_NLRI shorter than 3 bytes")
    afi = (data[v] << 8) | data[v + 1]
    safi = data[v + 2]
    if (afi, safi) not in _PARSED_FAMILIES:
        return _make_mp_unreach(afi, safi, _empty_block(afi, safi, False))
    return _make_mp_unreach(afi, safi, _nlri_block(data, v + 3, e, afi, safi, _uses_add_path(add_path, afi, safi)))


# --------------------------------------------------------------------------
# UPDATE (RFC 4271 §4.3)
# --------------------------------------------------------------------------


def decode_update(
    body: bytes,
    *,
    four_octet_as: bool = True,
    add_path: AddPathSpec = None,
    cache: AttributeCache | None = None,
) -> Update:
    """Decode the body (after the 19-byte header) of an UPDATE message.

    `four_octet_as`: AS numbers in AS_PATH are 4 bytes (RFC 6793 session).
    `add_path`: the (AFI, SAFI) families whose NLRI carry a path identifier
    (RFC 7911): a collection of pairs, a predicate `f(afi, safi)`, or a bool.
    `cache`: reuse decoded attributes between UPDATEs (see AttributeCache).
    """
    data = _as_bytes(body)
    return decode_update_at(data, 0, len(data), bool(four_octet_as), add_path, cache)


def decode_update_at(
    data: bytes,
    p: int,
    end: int,
    four: bool,
    add_path: AddPathSpec,
    cache: AttributeCache | None,
) -> Update:
    """decode_update over data[p:end] without copying it first.

    `data` must be bytes and `four` a bool; this is the entry point of the BMP
    decoder, which has both at hand.
    """
    try:
        if p + 4 > end:
            raise BgpError("UPDATE shorter than 4 bytes")
        w_end = p + 2 + ((data[p] << 8) | data[p + 1])
        if w_end + 2 > end:
            raise BgpError("UPDATE withdrawn routes overrun the message")
        ipv4_add_path = _uses_add_path(add_path, AFI_IPV4, SAFI_UNICAST) if add_path else False
        if w_end > p + 2:
            withdrawn = _nlri_block(data, p + 2, w_end, AFI_IPV4, SAFI_UNICAST, ipv4_add_path)
        else:
            withdrawn = _EMPTY_IPV4[ipv4_add_path]
        p = w_end + 2
        a_end = p + ((data[w_end] << 8) | data[w_end + 1])
        if a_end > end:
            raise BgpError("UPDATE path attributes overrun the message")

        mp_reach = mp_unreach = None
        if a_end == p:
            attributes = EMPTY_ATTRIBUTES
        else:
            blob = data[p:a_end]
            if cache is not None:
                table = cache.tables[four]
                attributes = table.get(blob)
            else:
                table = attributes = None
            if attributes is not None:
                cache.hits += 1  # type: ignore[union-attr]
            else:
                attributes, mp_reach, mp_unreach = _attributes(blob, four, add_path, cache, table)

        if end <= a_end:
            announced = _EMPTY_IPV4[ipv4_add_path]
        elif not ipv4_add_path and a_end + 1 + ((data[a_end] + 7) >> 3) == end and data[a_end] <= 32:
            # A single prefix: the most common UPDATE in a table dump.
            announced = _make_block(AFI_IPV4, SAFI_UNICAST, False, (data[a_end:end],))
        else:
            announced = _nlri_block(data, a_end, end, AFI_IPV4, SAFI_UNICAST, ipv4_add_path)
        return _make_update(withdrawn, attributes, announced, mp_reach, mp_unreach)
    except (IndexError, struct.error) as exc:
        # Bounds are checked explicitly; this only backs them up so that a
        # missed check still surfaces as a protocol error.
        raise BgpError(f"UPDATE truncated: {exc}") from None


def _attributes(
    blob: bytes,
    four: bool,
    add_path: AddPathSpec,
    cache: AttributeCache | None,
    table: dict[bytes, PathAttributes] | None,
) -> tuple[PathAttributes, MpReach | None, MpUnreach | None]:
    """Walk the attribute headers: decode MP_REACH/MP_UNREACH, and the others
    (whose bytes are the cache key) unless the cache knows them."""
    n = len(blob)
    code = blob[1] if n >= 3 else 0
    if (code == ATTR_MP_REACH or code == ATTR_MP_UNREACH) and table is not None:
        # Fast path for the usual layout of MP-BGP UPDATEs, MP attribute first:
        # when the attributes after it are in the cache they hold no other MP
        # attribute (cache keys never do), so only the MP attribute is decoded.
        if blob[0] & FLAG_EXTENDED_LENGTH:
            v = 4
            e = 4 + ((blob[2] << 8) | blob[3]) if n >= 4 else n + 1
        else:
            v = 3
            e = 3 + blob[2]
        if e <= n:
            attributes = table.get(blob[e:])
            if attributes is not None:
                cache.hits += 1  # type: ignore[union-attr]
                if code == ATTR_MP_REACH:
                    return attributes, _decode_mp_reach(blob, v, e, add_path), None
                return attributes, None, _decode_mp_unreach(blob, v, e, add_path)
    spans = []
    others = []
    seen = 0
    mp_reach = mp_unreach = None
    q = 0
    while q < n:
        if q + 3 > n:
            raise BgpError("path attribute header truncated")
        flags = blob[q]
        code = blob[q + 1]
        if flags & FLAG_EXTENDED_LENGTH:
            if q + 4 > n:
                raise BgpError("path attribute header truncated")
            v = q + 4
            e = v + ((blob[q + 2] << 8) | blob[q + 3])
        else:
            v = q + 3
            e = v + blob[q + 2]
        if e > n:
            raise BgpError(f"path attribute {code} overruns the attributes")
        bit = 1 << code
        if code == ATTR_MP_REACH:
            if seen & bit:
                raise BgpError("MP_REACH_NLRI appears twice")  # RFC 7606 §3(g)
            mp_reach = _decode_mp_reach(blob, v, e, add_path)
        elif code == ATTR_MP_UNREACH:
            if seen & bit:
                raise BgpError("MP_UNREACH_NLRI appears twice")
            mp_unreach = _decode_mp_unreach(blob, v, e, add_path)
        elif not seen & bit:
            # RFC 7606 §3(g): of repeated attributes only the first counts.
            spans.append((code, v, e))
            others.append((q, e))
        seen |= bit
        q = e
    if mp_reach is None and mp_unreach is None:
        key = blob  # already missed the cache, if any
        attributes = None
    else:
        key = b"".join([blob[s:e] for s, e in others])
        attributes = table.get(key) if table is not None else None
    if attributes is None:
        attributes = _decode_attributes(blob, spans, four) if spans else EMPTY_ATTRIBUTES
        if cache is not None:
            cache.store(table, key, attributes)  # type: ignore[arg-type]
            cache.misses += 1
    elif cache is not None:
        cache.hits += 1
    return attributes, mp_reach, mp_unreach
