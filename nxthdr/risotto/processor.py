"""From BMP events to `Update` rows and router/peer events: curation and encoding.

No I/O here: the server feeds events of each BMP session in, rows go out through
a sink's synchronous `emit`. With curation on (the default) the processor keeps
the state of nxthdr.risotto.rib and
  - forwards announcements whose attributes changed, drops identical ones;
  - drops withdraws of prefixes the peer does not have;
  - emits synthetic withdraws (synthetic = true, announced = false) on Peer Down,
    when a router's BMP session is lost, for prefixes not re-announced after a
    Peer Up (at the table's End-of-RIB, or after `stale_timeout`), and for
    restored state that no router claims back within `stale_timeout`.

Rows are numbered in emit order (`seq`). Curation changes the state as a row is
emitted, before any sink has it; so every change is also journalled with the
value it replaced, until the sinks report the row delivered (`Sink.delivered`).
`state_snapshot()` undoes the changes of undelivered rows on its copy: the saved
state holds exactly what reached every sink, and after a restart the routers'
re-sent tables are forwarded again where the sinks missed them.
"""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass, field

from nxthdr.bgp.types import AFI_IPV4, ZERO16, NlriBlock, decode_nlri_item
from nxthdr.bmp import events as ev
from nxthdr.core import addr, logs
from nxthdr.core.metrics import Metrics
from nxthdr.core.sinks import Sink
from nxthdr.risotto import bmp_events, state_file
from nxthdr.risotto.rib import (T_ADD_PATH, T_ADJ_RIB_OUT, T_LOC_RIB, T_POST_POLICY, PeerRib, Rib, RouterRib,
                                table_family, table_id)
from nxthdr.risotto.update_writer import (ADJ_RIB_OUT, ANNOUNCED, LOC_RIB, POST_POLICY, SYNTHETIC, Template,
                                          UpdateWriter, encode_row)

log = logging.getLogger("nxthdr.risotto")

_SETTLE_EVERY = 4096  # journal entries between two checks of what the sinks delivered

KEY_MODES = ("none", "router", "peer")


def peer_label(peer_type: int, distinguisher: int, address: bytes) -> str:
    """Metric label of a peer: its address; peers of a VRF or instance get `@<distinguisher>` too."""
    if peer_type == ev.PEER_LOC_RIB:
        return f"loc-rib@{rd_text(distinguisher)}"
    text = addr.label(address)
    if peer_type != ev.PEER_GLOBAL or distinguisher:
        text += f"@{rd_text(distinguisher)}"
    return text


def rd_text(d: int) -> str:
    """Route distinguisher in RFC 4364 notation (type 0: asn:n, type 1: ip:n, type 2: asn4:n)."""
    kind = d >> 48
    if kind == 0:
        return f"{(d >> 32) & 0xFFFF}:{d & 0xFFFFFFFF}"
    if kind == 1:
        ip = (d >> 16) & 0xFFFFFFFF
        return f"{ip >> 24}.{(ip >> 16) & 255}.{(ip >> 8) & 255}.{ip & 255}:{d & 0xFFFF}"
    if kind == 2:
        return f"{(d >> 16) & 0xFFFFFFFF}:{d & 0xFFFF}"
    return str(d)


@dataclass(eq=False)
class Session:
    """One BMP TCP session (one router connection)."""

    router16: bytes
    port: int
    label: str
    router: RouterRib | None
    peers: dict = field(default_factory=dict)  # stateless mode: peer key -> PeerRib (info only)
    peer_cache: dict = field(default_factory=dict)  # peer key -> _PeerCtx
    initiated: bool = False
    closed: bool = False


class _PeerCtx:
    """Per-peer values of a row, computed once per peer instead of once per prefix."""

    __slots__ = ("rib", "label", "peer16", "key", "labels")

    def __init__(self, rib: PeerRib, label: str, router_label: str, key_mode: str, router16: bytes) -> None:
        self.rib = rib
        self.label = label
        self.peer16 = rib.address
        self.labels = (router_label, label)
        if key_mode == "router":
            self.key = router16
        elif key_mode == "peer":
            self.key = router16 + rib.distinguisher.to_bytes(8, "big") + rib.address
        else:
            self.key = b""


class Processor:
    def __init__(self, sink: Sink, metrics: Metrics, *, curation: bool = True, rib: Rib | None = None,
                 events_sink: Sink | None = None, key_mode: str = "none", stale_timeout: float = 300.0,
                 clock=time.monotonic) -> None:
        if key_mode not in KEY_MODES:
            raise ValueError(f"key mode must be one of {KEY_MODES}")
        self.sink = sink
        self.emit = sink.emit
        self._sink_delivered = getattr(sink, "delivered", lambda: None)  # a sink without acks: at once
        self.events_sink = events_sink
        self.curation = curation
        self.rib = (rib or Rib()) if curation else None
        self.key_mode = key_mode
        self.stale_timeout = stale_timeout
        self.clock = clock
        self.writer = UpdateWriter()
        self.seq = 0  # rows emitted so far
        # Undo records of rows not known delivered, oldest first:
        # (seq of the first row, router address, PeerRib, table id, items, values they replaced (None: absent))
        self.journal: collections.deque = collections.deque()
        self._next_settle = _SETTLE_EVERY
        self.sessions: set[Session] = set()
        self.errlog = logs.RateLimited(log)
        self.down_peers: dict[tuple[str, str], float] = {}  # labels of peers seen down, for the gauge
        m = metrics
        self.m_messages = m.fast_counter("bmp_messages_total", "BMP messages received, by router and type",
                                         ("router", "type"))
        self.m_rx = m.fast_counter("rx_updates_total", "Prefix updates received from routers", ("router", "peer"))
        self.m_tx = m.fast_counter("tx_updates_total", "Prefix updates sent downstream after curation",
                                   ("router", "peer"))
        self.m_decode_errors = m.fast_counter("decode_errors_total",
                                              "BMP messages or sessions that could not be decoded",
                                              ("router", "kind"))
        self.m_synthetic = m.fast_counter("synthetic_withdraws_total",
                                          "Withdraws generated by the collector, by cause", ("cause",))
        m.callback_gauge("peer_established", "Monitored BGP peers up (1) or seen down (0)", ("router", "peer"),
                         self._peer_gauge)
        m.callback_gauge("state_updates", "Prefixes stored in the curation state", ("router", "peer"),
                         self._state_gauge)
        m.callback_gauge("bmp_sessions", "Open BMP sessions", (), lambda: [((), len(self.sessions))])

    # -- delivery -------------------------------------------------------------------------------

    def delivered(self) -> int:
        """How many of the rows emitted so far every sink has settled."""
        d = self._sink_delivered()
        return self.seq if d is None else min(d, self.seq)

    def settle(self) -> int:
        """Drop the journal of delivered rows; returns how many rows are not delivered yet."""
        w = self.delivered()
        j = self.journal
        while j and j[0][0] + len(j[0][4]) - 1 <= w:
            j.popleft()
        self._next_settle = len(j) + _SETTLE_EVERY
        return self.seq - w

    def _journal(self, router16: bytes, p: PeerRib, tid: int, items, olds: list) -> None:
        j = self.journal
        j.append((self.seq + 1, router16, p, tid, items, olds))
        if len(j) >= self._next_settle:
            self.settle()

    def state_snapshot(self) -> tuple[state_file.Snapshot, int]:
        """The curation state as of the delivered rows, and how many rows it leaves out."""
        pending = self.settle()
        w = self.seq - pending

        def undo():
            for first, router16, p, tid, items, olds in reversed(self.journal):
                for i in range(len(items) - 1, -1, -1):
                    if first + i <= w:
                        return
                    yield router16, p, tid, items[i], olds[i]

        return state_file.snapshot(self.rib, undo()), pending

    # -- gauges ---------------------------------------------------------------------------------

    def _iter_peers(self):
        if self.rib is not None:
            for r in self.rib.routers.values():
                rl = addr.label(r.address)
                for p in r.peers.values():
                    yield rl, p
        else:
            for s in self.sessions:
                for p in s.peers.values():
                    yield s.label, p

    def _peer_gauge(self):
        seen = set()
        for rl, p in self._iter_peers():
            labels = (rl, peer_label(p.peer_type, p.distinguisher, p.address))
            seen.add(labels)
            yield labels, 1.0 if p.up else 0.0
        for labels in list(self.down_peers):
            if labels not in seen:
                yield labels, 0.0

    def _state_gauge(self):
        if self.rib is None:
            return
        for rl, p in self._iter_peers():
            yield (rl, peer_label(p.peer_type, p.distinguisher, p.address)), float(p.stored())

    # -- sessions -------------------------------------------------------------------------------

    def open_session(self, router16: bytes, port: int) -> Session:
        router = None
        if self.rib is not None:
            router = self.rib.router(router16)
            if router.restored_since is not None:
                router.reconnected_at = self.clock()
        s = Session(router16, port, addr.label(router16), router)
        self.sessions.add(s)
        self._event("session_open", s)
        return s

    def close_session(self, s: Session, *, lost: bool = True, now_ns: int | None = None) -> None:
        """The TCP session ended. `lost=False` for our own shutdown: state is kept for the restart."""
        if s.closed:
            return
        s.closed = True
        self.sessions.discard(s)
        self._event("session_closed", s)
        for labels in [k for k in self.down_peers if k[0] == s.label]:
            del self.down_peers[labels]
        if not lost or s.router is None:
            return
        now_ns = now_ns or time.time_ns()
        router = s.router
        for key, peer in list(router.peers.items()):
            # Another live session from the same address keeps its own peers.
            if peer.owner is not None and peer.owner is not s:
                continue
            self._withdraw_peer(s, peer, now_ns, "session_lost")
            del router.peers[key]
        if not router.peers and not any(o.router is router for o in self.sessions):
            self.rib.routers.pop(router.address, None)

    def handle(self, s: Session, event: ev.Event, now_ns: int | None = None) -> None:
        now_ns = now_ns or time.time_ns()
        t = type(event)
        if t is ev.RouteMonitoring:
            self.m_messages.inc((s.label, "route_monitoring"))
            self._route_monitoring(s, event, now_ns)
        elif t is ev.PeerUp:
            self.m_messages.inc((s.label, "peer_up_notification"))
            self._peer_up(s, event, now_ns)
        elif t is ev.PeerDown:
            self.m_messages.inc((s.label, "peer_down_notification"))
            self._peer_down(s, event, now_ns)
        elif t is ev.StatsReport:
            self.m_messages.inc((s.label, "stats_report"))
            self._event("stats_report", s, event, now_ns=now_ns)
        elif t is ev.Initiation:
            self.m_messages.inc((s.label, "initiation"))
            s.initiated = True
            logs.event(log, logging.INFO, "BMP session initiated", router=s.label, port=s.port,
                       sys_name=event.sys_name, sys_descr=event.sys_descr)
            self._event("initiation", s, event, now_ns=now_ns)
        elif t is ev.Termination:
            self.m_messages.inc((s.label, "termination"))
            logs.event(log, logging.INFO, "BMP session terminated by router", router=s.label, reason=event.reason)
            self._event("termination", s, event, now_ns=now_ns)
        elif t is ev.RouteMirroring:
            self.m_messages.inc((s.label, "route_mirroring"))
        elif t is ev.MalformedMessage:
            self.m_messages.inc((s.label, ev.MESSAGE_TYPE_NAMES.get(event.msg_type, "unknown")))
            self.decode_error(s, "malformed_message", event.reason, msg_type=event.msg_type)

    def decode_error(self, s: Session, kind: str, reason: str, **fields) -> None:
        self.m_decode_errors.inc((s.label, kind))
        self.errlog.event((s.label, kind), logging.WARNING, "BMP decode error", router=s.label, kind=kind,
                          reason=reason, **fields)

    # -- peers ----------------------------------------------------------------------------------

    def _peer(self, s: Session, ph: ev.PeerHeader) -> _PeerCtx:
        key = ph.key
        ctx = s.peer_cache.get(key)
        if ctx is not None:
            return ctx
        store = s.router.peers if s.router is not None else s.peers
        rib = store.get(key)
        if rib is None:
            rib = store[key] = PeerRib(ph.peer_type, ph.distinguisher, ph.address, ph.asn, ph.bgp_id,
                                       ph.timestamp_ns)
        rib.owner = s
        if rib.needs_resync:
            # First news of a restored peer on the new session: like a Peer Up.
            rib.needs_resync = False
            rib.mark_stale(self.clock())
        label = peer_label(ph.peer_type, ph.distinguisher, ph.address)
        ctx = s.peer_cache[key] = _PeerCtx(rib, label, s.label, self.key_mode, s.router16)
        return ctx

    def _peer_up(self, s: Session, e: ev.PeerUp, now_ns: int) -> None:
        ctx = self._peer(s, e.peer)
        p = ctx.rib
        p.up = True
        p.asn, p.bgp_id, p.header_ts_ns = e.peer.asn, e.peer.bgp_id, e.peer.timestamp_ns
        self.down_peers.pop(ctx.labels, None)
        if self.rib is not None:
            p.mark_stale(self.clock())
        logs.event(log, logging.INFO, "peer up", router=s.label, peer=ctx.label, asn=e.peer.asn)
        self._event("peer_up", s, e, now_ns=now_ns)

    def _peer_down(self, s: Session, e: ev.PeerDown, now_ns: int) -> None:
        ctx = self._peer(s, e.peer)
        logs.event(log, logging.INFO, "peer down", router=s.label, peer=ctx.label, reason=e.reason)
        self._event("peer_down", s, e, now_ns=now_ns)
        store = s.router.peers if s.router is not None else s.peers
        if self.rib is not None:
            self._withdraw_peer(s, ctx.rib, now_ns, "peer_down")
        store.pop(ctx.rib.key, None)
        s.peer_cache.pop(e.peer.key, None)
        self.down_peers[ctx.labels] = self.clock()

    def _withdraw_peer(self, s: Session, p: PeerRib, now_ns: int, cause: str) -> None:
        tables = list(p.tables.items())
        if p.stale:
            tables += list(p.stale.items())
        p.tables = {}
        p.stale = None
        for tid, table in tables:
            self._withdraw_table(s, p, tid, table, now_ns, cause)

    def _withdraw_table(self, s: Session, p: PeerRib, tid: int, items, now_ns: int, cause: str) -> None:
        if not items:
            return
        t = self.writer.withdraw_template
        afi, _ = table_family(tid)
        add_path = bool(tid & T_ADD_PATH)
        flags = SYNTHETIC | _table_flags(tid)
        label = peer_label(p.peer_type, p.distinguisher, p.address)
        key = _PeerCtx(p, label, s.label, self.key_mode, s.router16).key
        emit = self.emit
        items, olds = list(items), list(items.values())  # `items` is a table: {item: attribute id}
        self._journal(s.router16, p, tid, items, olds)
        n = 0
        for item in items:
            prefix16, plen, path_id = decode_nlri_item(item, afi, add_path)
            emit(encode_row(t, time.time_ns(), now_ns, s.port, s.router16, p.address, p.bgp_id, p.asn,
                            p.peer_type, p.distinguisher, prefix16, plen, flags, path_id), key)
            n += 1
        self.seq += n
        self.m_tx.inc((s.label, label), n)
        self.m_synthetic.inc((cause,), n)

    # -- route monitoring -------------------------------------------------------------------------

    def _route_monitoring(self, s: Session, e: ev.RouteMonitoring, now_ns: int) -> None:
        ph = e.peer
        u = e.update
        ctx = self._peer(s, ph)
        p = ctx.rib
        p.header_ts_ns = ph.timestamp_ns
        base = 0
        if ph.peer_type == ev.PEER_LOC_RIB:
            base = LOC_RIB
        else:
            if ph.flags & ev.FLAG_L:
                base |= POST_POLICY
            if ph.flags & ev.FLAG_O:
                base |= ADJ_RIB_OUT
        attrs = u.attributes
        mp_reach, mp_unreach = u.mp_reach, u.mp_unreach
        reach = (mp_reach.afi, mp_reach.safi) if mp_reach is not None else (0, 0)
        unreach = (mp_unreach.afi, mp_unreach.safi) if mp_unreach is not None else (0, 0)
        row = (now_ns, ph.timestamp_ns, s.port, s.router16, ctx.peer16, ph.bgp_id, ph.asn, ph.peer_type,
               ph.distinguisher)
        rx = tx = 0
        if u.announced.items or u.withdrawn.items:
            t = self.writer.template(attrs, attrs.next_hop, ZERO16, reach, unreach)
            if u.announced.items:
                rx += len(u.announced.items)
                tx += self._rows(ctx, u.announced, t, row, base | ANNOUNCED, True)
            if u.withdrawn.items:
                rx += len(u.withdrawn.items)
                tx += self._rows(ctx, u.withdrawn, t, row, base, False)
        if mp_reach is not None and mp_reach.nlri.items:
            t = self.writer.template(attrs, mp_reach.next_hop, mp_reach.next_hop_link_local, reach, unreach)
            rx += len(mp_reach.nlri.items)
            tx += self._rows(ctx, mp_reach.nlri, t, row, base | ANNOUNCED, True)
        if mp_unreach is not None and mp_unreach.withdrawn.items:
            t = self.writer.template(attrs, ZERO16, ZERO16, reach, unreach)
            rx += len(mp_unreach.withdrawn.items)
            tx += self._rows(ctx, mp_unreach.withdrawn, t, row, base, False)
        if rx:
            self.m_rx.inc(ctx.labels, rx)
            if tx:
                self.m_tx.inc(ctx.labels, tx)
        elif p.stale is not None:
            eor = u.end_of_rib
            if eor is not None:
                self._end_of_rib(s, p, eor, base, now_ns)

    def _rows(self, ctx: _PeerCtx, block: NlriBlock, t: Template, row: tuple, flags: int, announce: bool) -> int:
        """Curate and emit the rows of one NLRI block; returns how many were emitted."""
        afi, add_path = block.afi, block.add_path
        emit, key = self.emit, ctx.key
        t_recv, t_hdr, rport, router16, peer16, bgp_id, asn, ptype, dist = row
        items = block.items
        if self.rib is not None:
            tid = table_id(afi, block.safi, bool(flags & POST_POLICY), bool(flags & ADJ_RIB_OUT), add_path,
                           bool(flags & LOC_RIB))
            if tid is None:
                return 0
            olds: list = []
            items = self._curate(ctx.rib, tid, items, t.attr_id if announce else None, olds)
            if not items:
                return 0
            self._journal(router16, ctx.rib, tid, items, olds)
        n = 0
        v4 = afi == AFI_IPV4
        for item in items:
            if add_path:
                path_id = int.from_bytes(item[:4], "big")
                plen = item[4]
                raw = item[5:]
            else:
                path_id = 0
                plen = item[0]
                raw = item[1:]
            if v4:
                prefix16 = b"\0\0\0\0\0\0\0\0\0\0\xff\xff" + raw + b"\0" * (4 - len(raw))
            else:
                prefix16 = raw + b"\0" * (16 - len(raw))
            emit(encode_row(t, t_recv, t_hdr, rport, router16, peer16, bgp_id, asn, ptype, dist, prefix16, plen,
                            flags, path_id), key)
            n += 1
        self.seq += n
        return n

    def _curate(self, p: PeerRib, tid: int, items: tuple[bytes, ...], attr_id: int | None,
                olds: list) -> list[bytes]:
        """The items that must be forwarded; updates the state, appends the values they replace to `olds`."""
        table = p.tables.get(tid)
        if table is None:
            table = p.tables[tid] = {}
        stale = p.stale.get(tid) if p.stale else None
        out = []
        was = olds.append
        if attr_id is not None:
            get = table.get
            for item in items:
                old = get(item)
                if old == attr_id:
                    continue  # identical re-announcement
                if old is None and stale is not None:
                    old = stale.pop(item, None)
                    if old == attr_id:
                        table[item] = attr_id  # re-announced after a reset: still the same route
                        continue
                table[item] = attr_id
                out.append(item)
                was(old)
        else:
            pop = table.pop
            for item in items:
                old = pop(item, None)
                if old is None and stale is not None:
                    old = stale.pop(item, None)
                if old is not None:
                    out.append(item)
                    was(old)
                # else: withdraw of a prefix the peer does not have (a duplicate after a reset)
        return out

    def _end_of_rib(self, s: Session, p: PeerRib, family: tuple[int, int], base: int, now_ns: int) -> None:
        afi, safi = family
        for add_path in (False, True):
            tid = table_id(afi, safi, bool(base & POST_POLICY), bool(base & ADJ_RIB_OUT), add_path,
                           bool(base & LOC_RIB))
            if tid is None or not p.stale:
                continue
            leftover = p.stale.pop(tid, None)
            if leftover:
                logs.event(log, logging.INFO, "End-of-RIB: withdrawing prefixes not re-announced", router=s.label,
                           peer=peer_label(p.peer_type, p.distinguisher, p.address), afi=afi, safi=safi,
                           count=len(leftover))
                self._withdraw_table(s, p, tid, leftover, now_ns, "end_of_rib")
        if p.stale is not None and not p.stale:
            p.stale = None

    # -- timers ---------------------------------------------------------------------------------

    def sweep(self) -> int:
        """Fallback for routers that send no End-of-RIB, and for restored state nobody claims.

        Called periodically by the server; returns how many synthetic withdraws it emitted.
        """
        if self.rib is None:
            return 0
        now = self.clock()
        emitted = 0
        for router in list(self.rib.routers.values()):
            since = router.reconnected_at or router.restored_since
            session = next((x for x in self.sessions if x.router is router), None)
            fake = session or Session(router.address, 0, addr.label(router.address), router)
            for key, p in list(router.peers.items()):
                if p.needs_resync and since is not None and now - since >= self.stale_timeout:
                    n = p.stored()
                    self._withdraw_peer(fake, p, time.time_ns(), "restored_not_resumed")
                    del router.peers[key]
                    emitted += n
                elif p.stale is not None and now - p.stale_since >= self.stale_timeout:
                    stale, p.stale = p.stale, None
                    for tid, table in stale.items():
                        emitted += len(table)
                        self._withdraw_table(fake, p, tid, table, time.time_ns(), "stale_timeout")
            if not router.peers and session is None:
                self.rib.routers.pop(router.address, None)
            elif router.restored_since is not None and not any(p.needs_resync for p in router.peers.values()):
                router.restored_since = router.reconnected_at = None
        return emitted

    # -- router and peer events (own topic, off by default) ----------------------------------------

    def _event(self, kind: str, s: Session, e=None, now_ns: int | None = None) -> None:
        if self.events_sink is None:
            return
        try:
            message = bmp_events.encode(kind, s.router16, s.port, e, now_ns or time.time_ns())
        except (ValueError, TypeError, OverflowError) as err:  # an odd event must not end the session
            self.errlog.event(("event", kind), logging.ERROR, "cannot encode router event", kind=kind, error=str(err))
            return
        self.events_sink.emit(message)


def _table_flags(tid: int) -> int:
    f = 0
    if tid & T_POST_POLICY:
        f |= POST_POLICY
    if tid & T_ADJ_RIB_OUT:
        f |= ADJ_RIB_OUT
    if tid & T_LOC_RIB:
        f |= LOC_RIB
    return f

