"""Wiring of the agent's components from a validated configuration.

Start order: metrics endpoint, reply producer, raw sockets and captures (so
no reply to the first probe is missed), instance senders, probe consumer,
gateway client. Stop is the reverse: the gateway gets the last progress
reports, the consumer stops reading and commits what was sent, the senders
stop after their current batch, the captures linger a moment for late replies
and hand over what they hold, and the producer flushes it to Kafka.
"""

from __future__ import annotations

import asyncio
import logging

from nxthdr.core import logs
from nxthdr.core.addr import V4_MAPPED
from nxthdr.core.component import Supervisor
from nxthdr.core.config import ConfigError
from nxthdr.core.kafka import KafkaSink
from nxthdr.core.metrics import Metrics, MetricsServer
from nxthdr.saimiris.agent import config as agent_config
from nxthdr.saimiris.agent import netinfo
from nxthdr.saimiris.agent.capture import Capture, CaptureCounters
from nxthdr.saimiris.agent.consumer import ProbeConsumer
from nxthdr.saimiris.agent.gateway_client import GatewayClient
from nxthdr.saimiris.agent.instances import InstanceTable
from nxthdr.saimiris.agent.replies import ReplyOutput
from nxthdr.saimiris.agent.sender import InstanceSender, RawSockets, SenderCounters
from nxthdr.saimiris.agent.tracking import Measurements

log = logging.getLogger("nxthdr.saimiris.agent")


class SocketsComponent:
    name = "raw-sockets"

    def __init__(self, sockets: RawSockets) -> None:
        self.sockets = sockets

    async def start(self) -> None:
        self.sockets.open()

    async def stop(self) -> None:
        self.sockets.close()


class LoopBinding:
    """Gives the thread-side objects the running loop (they call back into it)."""

    name = "loop"

    def __init__(self, output: ReplyOutput) -> None:
        self.output = output

    async def start(self) -> None:
        self.output.bind(asyncio.get_running_loop())

    async def stop(self) -> None:
        pass


class Linger:
    """Placed after the captures in start order, so it runs just before they stop: late replies still come in."""

    name = "capture-linger"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        await asyncio.sleep(self.seconds)


def interface_addresses(instances) -> tuple[dict[str, str], dict[str, tuple[bytes | None, bytes | None]]]:
    """Each instance's interface (the default-route one when unset) and that interface's addresses."""
    names, addrs = {}, {}
    default = None
    for inst in instances:
        iface = inst.interface
        if not iface:
            default = default or netinfo.default_interface()
            iface = default
        netinfo.interface_index(iface)
        names[inst.name] = iface
        v4 = netinfo.ipv4_address(iface)
        v6 = netinfo.ipv6_address(iface)
        addrs[inst.name] = (V4_MAPPED + v4.packed if v4 else None, v6.packed if v6 else None)
    return names, addrs


def default_queue_limit(inst) -> int:
    return max(10 * inst.probing_rate // max(inst.packets, 1), 10 * inst.batch_size)


class Agent:
    def __init__(self, cfg: dict, linger: float = 1.0) -> None:
        problems = agent_config.check(cfg)
        if problems:
            raise ConfigError(problems)
        self.cfg = cfg
        self.agent_id = cfg["agent"]["id"]
        self.metrics = Metrics("saimiris", {"agent": self.agent_id})
        self.instances = agent_config.instances(cfg)
        self.interfaces, addresses = interface_addresses(self.instances)
        self.table = InstanceTable(self.instances, addresses)
        kafka = agent_config.kafka_settings(cfg)
        self.sink = KafkaSink(kafka, self.metrics, name="kafka-replies") if cfg["kafka"]["out_enable"] else None
        self.output = ReplyOutput(self.sink, self.metrics)
        self.sockets = RawSockets()
        self.sender_counters = SenderCounters(self.metrics)
        self.gateway = None
        gw = agent_config.gateway(cfg)
        if gw is not None:
            self.gateway = GatewayClient(gw, self.agent_id, self.instance_configs, self.health_summary, self.metrics,
                                         interval=cfg["agent"]["health_interval"])
        self.measurements = Measurements(self.gateway.report if self.gateway else None)
        self.senders = {inst.name: InstanceSender(inst, self.sockets, self.metrics, self.sender_counters,
                                                  self.measurements.is_cancelled) for inst in self.instances}
        size = cfg["agent"]["queue_size"]
        limits = {inst.name: size or default_queue_limit(inst) for inst in self.instances}
        self.metrics.callback_gauge("sender_queue_probes", "Probes waiting to be sent, by instance", ("instance",),
                                    lambda: [((n,), float(s.queued_probes)) for n, s in self.senders.items()])
        capture_counters = CaptureCounters(self.metrics)
        windows = {name: sender.window for name, sender in self.senders.items()}
        self.captures = [Capture(iface, self.table, self.agent_id, capture_counters, self.output.deliver,
                                 windows=windows)
                         for iface in sorted(set(self.interfaces.values()))]
        self.consumer = ProbeConsumer(kafka, agent_config.in_topics(cfg), agent_config.group_id(cfg), self.agent_id,
                                      self.table, self.senders, limits, self.measurements, self.sender_counters,
                                      self.metrics)
        self.metrics.add_health("raw-sockets", lambda: (self.sockets.v4 is not None, "open" if self.sockets.v4
                                                        else "closed"))
        self.metrics_server = MetricsServer(self.metrics, cfg["agent"]["metrics_address"])
        components = [self.metrics_server, LoopBinding(self.output)]
        if self.sink is not None:
            components.append(self.sink)
        components += [SocketsComponent(self.sockets), *self.captures, Linger(linger), *self.senders.values(),
                       self.consumer]
        if self.gateway is not None:
            components.append(self.gateway)
        self.supervisor = Supervisor(components)
        logs.event(log, logging.INFO, "agent configured", agent=self.agent_id,
                   instances=",".join(f"{i.name}@{self.interfaces[i.name]}" for i in self.instances))

    def instance_configs(self) -> list[dict]:
        return [inst.gateway_view(self.interfaces[inst.name]) for inst in self.instances]

    def health_summary(self) -> tuple[bool, str]:
        ok, checks = self.metrics.health()
        return ok, "; ".join(f"{name}: {c['detail']}" for name, c in checks.items())

    async def run(self, install_signals: bool = True) -> None:
        await self.supervisor.run(install_signals)

    def stop(self) -> None:
        self.supervisor.request_stop()


def build(cfg: dict) -> Agent:
    return Agent(cfg)
