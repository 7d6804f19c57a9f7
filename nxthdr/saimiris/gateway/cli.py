"""`saimiris gateway`: the measurement API."""

from __future__ import annotations

import argparse

from nxthdr.core import cli, config
from nxthdr.saimiris.gateway.db import DatabaseError, redact

SCHEMA = "saimiris-gateway"
ENV_PREFIX = "SAIMIRIS_GATEWAY"

DESCRIPTION = """Measurement gateway: users submit probes (OIDC bearer tokens), the gateway checks
them (IPv6 only, source inside the user's prefix, daily limit counted as probes x
agents) and publishes them to Kafka for the agents; agents register, report their
configuration, health and progress (shared agent key + their own X-Agent-Secret).

API on gateway.address (OpenAPI at /openapi.json); Prometheus /metrics and /health
on metrics.address. State in SQLite (default) or PostgreSQL, migrated at start.

Every setting can come from the YAML file (--config), an environment variable
(SAIMIRIS_GATEWAY_<SECTION>_<KEY>, shown with each flag) or a flag; flags win."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="saimiris gateway", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common(p)
    config.add_arguments(p, config.options(config.load_schema(SCHEMA), ENV_PREFIX))
    return p


def shown(cfg: dict) -> dict:
    """Besides passwords and keys: the credentials inside the database URL."""
    cfg["database"]["url"] = redact(cfg["database"]["url"])
    return cfg


def main(argv: list[str] | None = None) -> int:
    from nxthdr.saimiris.gateway.app import build, check

    return cli.run_service(parser(), argv, SCHEMA, ENV_PREFIX, build, check=check, shown=shown,
                           fatal=(OSError, DatabaseError))
