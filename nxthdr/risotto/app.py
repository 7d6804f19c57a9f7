"""Wiring of the BMP collector's components from a validated configuration."""

from __future__ import annotations

from nxthdr.core.component import Supervisor
from nxthdr.core.kafka import KafkaSettings, KafkaSink
from nxthdr.core.metrics import Metrics, MetricsServer
from nxthdr.core.sinks import FanOut, FileSink, Sink
from nxthdr.risotto.processor import Processor
from nxthdr.risotto.server import BmpServer, StateKeeper, Sweeper


class Risotto:
    """The collector: components in start order, plus handles tests use."""

    def __init__(self, cfg: dict, sinks: list[Sink] | None = None) -> None:
        self.cfg = cfg
        self.metrics = Metrics("risotto")
        k = cfg["kafka"]
        outputs: list[Sink] = list(sinks or [])
        if not k["disable"]:
            outputs.append(KafkaSink(KafkaSettings.from_config(k), self.metrics))
        if cfg.get("file_output"):
            outputs.append(FileSink(cfg["file_output"]))
        events = None
        if k["events_enable"] and not k["disable"]:
            events = KafkaSink(KafkaSettings.from_config(k, topic=k["events_topic"]), self.metrics, name="kafka-events")
        self.sink = FanOut(outputs)
        cur = cfg["curation"]
        self.processor = Processor(self.sink, self.metrics, curation=not cur["disable"], events_sink=events,
                                   key_mode=k["key"], stale_timeout=cur["stale_timeout"])
        self.metrics_server = MetricsServer(self.metrics, cfg["metrics"]["address"])
        bmp = cfg["bmp"]
        self.server = BmpServer(self.processor, bmp["address"], max_message_size=bmp["max_message_size"],
                                max_session_buffer=bmp["max_session_buffer"], max_sessions=bmp["max_sessions"],
                                message_timeout=bmp["message_timeout"], max_buffered=bmp["max_buffered"],
                                allow_file=bmp["allow_file"], allow=bmp["allow"], metrics=self.metrics)
        components = [self.metrics_server]
        self.state = None
        if not cur["disable"]:
            # Before the sinks: it stops after them, so its final dump knows what they delivered.
            self.state = StateKeeper(self.processor, cur["state_path"], cur["state_interval"], self.metrics)
            components.append(self.state)
        components += [self.sink] + ([events] if events else [])
        components += [self.server, Sweeper(self.processor, min(10.0, cur["stale_timeout"] / 4))]
        self.metrics.add_health("bmp-listener", lambda: (self.server.bound_port is not None,
                                                         f"{len(self.processor.sessions)} BMP sessions"))
        self.supervisor = Supervisor(components)

    async def run(self, install_signals: bool = True) -> None:
        await self.supervisor.run(install_signals)

    def stop(self) -> None:
        self.supervisor.request_stop()


def build(cfg: dict, sinks: list[Sink] | None = None) -> Risotto:
    return Risotto(cfg, sinks)
