"""From the `nxthdr clickhouse migrate` configuration (schemas/clickhouse.config.schema.json)
to the wanted objects of each enabled database."""

from __future__ import annotations

from typing import Mapping

from nxthdr.clickhouse.tables import DATABASES, DatabaseObjects, KafkaParams, objects
from nxthdr.core.config import read_secret

SCHEMA_NAME = "clickhouse"
ENV_PREFIX = "NXTHDR"


def kafka_extra_settings(kafka: Mapping) -> dict[str, str]:
    """Kafka engine settings for an authenticated broker (none for PLAINTEXT, like the reference)."""
    protocol = kafka.get("auth_protocol", "PLAINTEXT")
    if protocol == "PLAINTEXT":
        return {}
    out = {"kafka_security_protocol": protocol.lower()}
    if protocol.startswith("SASL_"):
        out["kafka_sasl_mechanism"] = kafka["auth_sasl_mechanism"]
        out["kafka_sasl_username"] = kafka["auth_sasl_username"]
        out["kafka_sasl_password"] = read_secret(kafka.get("auth_sasl_password"),
                                                 kafka.get("auth_sasl_password_file"),
                                                 "kafka.auth_sasl_password") or ""
    return out


def wanted(cfg: Mapping, *, input: str = "kafka") -> list[DatabaseObjects]:
    """The objects of every enabled database, rendered with the configured settings."""
    extra = kafka_extra_settings(cfg["kafka"])
    prefix = cfg["clickhouse"].get("database_prefix", "")
    out = []
    for name in DATABASES:
        section = cfg[name]
        if not section.get("enabled", True):
            continue
        params = KafkaParams(brokers=cfg["kafka"]["brokers"], topic=section["topic"],
                             consumer_group=section["consumer_group"], format_schema=section["format_schema"],
                             num_consumers=section["num_consumers"], extra_settings=extra)
        out.append(objects(name, database=prefix + name, kafka=params,
                           retention_days=section["retention_days"], input=input))
    return out


def password(cfg: Mapping) -> str:
    ch = cfg["clickhouse"]
    return read_secret(ch.get("password"), ch.get("password_file"), "clickhouse.password") or ""
