"""The probing lab: agent — r1 — r2 — target in network namespaces, and agents run as real processes.

Addresses (namespaces are private, so fixed documentation-style ranges are fine):
agent–r1 10.0.1.0/24, fd00:1::/64; r1–r2 10.0.2.0/24, fd00:2::/64; r2–target
10.0.3.0/24, fd00:3::/64. 10.99.0.0/16 and fd00:99::/32 are probing prefixes
configured on no interface: r1 routes them back to the agent namespace, like
a provider routes an announced /48 to the probing host. The routers are plain
Linux forwarding (time exceeded from the address facing the agent), the
target answers UDP with port unreachable and ICMP with echo replies; ICMP rate
limits are off everywhere so every probe gets its reply.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from tests.services.kafka import free_port
from tests.support.netns import Namespace, Topology
from tests.support.nsforward import LoopbackForward, socket_in_netns
from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[3]

HOPS_V4 = ["10.0.1.1", "10.0.2.2", "10.0.3.2"]
HOPS_V6 = ["fd00:1::1", "fd00:2::2", "fd00:3::2"]
TARGET_V4, TARGET_V6 = "10.0.3.2", "fd00:3::2"
AGENT_V4, AGENT_V6 = "10.0.1.2", "fd00:1::2"


def _quiet_icmp(ns: Namespace) -> None:
    for key, value in (("net.ipv4.icmp_ratelimit", "0"), ("net.ipv6.icmp.ratelimit", "0"),
                       ("net.ipv4.icmp_msgs_per_sec", "100000"), ("net.ipv4.icmp_msgs_burst", "100000")):
        ns.run("sysctl", "-qw", f"{key}={value}", check=False)


class Lab:
    def __init__(self) -> None:
        self.topo = Topology(prefix="sm")
        t = self.topo
        self.agent, self.r1, self.r2, self.target = (t.add(n) for n in ("agent", "r1", "r2", "target"))
        for ns in (self.agent, self.r1, self.r2, self.target):
            _quiet_icmp(ns)
        for r in (self.r1, self.r2):
            r.sysctl("net.ipv4.ip_forward", "1")
            r.sysctl("net.ipv6.conf.all.forwarding", "1")
        self.agent_if, self.r1_agent_if = t.link(self.agent, ["10.0.1.2/24", "fd00:1::2/64"], self.r1, ["10.0.1.1/24", "fd00:1::1/64"])
        t.link(self.r1, ["10.0.2.1/24", "fd00:2::1/64"], self.r2, ["10.0.2.2/24", "fd00:2::2/64"])
        _, self.target_if = t.link(self.r2, ["10.0.3.1/24", "fd00:3::1/64"], self.target,
                                   ["10.0.3.2/24", "fd00:3::2/64"])
        routes = [
            (self.agent, "default via 10.0.1.1", "default via fd00:1::1"),
            (self.r2, "default via 10.0.2.1", "default via fd00:2::1"),
            (self.target, "default via 10.0.3.1", "default via fd00:3::1"),
        ]
        for ns, v4, v6 in routes:
            ns.run("ip", "route", "add", *v4.split())
            ns.run("ip", "-6", "route", "add", *v6.split())
        for args in (("10.0.3.0/24", "via", "10.0.2.2"), ("10.99.0.0/16", "via", "10.0.1.2")):
            self.r1.run("ip", "route", "add", *args)
        for args in (("fd00:3::/64", "via", "fd00:2::2"), ("fd00:99::/32", "via", "fd00:1::2")):
            self.r1.run("ip", "-6", "route", "add", *args)
        # Neighbour discovery before the tests: a first probe would otherwise wait for ARP/NDP and
        # its RTT would measure the resolution, not the path.
        for dst in (TARGET_V4, TARGET_V6):
            self.agent.run("ping", "-c", "1", "-W", "2", dst, check=False)
        self.forwards: list[LoopbackForward] = []
        self.agents: list[AgentProcess] = []

    def forward(self, port: int) -> None:
        self.forwards.append(LoopbackForward(self.agent.name, port))

    def close(self) -> None:
        for a in self.agents:
            a.stop()
        for f in self.forwards:
            f.close()
        self.topo.close()


def http_get_in(ns: Namespace, port: int, path: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET http://127.0.0.1:port/path inside a namespace (the agent's metrics endpoint)."""
    import socket

    s = socket_in_netns(ns.name, socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head else 0
    return status, body.decode()


def metric(text: str, name: str, **labels) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


class AgentProcess:
    """`python3 -m nxthdr saimiris agent -c FILE` inside the agent namespace."""

    def __init__(self, lab: Lab, cfg: dict) -> None:
        self.lab = lab
        self.metrics_port = free_port()
        cfg.setdefault("agent", {})["metrics_address"] = f"127.0.0.1:{self.metrics_port}"
        self.cfg = cfg
        self.dir = Path(tempfile.mkdtemp(prefix="saimiris-agent-"))
        self.config_path = self.dir / "agent.yaml"
        self.config_path.write_text(yaml.safe_dump(cfg))
        self.log_path = self.dir / "agent.log"
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(lab.agent.cmd(sys.executable, "-m", "nxthdr", "saimiris", "agent", "-c",
                                                   str(self.config_path)),
                                     cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        lab.agents.append(self)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def metrics(self) -> str:
        try:
            status, body = http_get_in(self.lab.agent, self.metrics_port, "/metrics")
        except OSError:
            return ""
        return body if status == 200 else ""

    def metric(self, name: str, **labels) -> float:
        return metric(self.metrics(), name, **labels)

    def wait_ready(self, timeout: float = 60.0) -> None:
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited with {self.proc.returncode}:\n{self.log()}")
            return self.metric("saimiris_consumer_assigned_partitions") >= 1

        wait_until(ready, timeout, "the agent to join its consumer group", interval=0.3, details=self.log)

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def agent_config(agent_id: str, brokers: str, in_topic: str, out_topic: str, instances: list[dict],
                 **sections) -> dict:
    cfg = {
        "agent": {"id": agent_id},
        "caracat": instances,
        "kafka": {"brokers": brokers, "in_topics": in_topic, "out_topic": out_topic, "out_batch_wait_time": 200,
                  "out_batch_wait_interval": 50},
    }
    for name, values in sections.items():
        cfg.setdefault(name, {}).update(values)
    return cfg


def create_topics(bootstrap: str, *topics: str) -> None:
    """Agents subscribe to existing topics only (consumers do not auto-create them)."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    async def go():
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(t, 1, 1) for t in topics])
        finally:
            await admin.close()

    asyncio.run(go())


def wait_for(condition, timeout, what, details=None):
    return wait_until(condition, timeout, what, interval=0.3, details=details)


__all__ = ["Lab", "AgentProcess", "agent_config", "create_topics", "metric", "http_get_in", "wait_for"]
