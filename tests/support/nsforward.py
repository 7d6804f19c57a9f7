"""Reach a root-namespace loopback service (Kafka, the gateway) from inside a test namespace.

A program in a namespace cannot see the root namespace's 127.0.0.1, and Kafka
advertises 127.0.0.1:port in its metadata. `LoopbackForward(ns, port)` listens
on 127.0.0.1:port *inside* the namespace (the socket is created by a thread
that joined the namespace with setns(2); a socket stays in the namespace it was
created in) and relays every connection to 127.0.0.1:port of the root
namespace, so the same address works on both sides.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def socket_in_netns(ns_name: str, *args) -> socket.socket:
    """A socket created inside the named network namespace."""
    result: dict = {}

    def make() -> None:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{ns_name}", os.O_RDONLY)
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            try:
                result["sock"] = socket.socket(*args)
            finally:
                _libc.setns(own, CLONE_NEWNET)
        except Exception as e:
            result["error"] = e
        finally:
            os.close(own)
            os.close(target)

    t = threading.Thread(target=make)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["sock"]


class LoopbackForward:
    def __init__(self, ns_name: str, port: int) -> None:
        self.port = port
        self.listener = socket_in_netns(ns_name, socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(64)
        self._closed = False
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                inner, _ = self.listener.accept()
            except OSError:
                return
            try:
                outer = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                outer.settimeout(None)
            except OSError:
                inner.close()
                continue
            self._socks += [inner, outer]
            for a, b in ((inner, outer), (outer, inner)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        for s in self._socks:
            try:
                s.close()
            except OSError:
                pass
