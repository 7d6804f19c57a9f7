"""Wiring of the appliance: risotto and pesto (their own app builders), the
embedded store with one sink per pipeline, the reply consumer, one metrics
endpoint and the query endpoint, under one supervisor.

Start order (stop is the reverse): store, query endpoint, endpoint file,
metrics, risotto's components, pesto's components, reply consumer. So at
SIGTERM the listeners stop first, the collectors' sinks flush into the store,
risotto writes its state, and the store closes last.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path

from prometheus_client import generate_latest

from nxthdr.core import config
from nxthdr.core.component import Supervisor
from nxthdr.core.kafka import KafkaSettings
from nxthdr.core.metrics import Metrics, MetricsServer
from nxthdr.pesto.app import Pesto
from nxthdr.risotto.app import Risotto
from nxthdr.storage.endpoint import QueryServer
from nxthdr.storage.sink import StoreSink
from nxthdr.storage.store import Store, remove_endpoint, write_endpoint


class MergedMetrics:
    """Several programs' registries behind one /metrics and /health (names never collide: each has its prefix)."""

    def __init__(self, parts: list[Metrics]) -> None:
        self.parts = parts

    def exposition(self) -> bytes:
        return b"".join(generate_latest(m.registry) for m in self.parts)

    def health(self) -> tuple[bool, dict]:
        ok, out = True, {}
        for m in self.parts:
            good, detail = m.health()
            ok &= good
            out.update({f"{m.namespace}:{k}": v for k, v in detail.items()})
        return ok, out


class StoreComponent:
    name = "store"

    def __init__(self, store: Store) -> None:
        self.store = store

    async def start(self) -> None:
        await asyncio.to_thread(self.store.open)

    async def stop(self) -> None:
        await asyncio.to_thread(self.store.close)


class EndpointFile:
    """Tells `nxthdr query --data-dir` where the running appliance answers."""

    name = "endpoint-file"

    def __init__(self, data_dir: Path, server: QueryServer) -> None:
        self.data_dir, self.server = data_dir, server

    async def start(self) -> None:
        host = self.server.host if self.server.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        write_endpoint(self.data_dir, f"http://{host}:{self.server.bound_port}/")

    async def stop(self) -> None:
        remove_endpoint(self.data_dir)


def _kafka_section(base: dict, a: dict, topic: str, disable: bool) -> dict:
    k = base["kafka"]
    ak = a["kafka"]
    k.update(brokers=ak["brokers"], topic=topic, disable=disable, auth_protocol=ak["auth_protocol"],
             auth_sasl_username=ak["auth_sasl_username"], auth_sasl_password=ak["auth_sasl_password"],
             auth_sasl_password_file=ak["auth_sasl_password_file"], auth_sasl_mechanism=ak["auth_sasl_mechanism"],
             ssl_ca_file=ak["ssl_ca_file"], message_max_bytes=ak["message_max_bytes"],
             batch_wait_time=ak["batch_wait_time"], mpsc_buffer_size=ak["mpsc_buffer_size"])
    return base


def risotto_config(a: dict) -> dict:
    cfg = copy.deepcopy(config.defaults(config.load_schema("risotto")))
    cfg["bmp"]["address"] = a["bmp"]["address"]
    _kafka_section(cfg, a, a["kafka"]["updates_topic"], a["storage"]["mode"] == "embedded")
    cur = a["curation"]
    cfg["curation"].update(disable=cur["disable"], state_interval=cur["state_interval"],
                           stale_timeout=cur["stale_timeout"],
                           state_path=cur["state_path"] or str(Path(a["storage"]["data_dir"]) / "risotto-state.bin"))
    cfg["log"] = dict(a["log"])
    config.validate(config.load_schema("risotto"), cfg)
    return cfg


def pesto_config(a: dict) -> dict:
    cfg = copy.deepcopy(config.defaults(config.load_schema("pesto")))
    cfg["sflow"].update(address=a["sflow"]["address"], workers=1, receive_buffer=a["sflow"]["receive_buffer"])
    _kafka_section(cfg, a, a["kafka"]["flows_topic"], a["storage"]["mode"] == "embedded")
    cfg["log"] = dict(a["log"])
    config.validate(config.load_schema("pesto"), cfg)
    return cfg


class Appliance:
    def __init__(self, cfg: dict) -> None:
        self.cfg = cfg
        st = cfg["storage"]
        self.data_dir = Path(st["data_dir"])
        self.embedded = st["mode"] in ("embedded", "both")
        self.metrics = Metrics("appliance")
        components: list = []
        self.store = self.query_server = None
        self.sinks: dict[str, StoreSink] = {}
        if self.embedded:
            self.store = Store(self.data_dir, retention_days=st["retention_days"])
            components.append(StoreComponent(self.store))
            for name in ("bmp", "flows", "saimiris"):
                self.sinks[name] = StoreSink(self.store, name, self.metrics, batch_rows=st["batch_rows"],
                                             flush_interval=st["flush_interval"] / 1000, max_buffer=st["max_buffer"])
            if cfg["query"]["enable"]:
                self.query_server = QueryServer(self.store, cfg["query"]["address"], self.metrics)
                components += [self.query_server, EndpointFile(self.data_dir, self.query_server)]
        parts = [self.metrics]
        self.risotto = self.pesto = None
        collector_components: list = []
        if cfg["bmp"]["enable"]:
            self.risotto = Risotto(risotto_config(cfg), sinks=[self.sinks["bmp"]] if self.embedded else None)
            parts.append(self.risotto.metrics)
            collector_components += [c for c in self.risotto.supervisor.components
                                     if c is not self.risotto.metrics_server]
        if cfg["sflow"]["enable"]:
            self.pesto = Pesto(pesto_config(cfg), sinks=[self.sinks["flows"]] if self.embedded else None)
            parts.append(self.pesto.metrics)
            collector_components += [c for c in self.pesto.supervisor.components if c is not self.pesto.metrics_server]
        self.merged_metrics = MergedMetrics(parts)
        self.metrics_server = MetricsServer(self.merged_metrics, cfg["metrics"]["address"])  # type: ignore[arg-type]
        components.append(self.metrics_server)
        components += collector_components
        self.replies = None
        if cfg["replies"]["enable"]:
            if not self.embedded:
                raise ValueError("replies.enable needs the embedded store (storage.mode embedded or both); "
                                 "with a ClickHouse server its Kafka table reads the replies topic")
            from nxthdr.appliance.replies import ReplyConsumer

            k = cfg["kafka"]
            settings = KafkaSettings(
                brokers=k["brokers"], topic=k["replies_topic"], auth_protocol=k["auth_protocol"],
                sasl_username=k["auth_sasl_username"], sasl_mechanism=k["auth_sasl_mechanism"],
                sasl_password=config.read_secret(k["auth_sasl_password"], k["auth_sasl_password_file"],
                                                 "kafka.auth_sasl_password") or "",
                ssl_cafile=k["ssl_ca_file"])
            self.replies = ReplyConsumer(settings, cfg["replies"]["group"], self.sinks["saimiris"], self.metrics)
            # The replies sink is started with the consumer (the collectors start their own sinks).
            components += [self.sinks["saimiris"], self.replies]
        self.supervisor = Supervisor(components)

    async def run(self, install_signals: bool = True) -> None:
        await self.supervisor.run(install_signals)

    def stop(self) -> None:
        self.supervisor.request_stop()

    @property
    def query_url(self) -> str | None:
        if self.query_server is None or self.query_server.bound_port is None:
            return None
        return f"http://127.0.0.1:{self.query_server.bound_port}/"


def build(cfg: dict) -> Appliance:
    return Appliance(cfg)
