"""Wiring of the appliance: risotto and pesto (their own app builders), the
embedded store with one sink per pipeline, the Kafka consumers (one per
consumed pipeline, the stand-in for ClickHouse's Kafka tables), one metrics
endpoint and the query endpoint, under one supervisor.

Start order (stop is the reverse): store, query endpoint, endpoint file,
metrics, risotto's components, pesto's components, the consumers (each after
its sink). So at SIGTERM the consumers finish their poll and commit, the
listeners stop, the collectors' sinks flush into the store, risotto writes its
state, and the store closes last.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from pathlib import Path

from prometheus_client import generate_latest

from nxthdr.core import config, logs
from nxthdr.core.component import Supervisor
from nxthdr.core.kafka import KafkaSettings
from nxthdr.core.metrics import Metrics, MetricsServer
from nxthdr.appliance.consumer import TopicConsumer
from nxthdr.pesto.app import Pesto
from nxthdr.risotto.app import Risotto
from nxthdr.storage.endpoint import QueryServer
from nxthdr.storage.sink import StoreSink
from nxthdr.storage.store import Store, remove_endpoint, write_endpoint

log = logging.getLogger("nxthdr.appliance")

# Pipeline → the kafka.* key of its topic (collectors produce to it, its consumer reads it).
TOPIC_KEYS = {"bmp": "updates_topic", "flows": "flows_topic", "saimiris": "replies_topic"}


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


def consumed(a: dict) -> dict[str, str]:
    """Pipeline → consumer group of every enabled consumer (`replies.*` is the old name of consume.saimiris)."""
    out = {p: c["group"] for p, c in a["consume"].items() if c["enable"]}
    if a["replies"]["enable"]:
        if "saimiris" in out:
            raise ValueError("replies.enable is the deprecated name of consume.saimiris.enable: set only "
                             "consume.saimiris.*")
        logs.event(log, logging.WARNING, "replies.enable and replies.group are deprecated: use "
                   "consume.saimiris.enable and consume.saimiris.group", group=a["replies"]["group"])
        out["saimiris"] = a["replies"]["group"]
    return out


def kafka_settings(a: dict, topic: str) -> KafkaSettings:
    k = a["kafka"]
    return KafkaSettings(
        brokers=k["brokers"], topic=topic, auth_protocol=k["auth_protocol"], sasl_username=k["auth_sasl_username"],
        sasl_mechanism=k["auth_sasl_mechanism"],
        sasl_password=config.read_secret(k["auth_sasl_password"], k["auth_sasl_password_file"],
                                         "kafka.auth_sasl_password") or "",
        ssl_cafile=k["ssl_ca_file"])


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
        consume = consumed(cfg)
        if consume and not self.embedded:
            raise ValueError(f"consume.{next(iter(consume))}.enable needs the embedded store (storage.mode "
                             "embedded or both); with a ClickHouse server its Kafka tables read the topics")

        def store_sinks(pipeline: str) -> list[StoreSink] | None:
            # In `both` mode a consumed pipeline's collector produces to Kafka only: its rows reach
            # the store through the topic, as on a server, and never twice.
            if not self.embedded or (st["mode"] == "both" and pipeline in consume):
                return None
            return [self.sinks[pipeline]]

        parts = [self.metrics]
        self.risotto = self.pesto = None
        collector_components: list = []
        if cfg["bmp"]["enable"]:
            self.risotto = Risotto(risotto_config(cfg), sinks=store_sinks("bmp"))
            parts.append(self.risotto.metrics)
            collector_components += [c for c in self.risotto.supervisor.components
                                     if c is not self.risotto.metrics_server]
        if cfg["sflow"]["enable"]:
            self.pesto = Pesto(pesto_config(cfg), sinks=store_sinks("flows"))
            parts.append(self.pesto.metrics)
            collector_components += [c for c in self.pesto.supervisor.components if c is not self.pesto.metrics_server]
        self.merged_metrics = MergedMetrics(parts)
        self.metrics_server = MetricsServer(self.merged_metrics, cfg["metrics"]["address"])  # type: ignore[arg-type]
        components.append(self.metrics_server)
        components += collector_components
        self.consumers: dict[str, TopicConsumer] = {}
        for pipeline, group in consume.items():
            topic = cfg["kafka"][TOPIC_KEYS[pipeline]]
            self.consumers[pipeline] = TopicConsumer(pipeline, kafka_settings(cfg, topic), group,
                                                     self.sinks[pipeline], self.metrics)
            # The sink starts before its consumer (starting a sink a collector also uses is a no-op).
            components += [self.sinks[pipeline], self.consumers[pipeline]]
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
