"""The agent's settings as typed objects, and the checks the JSON schema cannot express."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from nxthdr.core.config import ConfigError, load_schema, read_secret
from nxthdr.core.kafka import KafkaSettings

SCHEMA = "saimiris-agent"
ENV_PREFIX = "SAIMIRIS_AGENT"
RATE_LIMITING_METHODS = ("auto", "active", "sleep", "none")


@dataclass(frozen=True)
class InstanceConfig:
    """One prober instance (`caracat` list item), defaults filled in."""

    index: int
    name: str
    batch_size: int
    instance_id: int
    dry_run: bool
    min_ttl: int | None
    max_ttl: int | None
    integrity_check: bool
    interface: str | None
    src_ipv4_prefix: ipaddress.IPv4Network | None
    src_ipv6_prefix: ipaddress.IPv6Network | None
    packets: int
    probing_rate: int
    rate_limiting_method: str

    @property
    def has_prefixes(self) -> bool:
        return self.src_ipv4_prefix is not None or self.src_ipv6_prefix is not None

    def gateway_view(self, interface: str) -> dict:
        """The instance as the gateway's InstanceConfig (POST /agent-api/agent/{id}/config)."""
        return {
            "name": self.name, "batch_size": self.batch_size, "instance_id": self.instance_id,
            "dry_run": self.dry_run, "min_ttl": self.min_ttl, "max_ttl": self.max_ttl,
            "integrity_check": self.integrity_check, "interface": interface,
            "src_ipv4_prefix": str(self.src_ipv4_prefix) if self.src_ipv4_prefix else None,
            "src_ipv6_prefix": str(self.src_ipv6_prefix) if self.src_ipv6_prefix else None,
            "packets": self.packets, "probing_rate": self.probing_rate,
            "rate_limiting_method": self.rate_limiting_method,
        }


def _instance_defaults() -> dict:
    props = load_schema(SCHEMA)["properties"]["caracat"]["items"]["properties"]
    return {k: p.get("default") for k, p in props.items()}


def instances(cfg: dict) -> list[InstanceConfig]:
    """Typed instances; raises ConfigError listing every problem."""
    raw = cfg["caracat"] or [{}]
    defaults = _instance_defaults()
    out, problems, names = [], [], set()
    for i, item in enumerate(raw):
        where = f"caracat.{i}"
        v = {**defaults, **item}
        nets = {}
        for key, version in (("src_ipv4_prefix", 4), ("src_ipv6_prefix", 6)):
            text = v[key]
            nets[key] = None
            if text is None:
                continue
            try:
                net = ipaddress.ip_network(text, strict=True)
            except ValueError as e:
                problems.append(f"{where}.{key}: {e}")
                continue
            if net.version != version:
                problems.append(f"{where}.{key}: not an IPv{version} prefix: {text}")
                continue
            nets[key] = net
        if v["min_ttl"] is not None and v["max_ttl"] is not None and v["min_ttl"] > v["max_ttl"]:
            problems.append(f"{where}: min_ttl ({v['min_ttl']}) is above max_ttl ({v['max_ttl']})")
        name = v["name"] or f"instance-{i}"
        if name in names:
            problems.append(f"{where}.name: {name!r} is used by another instance")
        names.add(name)
        out.append(InstanceConfig(
            index=i, name=name, batch_size=v["batch_size"], instance_id=v["instance_id"], dry_run=v["dry_run"],
            min_ttl=v["min_ttl"], max_ttl=v["max_ttl"], integrity_check=v["integrity_check"],
            interface=v["interface"], src_ipv4_prefix=nets["src_ipv4_prefix"],
            src_ipv6_prefix=nets["src_ipv6_prefix"], packets=v["packets"], probing_rate=v["probing_rate"],
            rate_limiting_method=v["rate_limiting_method"]))
    # Two instances claiming overlapping prefixes would make the choice depend on their order.
    for key in ("src_ipv4_prefix", "src_ipv6_prefix"):
        seen: list[tuple[str, ipaddress._BaseNetwork]] = []
        for inst in out:
            net = getattr(inst, key)
            if net is None:
                continue
            for other, onet in seen:
                if net.overlaps(onet):
                    problems.append(f"caracat.{inst.index}.{key}: {net} overlaps {onet} of instance {other!r}")
            seen.append((inst.name, net))
    if problems:
        raise ConfigError(problems)
    return out


@dataclass(frozen=True)
class GatewaySettings:
    url: str
    agent_key: str
    agent_secret: str
    timeout: float


def gateway(cfg: dict) -> GatewaySettings | None:
    g = cfg["gateway"]
    if not g["url"]:
        return None
    key = read_secret(g["agent_key"], g["agent_key_file"], "gateway.agent_key")
    secret = read_secret(g["agent_secret"], g["agent_secret_file"], "gateway.agent_secret")
    problems = []
    if not key:
        problems.append("gateway.agent_key_file: required when gateway.url is set")
    if not secret:
        problems.append("gateway.agent_secret_file: required when gateway.url is set")
    if problems:
        raise ConfigError(problems)
    return GatewaySettings(g["url"].rstrip("/"), key, secret, float(g["timeout"]))


def kafka_settings(cfg: dict) -> KafkaSettings:
    """Connection settings shared by the probe consumer and the reply producer."""
    k = cfg["kafka"]
    return KafkaSettings(
        brokers=k["brokers"], topic=k["out_topic"], auth_protocol=k["auth_protocol"],
        sasl_username=k["auth_sasl_username"],
        sasl_password=read_secret(k["auth_sasl_password"], k["auth_sasl_password_file"],
                                  "kafka.auth_sasl_password") or "",
        sasl_mechanism=k["auth_sasl_mechanism"], ssl_cafile=k["ssl_ca_file"], ssl_certfile=k["ssl_cert_file"],
        ssl_keyfile=k["ssl_key_file"], message_max_bytes=k["message_max_bytes"],
        batch_wait_time_ms=k["out_batch_wait_time"], batch_wait_interval_ms=k["out_batch_wait_interval"])


def in_topics(cfg: dict) -> list[str]:
    return [t.strip() for t in cfg["kafka"]["in_topics"].split(",") if t.strip()]


def group_id(cfg: dict) -> str:
    return cfg["kafka"]["in_group_id"] or f"saimiris-agent-{cfg['agent']['id']}"


def check(cfg: dict) -> list[str]:
    """Every problem the schema cannot see (cross-field, files, prefixes)."""
    problems = []
    if not cfg["agent"]["id"]:
        problems.append("agent.id: required (the header key this agent acts on)")
    if not in_topics(cfg):
        problems.append("kafka.in_topics: at least one topic")
    for part in (instances, gateway, kafka_settings):
        try:
            part(cfg)
        except ConfigError as e:
            problems.extend(e.problems)
    return problems
