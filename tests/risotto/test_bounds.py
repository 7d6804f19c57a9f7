"""Bounds on BMP sessions: EOF inside a message, max sessions, message timeout, allow list."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

from hypothesis import given, settings, strategies as st

from nxthdr.bmp import builder as b
from nxthdr.bmp.decoder import BmpDecoder
from nxthdr.bmp.events import NEED_DATA, BmpError, TruncatedMessageError
from nxthdr.core import logs
from nxthdr.risotto.app import build
from tests.risotto.helpers import announce, peer_up
from tests.risotto.test_collector import risotto_config, wait_for


def _run(tmp_path, scenario, **over):
    async def main():
        app = build(risotto_config(tmp_path, **over))
        await app.supervisor.start()
        try:
            await scenario(app, app.server.bound_port)
        finally:
            await app.supervisor.stop()

    asyncio.run(main())


def test_eof_inside_a_message_is_counted_and_logged(tmp_path, caplog):
    async def scenario(app, port):
        msg = announce(["203.0.113.0/24"])
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(peer_up() + msg[:-3])
        s.close()
        errors = app.processor.m_decode_errors
        await wait_for(lambda: errors.get(("127.0.0.1", "truncated")) == 1, 30)

    with caplog.at_level(logging.INFO, logger="nxthdr.risotto"):
        _run(tmp_path, scenario)
    fields = [getattr(r, logs._FIELDS, {}) for r in caplog.records]
    assert any(f.get("kind") == "truncated" and f.get("expected") for f in fields)
    assert any(f.get("reason") == "ended inside a message" for f in fields)


def test_max_sessions_refuses_and_counts(tmp_path):
    async def scenario(app, port):
        socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        await wait_for(lambda: len(app.processor.sessions) == 2, 30)
        extra = socket.create_connection(("127.0.0.1", port))
        await wait_for(lambda: app.server.m_rejected.get(("max_sessions",)) == 1, 30)
        extra.settimeout(10)
        assert await asyncio.to_thread(extra.recv, 1) == b""  # closed by the collector
        for x in socks + [extra]:
            x.close()

    _run(tmp_path, scenario, bmp__max_sessions=2)


def test_partial_message_times_out_while_idle_session_stays(tmp_path):
    async def scenario(app, port):
        idle = socket.create_connection(("127.0.0.1", port))
        idle.sendall(b.bmp_initiation("idle"))  # whole messages, then silence
        slow = socket.create_connection(("127.0.0.1", port))
        msg = announce(["203.0.113.0/24"])
        slow.sendall(msg[:10])
        await wait_for(lambda: app.server.m_dropped.get(("message_timeout",)) == 1, 30)
        await asyncio.sleep(1.5)
        assert len(app.processor.sessions) == 1  # the idle one
        assert app.server.buffered == 0
        idle.close()
        slow.close()

    _run(tmp_path, scenario, bmp__message_timeout=1)


def test_allow_file_accepts_and_refuses(tmp_path):
    allow = tmp_path / "allow.txt"
    allow.write_text("! pmacct-style comment\n# another\n\n127.0.0.1\n10.0.0.0/8  # a prefix\n")

    async def scenario(app, port):
        ok = socket.create_connection(("127.0.0.1", port))
        await wait_for(lambda: len(app.processor.sessions) == 1, 30)
        bad = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0))
        await wait_for(lambda: app.server.m_rejected.get(("not_allowed",)) == 1, 30)
        assert len(app.processor.sessions) == 1
        ok.close()
        bad.close()

    _run(tmp_path, scenario, bmp__allow_file=str(allow))


_STREAM = b"".join([b.bmp_initiation("r"), peer_up(), announce(["203.0.113.0/24"]), announce(["2001:db8::/32"])])
_BOUNDS = [0]
for _m in (b.bmp_initiation("r"), peer_up(), announce(["203.0.113.0/24"]), announce(["2001:db8::/32"])):
    _BOUNDS.append(_BOUNDS[-1] + len(_m))


@settings(max_examples=200, deadline=None)
@given(cut=st.integers(0, len(_STREAM)), chunk=st.integers(1, 64))
def test_fuzz_eof_anywhere(cut, chunk):
    d = BmpDecoder()
    events = 0
    data = _STREAM[:cut]
    for i in range(0, len(data), chunk):
        d.receive_data(data[i:i + chunk])
        while d.next_event() is not NEED_DATA:
            events += 1
    d.receive_data(b"")
    try:
        while d.next_event() is not NEED_DATA:
            events += 1
        truncated = False
    except TruncatedMessageError as e:
        truncated = True
        assert e.buffered == cut - max(x for x in _BOUNDS if x <= cut)
    except BmpError as e:  # pragma: no cover - nothing else may escape
        raise AssertionError(f"unexpected {e!r}")
    assert truncated == (cut not in _BOUNDS)
    assert events == sum(1 for x in _BOUNDS[1:] if x <= cut)
    assert d.buffered == 0 or truncated
