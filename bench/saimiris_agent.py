"""How fast one agent process sends, how well it holds its rate, and how many replies it parses.

Run as root from the repository root: `python3 bench/saimiris_agent.py [--rates 10000,50000] [--runs 3]`.

Two namespaces joined by a veth: the agent side runs the agent's own sending
and capture code (InstanceSender, RawSockets, Capture: the hot paths; the
Kafka consumer only hands them a decoded record) in a child process pinned to
one core; the target side answers every UDP probe with a port unreachable
(ICMP rate limit off). Figures, medians over the runs:

* sent pps: packets the agent's counter says it sent / wall time of the job;
* received pps: the target interface's rx_packets delta / the same time (what
  really left the agent), and its error against the configured rate;
* replies pps: replies the capture parsed, encoded and handed on / time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def inner(rate: int, seconds: float, method: str, interface: str) -> None:
    """In the agent namespace: send `rate` pps for `seconds`, capture replies, print JSON figures."""
    from nxthdr.core.addr import V4_MAPPED
    from nxthdr.core.metrics import Metrics
    from nxthdr.saimiris.agent import config as agent_config
    from nxthdr.saimiris.agent.capture import Capture, CaptureCounters
    from nxthdr.saimiris.agent.instances import InstanceTable
    from nxthdr.saimiris.agent.sender import InstanceSender, Job, RawSockets, SenderCounters
    from nxthdr.saimiris.probe import Probe, ip16
    from tests.support.configs import program_config

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cfg = program_config(agent_config.SCHEMA, {"agent": {"id": "bench"}, "caracat": [
        {"name": "bench", "interface": interface, "probing_rate": rate, "rate_limiting_method": method}]}, {})
    (inst,) = agent_config.instances(cfg)
    table = InstanceTable([inst], {"bench": (V4_MAPPED + bytes([10, 9, 0, 1]), None)})
    metrics = Metrics("bench")
    counters = SenderCounters(metrics)
    sockets = RawSockets()
    replies = [0]

    def deliver(msgs):
        replies[0] += len(msgs)

    capture = Capture(interface, table, "bench", CaptureCounters(metrics), deliver)
    n = int(rate * seconds)
    probes = [Probe(ip16("10.9.0.2"), 1024 + i % 60000, 33434, 1 + i % 30 + 2, "udp") for i in range(n)]

    async def go():
        sockets.open()
        await capture.start()
        sender = InstanceSender(inst, sockets, metrics, counters, lambda mid: False)
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        await sender.start()
        t0 = time.monotonic()
        sender.submit(Job("bench", probes, table.select("10.9.0.1"), True,
                          lambda job: loop.call_soon_threadsafe(done.set_result, time.monotonic())))
        t1 = await done
        await asyncio.sleep(0.5)
        await sender.stop()
        await capture.stop()
        sockets.close()
        return t1 - t0

    elapsed = asyncio.run(go())
    print(json.dumps({"elapsed": elapsed, "sent": counters.sent.get(()), "failed": counters.failed.get(()),
                      "replies": replies[0]}))


def rx_packets(ns: str, interface: str) -> int:
    out = subprocess.run(["ip", "netns", "exec", ns, "cat", f"/sys/class/net/{interface}/statistics/rx_packets"],
                         capture_output=True, text=True, check=True)
    return int(out.stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", default="10000,50000")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--method", default="auto", choices=["auto", "active", "sleep", "none"])
    p.add_argument("--inner", nargs=2, metavar=("RATE", "INTERFACE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.inner:
        inner(int(args.inner[0]), args.seconds, args.method, args.inner[1])
        return
    from tests.support.netns import Topology

    with Topology(prefix="smb") as topo:
        agent, target = topo.add("agent"), topo.add("target")
        a_if, t_if = topo.link(agent, ["10.9.0.1/24"], target, ["10.9.0.2/24"])
        for ns in (agent, target):
            ns.run("sysctl", "-qw", "net.ipv4.icmp_ratelimit=0", check=False)
            ns.run("sysctl", "-qw", "net.ipv4.icmp_msgs_per_sec=10000000", check=False)
            ns.run("sysctl", "-qw", "net.ipv4.icmp_msgs_burst=10000000", check=False)
        agent.run("ping", "-c", "1", "10.9.0.2", check=False)
        print(f"{'rate':>8} {'method':>7} {'sent pps':>10} {'received pps':>13} {'error':>7} {'replies pps':>12}")
        for rate in [int(r) for r in args.rates.split(",")]:
            runs = []
            for _ in range(args.runs):
                before = rx_packets(target.name, t_if)
                out = subprocess.run(agent.cmd(sys.executable, str(Path(__file__).resolve()), "--inner", str(rate),
                                               a_if, "--seconds", str(args.seconds), "--method", args.method),
                                     capture_output=True, text=True, cwd=ROOT)
                if out.returncode != 0:
                    raise SystemExit(out.stderr)
                r = json.loads(out.stdout.strip().splitlines()[-1])
                received = rx_packets(target.name, t_if) - before
                runs.append((r["sent"] / r["elapsed"], received / r["elapsed"], r["replies"] / r["elapsed"]))
            sent, recv, rep = (statistics.median(x) for x in zip(*runs))
            print(f"{rate:>8} {args.method:>7} {sent:>10.0f} {recv:>13.0f} {100 * (recv - rate) / rate:>+6.1f}% "
                  f"{rep:>12.0f}")


if __name__ == "__main__":
    main()
