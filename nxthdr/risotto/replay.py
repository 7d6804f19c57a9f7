"""`risotto replay FILE --to HOST:PORT`: stream a recorded BMP session to a collector.

A recording is the raw byte stream a router sent (BMP messages back to back),
as written by a TCP capture or `tests/support/bmp_recorder.py`. The replay
connects like a router would, sends message by message (optionally paced) and
shows progress; at the end it closes the session, which a curating collector
treats as the router going away (synthetic withdraws), unless `--hold` keeps
it open until interrupted.
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import sys
import time

from nxthdr.core.config import parse_address
from nxthdr.core.progress import Progress


def iter_messages(data: bytes):
    """BMP messages of a recording, by their common header; stops at a broken or partial header."""
    pos, n = 0, len(data)
    while pos + 6 <= n:
        version, length = data[pos], struct.unpack_from(">I", data, pos + 1)[0]
        if version != 3 or length < 6 or pos + length > n:
            break
        yield data[pos:pos + length]
        pos += length


def replay(path: str, to: str, *, rate: float = 0.0, hold: bool = False, quiet: bool = False,
           chunk: int = 256 * 1024) -> int:
    with open(path, "rb") as f:
        data = f.read()
    host, port = parse_address(to, "127.0.0.1")
    messages = list(iter_messages(data))
    covered = sum(len(m) for m in messages)
    if covered != len(data):
        print(f"risotto replay: warning: {len(data) - covered} trailing bytes are not a whole BMP message "
              "and are not sent", file=sys.stderr)
    sock = socket.create_connection((host, port), timeout=10)
    sock.settimeout(None)
    progress = Progress(len(messages), f"replay {os.path.basename(path)}", "msgs",
                        stream=open(os.devnull, "w") if quiet else None)
    try:
        if rate <= 0:
            # As fast as the collector reads: send in large chunks.
            buf, sent = [], 0
            for m in messages:
                buf.append(m)
                sent += len(m)
                if sent >= chunk:
                    sock.sendall(b"".join(buf))
                    progress.update(len(buf))
                    buf, sent = [], 0
            if buf:
                sock.sendall(b"".join(buf))
                progress.update(len(buf))
        else:
            start = time.monotonic()
            for i, m in enumerate(messages):
                due = start + i / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                sock.sendall(m)
                progress.update()
        progress.close(bytes=covered)
        if hold:
            print("risotto replay: holding the session open, Ctrl-C to close", file=sys.stderr)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        sock.shutdown(socket.SHUT_WR)
        # Wait for the collector to close or a short grace period, so it has read everything.
        sock.settimeout(2.0)
        try:
            while sock.recv(4096):
                pass
        except (socket.timeout, OSError):
            pass
    finally:
        sock.close()
    return len(messages)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="risotto replay", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="recorded BMP stream (raw messages back to back)")
    p.add_argument("--to", default="127.0.0.1:4000", help="collector address host:port (default: 127.0.0.1:4000)")
    p.add_argument("--rate", type=float, default=0.0, help="messages per second (default: as fast as possible)")
    p.add_argument("--hold", action="store_true", help="keep the session open after the last message")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    try:
        n = replay(args.file, args.to, rate=args.rate, hold=args.hold, quiet=args.quiet)
    except (OSError, ValueError) as e:
        print(f"risotto replay: {e}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"sent {n} BMP messages", file=sys.stderr)
    return 0
