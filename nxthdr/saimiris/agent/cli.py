"""`saimiris agent` (also `nxthdr saimiris agent`): the probing agent."""

from __future__ import annotations

import argparse

from nxthdr.core import cli, config
from nxthdr.saimiris.agent.config import ENV_PREFIX, SCHEMA

DESCRIPTION = """Probing agent: reads probes from Kafka (its own consumer group; only records
carrying a header whose key is agent.id), sends them from raw sockets at each
instance's rate, captures the ICMP replies (AF_PACKET, kernel timestamps) and
produces Reply records to Kafka. Reports to the gateway when gateway.url is set.

Needs CAP_NET_RAW (raw sockets and packet capture), nothing else.

The prober instances (`caracat:` list) come from the YAML file (--config);
every other setting can also come from an environment variable
(SAIMIRIS_AGENT_<SECTION>_<KEY>, shown with each flag) or a flag; flags win."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="saimiris agent", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common(p)
    config.add_arguments(p, config.options(config.load_schema(SCHEMA), ENV_PREFIX))
    return p


def main(argv: list[str] | None = None) -> int:
    from nxthdr.saimiris.agent import config as agent_config

    def build(cfg: dict):
        from nxthdr.saimiris.agent.app import build

        return build(cfg)

    return cli.run_service(parser(), argv, SCHEMA, ENV_PREFIX, build, check=agent_config.check)
