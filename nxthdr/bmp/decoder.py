"""Sans-I/O decoder of one BMP v3 session (RFC 7854, RFC 8671, RFC 9069).

Usage, like h11's Connection:

    decoder = BmpDecoder()
    decoder.receive_data(chunk)          # bytes from the socket; b"" at EOF
    while (event := decoder.next_event()) is not NEED_DATA:
        ...

Errors: FramingError when message boundaries are lost (bad version, length or
type, a message announcing more than `max_message_size`; EOF inside a message
is its subclass TruncatedMessageError)
and BufferLimitError when the speaker makes us buffer more than `max_buffer`;
both mean the session must close, and the decoder keeps raising the same error
afterwards. A message whose framing is intact but whose body is malformed
becomes a MalformedMessage event and decoding goes on with the next message:
one bad message never costs the whole session. Nothing but BmpError
subclasses ever leaves receive_data / next_event.

Session context (RFC 7854 §4.10 Peer Up carries both OPEN messages): per
monitored peer (PeerHeader.key: type, distinguisher, address) the decoder
remembers whether 4-octet AS numbers were negotiated and which families use
ADD-PATH (see context_from_peer_up); the ADD-PATH families steer the decoding
of that peer's Route Monitoring, and Peer Down forgets them. The AS width of
Route Monitoring follows the per-peer header's A flag (2-octet when set, RFC
7854 §4.2): the speaker may relay paths re-encoded; the negotiated width is
kept for callers. A peer never seen in a Peer Up (FRR sends Route Monitoring for
locally originated routes with an all-zero peer) gets no ADD-PATH. Both choices
are backed by the codec's retry heuristics when the speaker gets them wrong.

Buffering is linear-time and bounded (see BmpDecoder.__init__); Route
Monitoring, the bulk of a session, is decoded in place without copying its body.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from nxthdr.bgp.decode import (
    MSG_NOTIFICATION,
    MSG_OPEN,
    MSG_UPDATE,
    ADD_PATH_RECEIVE,
    ADD_PATH_SEND,
    AttributeCache,
    decode_notification,
    decode_open,
    decode_update_at,
    split_message,
)
from nxthdr.bgp.types import V4_MAPPED, BgpError, Open
from nxthdr.core.frozen import positional_constructor
from nxthdr.bmp.events import (
    FLAG_A,
    FLAG_V,
    INITIATION,
    NEED_DATA,
    PEER_DOWN,
    PEER_LOC_RIB,
    PEER_UP,
    ROUTE_MIRRORING,
    ROUTE_MONITORING,
    STATS_REPORT,
    TERMINATION,
    BmpError,
    BufferLimitError,
    Event,
    FramingError,
    InformationTlv,
    TruncatedMessageError,
    Initiation,
    MalformedMessage,
    PeerDown,
    PeerHeader,
    PeerUp,
    RouteMirroring,
    RouteMonitoring,
    Stat,
    StatsReport,
    Termination,
    _NeedData,
)

BMP_VERSION = 3
COMMON_HEADER_LEN = 6
PER_PEER_HEADER_LEN = 42

_COMMON_HEADER = struct.Struct(">BIB").unpack_from
_PER_PEER = struct.Struct(">BBQ16sIIII").unpack_from
_TLV_HEADER = struct.Struct(">HH").unpack_from

# Stats Report (RFC 7854 §4.8, RFC 8671, RFC 9069): per-AFI/SAFI gauges
# are AFI (2) SAFI (1) gauge (8).
_AFI_SAFI_STATS = frozenset({9, 10, 16, 17, 19})


class _Malformed(Exception):
    """Internal: the body of the current message is malformed (becomes MalformedMessage)."""


@dataclass(frozen=True, slots=True)
class PeerContext:
    """What the Peer Up of one monitored peer told about its BGP session."""

    four_octet_as: bool  # both OPENs advertise capability 65
    add_path: frozenset[tuple[int, int]]  # families whose Route Monitoring NLRI carry path ids


_DEFAULT_CONTEXT = PeerContext(four_octet_as=True, add_path=frozenset())
_NO_ADD_PATH: frozenset[tuple[int, int]] = frozenset()
_MARKER = b"\xff" * 16

_make_peer_header = positional_constructor(PeerHeader)
_make_route_monitoring = positional_constructor(RouteMonitoring)


def context_from_peer_up(peer: PeerHeader, sent_open: Open, received_open: Open) -> PeerContext:
    """Derive the Route Monitoring decoding context from a Peer Up.

    ADD-PATH (RFC 7911 §4/§5) applies to a direction when the sender advertised
    "send" and the receiver "receive" for the family. Adj-RIB-In (O flag clear)
    holds what the peer sent to the router; Adj-RIB-Out (RFC 8671) what the
    router sent to the peer. A Loc-RIB Peer Up (RFC 9069) carries one
    fabricated OPEN (in both positions): a family advertised with any ADD-PATH
    mode there means paths are identified.
    """
    sent = sent_open.capabilities
    received = received_open.capabilities
    four = sent.four_octet_asn is not None and received.four_octet_asn is not None
    families: set[tuple[int, int]] = set()
    if peer.is_loc_rib:
        families = {f for f, mode in sent.add_path.items() if mode} | {
            f for f, mode in received.add_path.items() if mode
        }
    else:
        if peer.is_adj_rib_out:
            sender, receiver = sent.add_path, received.add_path
        else:
            sender, receiver = received.add_path, sent.add_path
        for family, mode in sender.items():
            if mode & ADD_PATH_SEND and receiver.get(family, 0) & ADD_PATH_RECEIVE:
                families.add(family)
    return PeerContext(four_octet_as=four, add_path=frozenset(families))


class BmpDecoder:
    """Bytes of one BMP session in, events out. Does no I/O."""

    def __init__(
        self,
        *,
        max_message_size: int = 1 << 20,
        max_buffer: int = 4 << 20,
        attribute_cache: AttributeCache | None = None,
    ) -> None:
        if max_message_size < COMMON_HEADER_LEN:
            raise ValueError("max_message_size must be at least 6")
        if max_buffer < max_message_size:
            raise ValueError("max_buffer must be at least max_message_size")
        self.max_message_size = max_message_size
        self.max_buffer = max_buffer
        self.attribute_cache = attribute_cache if attribute_cache is not None else AttributeCache()
        # Receive buffer: `_data[_pos:]` then the chunks in `_more`. Messages are
        # decoded in place from the immutable `_data` (no copy per message);
        # chunks are joined only once the next header or message is complete,
        # so every byte is copied a bounded number of times (linear time, even
        # for a 1 MiB message arriving 100 bytes at a time).
        self._data = b""
        self._pos = 0
        self._more: list[bytes] = []
        self._more_len = 0
        self._eof = False
        self._error: BmpError | None = None
        self._peers: dict[tuple[int, int, bytes], PeerContext] = {}
        # Consecutive messages of a table dump usually repeat the per-peer
        # header byte for byte (same peer, same second): decode it once.
        self._last_peer_raw: bytes | None = None
        self._last_peer: PeerHeader | None = None

    # ------------------------------------------------------------------ input

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed by next_event."""
        return len(self._data) - self._pos + self._more_len

    def receive_data(self, data: bytes) -> None:
        """Feed bytes received from the speaker; b"" signals the end of the stream."""
        if self._error is not None:
            raise self._error
        if not data:
            self._eof = True
            return
        if self._eof:
            raise self._fail(FramingError("data received after the end of the stream"))
        buffered = self.buffered + len(data)
        if buffered > self.max_buffer:
            raise self._fail(BufferLimitError(f"{buffered} bytes buffered, limit {self.max_buffer}"))
        # bytes() of bytes is the same object; anything mutable is copied, since
        # the caller may reuse its buffer.
        if self._pos >= len(self._data) and not self._more:
            self._data = bytes(data)
            self._pos = 0
        else:
            self._more.append(bytes(data))
            self._more_len += len(data)

    def _gather(self, n: int) -> bool:
        """Make n unread bytes contiguous in _data, if they have arrived."""
        if len(self._data) - self._pos + self._more_len < n:
            return False
        self._data = b"".join([self._data[self._pos :], *self._more])
        self._pos = 0
        self._more.clear()
        self._more_len = 0
        return True

    def _release(self) -> None:
        """Drop the consumed head of _data: an idle session holds only its unfinished bytes."""
        if self._pos:
            self._data = self._data[self._pos :]
            self._pos = 0

    def peer_context(self, key: tuple[int, int, bytes]) -> PeerContext | None:
        """The context learnt from the Peer Up of this peer, if any."""
        return self._peers.get(key)

    def _fail(self, error: BmpError) -> BmpError:
        self._error = error
        return error

    # ----------------------------------------------------------------- output

    def next_event(self) -> Event | _NeedData:
        """The next event, or NEED_DATA when the buffer holds no whole message."""
        if self._error is not None:
            raise self._error
        data = self._data
        pos = self._pos
        if len(data) - pos < COMMON_HEADER_LEN:
            if not self._gather(COMMON_HEADER_LEN):
                if self._eof and self.buffered:
                    raise self._fail(TruncatedMessageError(
                        f"stream ended inside a message header ({self.buffered} of 6 bytes)",
                        buffered=self.buffered, expected=None))
                self._release()
                return NEED_DATA
            data = self._data
            pos = 0
        version, length, msg_type = _COMMON_HEADER(data, pos)
        if version != BMP_VERSION:
            raise self._fail(FramingError(f"BMP version {version}, expected 3"))
        if length < COMMON_HEADER_LEN:
            raise self._fail(FramingError(f"BMP message length {length} < 6"))
        if length > self.max_message_size:
            raise self._fail(FramingError(f"BMP message length {length} > limit {self.max_message_size}"))
        if msg_type > ROUTE_MIRRORING:
            raise self._fail(FramingError(f"unknown BMP message type {msg_type}"))
        end = pos + length
        if end > len(data):
            if not self._gather(length):
                if self._eof:
                    raise self._fail(TruncatedMessageError(
                        f"stream ended inside a message ({self.buffered} of {length} bytes)",
                        buffered=self.buffered, expected=length))
                self._release()
                return NEED_DATA
            data = self._data
            pos = 0
            end = length
        self._pos = end
        start = pos + COMMON_HEADER_LEN
        if msg_type == ROUTE_MONITORING:
            # The hot path (one message per prefix): decoded in place, out of
            # _decode's dispatch.
            try:
                return self._route_monitoring(data, start, end)
            except (BgpError, _Malformed) as exc:
                reason = str(exc)
            except (IndexError, struct.error, ValueError) as exc:
                reason = f"internal decoder error: {exc!r}"  # see _decode
            return MalformedMessage(msg_type=ROUTE_MONITORING, reason=reason, peer=self._peer_or_none(data[start:end]))
        return self._decode(msg_type, data[start:end])

    def __iter__(self):
        """Iterate over the events available now (stops at NEED_DATA)."""
        while (event := self.next_event()) is not NEED_DATA:
            yield event

    # --------------------------------------------------------------- messages

    def _decode(self, msg_type: int, body: bytes) -> Event:
        peer = None
        try:
            if msg_type == INITIATION:
                return Initiation(tlvs=_information_tlvs(body, 0))
            if msg_type == TERMINATION:
                return Termination(tlvs=_information_tlvs(body, 0))
            peer = self._peer_header(body)
            if msg_type == PEER_UP:
                return self._peer_up(peer, body)
            if msg_type == PEER_DOWN:
                return self._peer_down(peer, body)
            if msg_type == STATS_REPORT:
                return _stats_report(peer, body)
            return RouteMirroring(peer=peer, tlvs=_information_tlvs(body, PER_PEER_HEADER_LEN))
        except (BgpError, _Malformed) as exc:
            return MalformedMessage(msg_type=msg_type, reason=str(exc), peer=peer)
        except (IndexError, struct.error, ValueError) as exc:
            # Bounds are checked explicitly; this is the guard rail that keeps a
            # missed check from closing the session. The fuzz tests assert it
            # never fires.
            return MalformedMessage(msg_type=msg_type, reason=f"internal decoder error: {exc!r}", peer=peer)

    def _peer_header(self, body: bytes) -> PeerHeader:
        """The per-peer header at the start of body (RFC 7854 §4.2)."""
        raw = body[:PER_PEER_HEADER_LEN]
        if raw == self._last_peer_raw:
            return self._last_peer  # type: ignore[return-value]
        if len(raw) < PER_PEER_HEADER_LEN:
            raise _Malformed("message shorter than the per-peer header")
        peer_type, flags, distinguisher, address, asn, bgp_id, sec, usec = _PER_PEER(raw, 0)
        if peer_type == PEER_LOC_RIB:
            pass  # RFC 9069: address is zero-filled, flags hold only F
        elif not flags & FLAG_V:
            address = V4_MAPPED + address[12:]
        peer = _make_peer_header(
            peer_type, flags, distinguisher, address, asn, bgp_id, sec * 1_000_000_000 + usec * 1000
        )
        self._last_peer_raw = raw
        self._last_peer = peer
        return peer

    def _peer_or_none(self, body: bytes) -> PeerHeader | None:
        try:
            return self._peer_header(body)
        except _Malformed:
            return None

    def _route_monitoring(self, data: bytes, start: int, end: int) -> RouteMonitoring:
        """Route Monitoring in data[start:end] (after the common header)."""
        q = start + PER_PEER_HEADER_LEN
        if q > end:
            raise _Malformed("message shorter than the per-peer header")
        raw = data[start:q]
        peer = self._last_peer if raw == self._last_peer_raw else self._peer_header(raw)
        # RFC 7854 §4.6: one BGP UPDATE PDU after the per-peer header (RFC 4271
        # §4.1 header checked inline: this runs once per prefix). Bytes after it
        # (none are defined) are ignored.
        if end - q < 19 or data[q : q + 16] != _MARKER:
            split_message(data, q, end)  # raises the precise BgpError
        bgp_end = q + ((data[q + 16] << 8) | data[q + 17])
        if bgp_end > end or bgp_end < q + 19:
            split_message(data, q, end)
        if data[q + 18] != MSG_UPDATE:
            raise _Malformed(f"Route Monitoring carries BGP message type {data[q + 18]}, not UPDATE")
        if self._peers:
            add_path = self._peers.get(peer.key, _DEFAULT_CONTEXT).add_path
        else:
            add_path = _NO_ADD_PATH
        # AS width: the A flag (RFC 7854 §4.2) says "2-octet"; otherwise 4-octet.
        # A wrong flag is caught by the AS_PATH width retry in the codec.
        four = peer.peer_type == PEER_LOC_RIB or not peer.flags & FLAG_A
        update = decode_update_at(data, q + 19, bgp_end, four, add_path, self.attribute_cache)
        return _make_route_monitoring(peer, update)

    def _peer_up(self, peer: PeerHeader, body: bytes) -> PeerUp:
        # RFC 7854 §4.10: local address (16) | local port (2) | remote port (2) |
        # sent OPEN | received OPEN | information TLVs.
        p = PER_PEER_HEADER_LEN
        if len(body) < p + 20:
            raise _Malformed("Peer Up shorter than its fixed fields")
        local = body[p : p + 16]
        if peer.peer_type != PEER_LOC_RIB and not peer.flags & FLAG_V:
            local = V4_MAPPED + local[12:]
        local_port, remote_port = struct.unpack_from(">HH", body, p + 16)
        p += 20
        opens = []
        for _ in range(2):
            msg_type, start, end = split_message(body, p)
            if msg_type != MSG_OPEN:
                raise _Malformed(f"Peer Up carries BGP message type {msg_type}, not OPEN")
            opens.append(decode_open(body[start:end]))
            p = end
        sent_open, received_open = opens
        tlvs = _information_tlvs(body, p)
        self._peers[peer.key] = context_from_peer_up(peer, sent_open, received_open)
        return PeerUp(
            peer=peer,
            local_address=local,
            local_port=local_port,
            remote_port=remote_port,
            sent_open=sent_open,
            received_open=received_open,
            tlvs=tlvs,
        )

    def _peer_down(self, peer: PeerHeader, body: bytes) -> PeerDown:
        # RFC 7854 §4.9; reason 6 (TLVs follow) is RFC 9069.
        p = PER_PEER_HEADER_LEN
        if len(body) < p + 1:
            raise _Malformed("Peer Down without a reason")
        reason = body[p]
        p += 1
        notification = None
        fsm_event = None
        tlvs: tuple[InformationTlv, ...] = ()
        if reason in (1, 3):
            msg_type, start, end = split_message(body, p)
            if msg_type != MSG_NOTIFICATION:
                raise _Malformed(f"Peer Down carries BGP message type {msg_type}, not NOTIFICATION")
            notification = decode_notification(body[start:end])
        elif reason == 2:
            if len(body) < p + 2:
                raise _Malformed("Peer Down reason 2 without an FSM event code")
            fsm_event = (body[p] << 8) | body[p + 1]
        elif reason == 6:
            tlvs = _information_tlvs(body, p)
        elif reason not in (4, 5):
            raise _Malformed(f"unknown Peer Down reason {reason}")
        # The peer is gone: its session context with it (even if this Peer Down
        # came without a Peer Up, e.g. the collector connected mid-session).
        self._peers.pop(peer.key, None)
        return PeerDown(peer=peer, reason=reason, notification=notification, fsm_event=fsm_event, tlvs=tlvs)


def _information_tlvs(body: bytes, p: int) -> tuple[InformationTlv, ...]:
    """Type (2) | length (2) | value TLVs up to the end of the body (RFC 7854 §4.4)."""
    tlvs = []
    end = len(body)
    while p < end:
        if p + 4 > end:
            raise _Malformed("information TLV header truncated")
        tlv_type, length = _TLV_HEADER(body, p)
        q = p + 4 + length
        if q > end:
            raise _Malformed(f"information TLV {tlv_type} overruns the message")
        tlvs.append(InformationTlv(type=tlv_type, value=body[p + 4 : q]))
        p = q
    return tuple(tlvs)


def _stats_report(peer: PeerHeader, body: bytes) -> StatsReport:
    """Stats Report (RFC 7854 §4.8): count (4) then that many type/length/value stats.

    Counters are 4 bytes and gauges 8, but the value of a stat type we do not
    know is kept as the integer of whatever bytes it has. Bytes after the
    announced count are ignored.
    """
    p = PER_PEER_HEADER_LEN
    end = len(body)
    if p + 4 > end:
        raise _Malformed("Stats Report without a count")
    (count,) = struct.unpack_from(">I", body, p)
    p += 4
    stats = []
    for _ in range(count):
        if p + 4 > end:
            raise _Malformed(f"Stats Report announces {count} stats, holds {len(stats)}")
        stat_type, length = _TLV_HEADER(body, p)
        v = p + 4
        p = v + length
        if p > end:
            raise _Malformed(f"stat {stat_type} overruns the message")
        if stat_type in _AFI_SAFI_STATS and length == 11:
            afi, safi, value = struct.unpack_from(">HBQ", body, v)
            stats.append(Stat(type=stat_type, value=value, afi=afi, safi=safi))
        else:
            stats.append(Stat(type=stat_type, value=int.from_bytes(body[v:p], "big")))
    return StatsReport(peer=peer, stats=tuple(stats))
