"""Wiring of the sFlow collector's components from a validated configuration."""

from __future__ import annotations

from nxthdr.core.component import Supervisor
from nxthdr.core.metrics import Metrics, MetricsServer
from nxthdr.core.sinks import Sink
from nxthdr.pesto.listener import SFlowSockets
from nxthdr.pesto.worker import Unit, WorkerPool


class Pesto:
    """The collector: components in start order, plus handles tests use.

    With one worker the main process decodes (`self.unit`); with more, worker
    processes do (`self.pool`) and `extra_sinks` (in-memory sinks of tests)
    cannot be used, as they would live in another process.
    """

    def __init__(self, cfg: dict, sinks: list[Sink] | None = None) -> None:
        self.cfg = cfg
        self.metrics = Metrics("pesto")
        sf = cfg["sflow"]
        self.listener = SFlowSockets(sf["address"], self.metrics, count=sf["workers"],
                                     receive_buffer=sf["receive_buffer"])
        self.metrics_server = MetricsServer(self.metrics, cfg["metrics"]["address"])
        self.unit = self.pool = None
        if sf["workers"] == 1:
            self.unit = Unit(cfg, self.listener.socks, self.metrics, extra_sinks=sinks)
            workers = self.unit.components
        else:
            if sinks:
                raise ValueError("in-process sinks need sflow.workers = 1")
            self.pool = WorkerPool(cfg, self.listener, self.metrics)
            workers = [self.pool]
        self.metrics.add_health("sflow-listener", lambda: (self.listener.bound_port is not None and bool(
            self.listener.socks), f"UDP port {self.listener.bound_port}, {len(self.listener.socks)} sockets"))
        self.supervisor = Supervisor([self.metrics_server, self.listener, *workers])

    @property
    def processor(self):
        return self.unit.processor if self.unit else None

    async def run(self, install_signals: bool = True) -> None:
        await self.supervisor.run(install_signals)

    def stop(self) -> None:
        self.supervisor.request_stop()


def build(cfg: dict, sinks: list[Sink] | None = None) -> Pesto:
    return Pesto(cfg, sinks)
