"""A real sFlow agent in network namespaces: pmacctd with the sfprobe plugin.

Topology: namespace `src` and namespace `sink` joined by one veth. pmacctd runs
in `sink`, captures the sink end of the veth (pcap) and exports sFlow v5 to a
UDP socket bound to the loopback of `sink`, so the export never crosses the
monitored link (it would otherwise sample its own datagrams).

Sockets are opened inside a namespace by switching the calling thread's network
namespace with setns(2) around socket creation: a socket stays in the namespace
it was created in, so the test process drives both ends without helper
processes. Used by the live test and by `record_fixtures.py`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.netns import Namespace, Topology, netns_available

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

SRC4, SINK4 = "10.77.0.1", "10.77.0.2"
SRC6, SINK6 = "fd77::1", "fd77::2"


def available() -> str | None:
    """None when a live agent can run here, else the reason it cannot."""
    if shutil.which("pmacctd") is None:
        return "pmacctd (pmacct) is not installed"
    if not netns_available():
        return "network namespaces need root and iproute2"
    return None


@contextlib.contextmanager
def in_netns(ns: Namespace):
    """Run the body with this thread in `ns` (for creating sockets there)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns.name}", os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns failed")
        try:
            yield
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back failed")
    finally:
        os.close(target)
        os.close(own)


def ns_socket(ns: Namespace, *args) -> socket.socket:
    with in_netns(ns):
        return socket.socket(*args)


def _mac(ns: Namespace, ifname: str) -> bytes:
    out = ns.run("cat", f"/sys/class/net/{ifname}/address").stdout.decode().strip()
    return bytes.fromhex(out.replace(":", ""))


@dataclass
class SfprobeLab:
    """Namespaces + pmacctd sfprobe + a collector socket. Use as a context manager."""

    sampling_rate: int = 1
    agent_ip: str = "192.0.2.77"
    agent_subid: int = 7
    topo: Topology = field(default_factory=lambda: Topology(prefix="sf"))
    workdir: Path | None = None
    proc: subprocess.Popen | None = None
    collector: socket.socket | None = None

    def __enter__(self) -> "SfprobeLab":
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        self.src = self.topo.add("src")
        self.sink = self.topo.add("sink")
        self.src_if, self.sink_if = self.topo.link(self.src, [SRC4 + "/24", SRC6 + "/64"],
                                                   self.sink, [SINK4 + "/24", SINK6 + "/64"])
        # Static neighbours: no ARP / NDP exchange interleaved with the traffic under test.
        self.src_mac, self.sink_mac = _mac(self.src, self.src_if), _mac(self.sink, self.sink_if)
        for ns, ifname, ip4, ip6, lladdr in ((self.src, self.src_if, SINK4, SINK6, self.sink_mac),
                                             (self.sink, self.sink_if, SRC4, SRC6, self.src_mac)):
            text = lladdr.hex(":")
            ns.run("ip", "neigh", "replace", ip4, "lladdr", text, "dev", ifname, "nud", "permanent")
            ns.run("ip", "-6", "neigh", "replace", ip6, "lladdr", text, "dev", ifname, "nud", "permanent")
        # Segmentation offloads would hand pcap super-frames larger than the MTU.
        for ns, ifname in ((self.src, self.src_if), (self.sink, self.sink_if)):
            ns.run("ethtool", "-K", ifname, "tso", "off", "gso", "off", "gro", "off", check=False)

        self.collector = ns_socket(self.sink, socket.AF_INET, socket.SOCK_DGRAM)
        self.collector.bind(("127.0.0.1", 0))
        port = self.collector.getsockname()[1]

        self.workdir = Path(tempfile.mkdtemp(prefix="sfprobe-"))
        conf = self.workdir / "pmacctd.conf"
        conf.write_text(
            "daemonize: false\n"
            "promisc: true\n"
            f"pcap_interface: {self.sink_if}\n"
            "plugins: sfprobe\n"
            f"sfprobe_receiver: 127.0.0.1:{port}\n"
            f"sfprobe_agentip: {self.agent_ip}\n"
            f"sfprobe_agentsubid: {self.agent_subid}\n"
            f"sampling_rate: {self.sampling_rate}\n"
        )
        self.log = self.workdir / "pmacctd.log"
        self.proc = self.sink.popen("pmacctd", "-f", str(conf), stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 10.0) -> None:
        """pmacctd needs a moment to open pcap; probe with pings until a datagram arrives."""
        deadline = time.monotonic() + timeout
        self.collector.settimeout(0.3)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("pmacctd exited: " + self.log.read_text(errors="replace"))
            self.src.run("ping", "-c1", "-W1", SINK4, check=False)
            try:
                self.collector.recv(65535)
                break
            except TimeoutError:
                continue
        else:
            raise RuntimeError("pmacctd sfprobe sent nothing: " + self.log.read_text(errors="replace"))
        self.drain(quiet=1.5)

    def drain(self, quiet: float = 1.5, total: float = 15.0) -> list[bytes]:
        """Datagrams received until none arrived for `quiet` seconds."""
        out: list[bytes] = []
        self.collector.settimeout(quiet)
        deadline = time.monotonic() + total
        while time.monotonic() < deadline:
            try:
                out.append(self.collector.recv(65535))
            except TimeoutError:
                break
        return out

    def inject(self, frames: list[bytes]) -> None:
        """Send raw Ethernet frames out of the src end of the veth (AF_PACKET)."""
        s = ns_socket(self.src, socket.AF_PACKET, socket.SOCK_RAW)
        try:
            s.bind((self.src_if, 0))
            for f in frames:
                s.send(f)
                time.sleep(0.02)
        finally:
            s.close()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.collector is not None:
            self.collector.close()
        self.topo.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
